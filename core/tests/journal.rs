//! Journaling as a wrapper: what `Journaled` promises a store and what a provider relies on.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use multiconvert_core::failover::Failover;
use multiconvert_core::journal::{is_journaled, record_handle, Journaled, SubmitJournal};
use multiconvert_core::{
    Capabilities, Conversion, ConversionProvider, Error, ErrorKind, Input, Job, JobHandle,
    JobRequest, JobStatus, Operation, PollPolicy, ProviderInfo, Result, WebhookEvent,
    WebhookRequest,
};

/// One log for journals and providers alike, so tests read the order things happened in.
type Log = Arc<Mutex<Vec<String>>>;

/// A provider that does what a vendor's does: learns the job's id, reports it, then starts the
/// job (unless told it cannot be reached: then it refuses before anything was sent).
#[derive(Debug)]
struct Vendor {
    info: ProviderInfo,
    log: Log,
    submits: AtomicUsize,
    unreachable: bool,
    /// Jobs a poll does not find (they never arrived).
    lost: Mutex<HashSet<String>>,
}

impl Vendor {
    fn new(name: &'static str, log: &Log) -> Arc<Vendor> {
        Arc::new(Vendor {
            info: ProviderInfo::new(
                name,
                Capabilities::new()
                    .with_remote_input(true)
                    .with_remote_service(true),
                PollPolicy::default(),
            ),
            log: log.clone(),
            submits: AtomicUsize::new(0),
            unreachable: false,
            lost: Mutex::default(),
        })
    }
}

#[async_trait]
impl ConversionProvider for Vendor {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }
    async fn submit(&self, _: &JobRequest) -> Result<JobHandle> {
        if self.unreachable {
            return Err(Error::new(
                ErrorKind::Transport,
                self.info.name.clone(),
                Operation::Submit,
                "connection refused",
            ));
        }
        let n = self.submits.fetch_add(1, Ordering::SeqCst);
        let handle = JobHandle::new(
            self.info.name.to_string(),
            format!("{}-{n}", self.info.name),
        );
        record_handle(&handle).await?;
        // Other submissions run here (a concurrent test interleaves them).
        tokio::task::yield_now().await;
        self.log
            .lock()
            .unwrap()
            .push(format!("start {} journaled={}", handle.id, is_journaled()));
        Ok(handle)
    }
    async fn poll(&self, handle: &JobHandle) -> Result<Job> {
        if self.lost.lock().unwrap().contains(&handle.id) {
            return Err(Error::new(
                ErrorKind::NotFound,
                self.info.name.clone(),
                Operation::Poll,
                "no such job",
            ));
        }
        Ok(Job::new(handle.clone(), JobStatus::Processing))
    }
    fn webhook(&self, _: &WebhookRequest) -> Result<WebhookEvent> {
        Err(Error::new(
            ErrorKind::WebhookRejected,
            self.info.name.clone(),
            Operation::Webhook,
            "no callbacks here",
        ))
    }
    async fn delete(&self, _: &JobHandle) -> Result<()> {
        Ok(())
    }
}

/// A journal that writes to the log, or refuses.
#[derive(Debug)]
struct Notes {
    log: Log,
    refuse: bool,
}

#[async_trait]
impl SubmitJournal for Notes {
    async fn record_handle(&self, handle: &JobHandle) -> Result<()> {
        if self.refuse {
            return Err(Error::new(
                ErrorKind::Io,
                "store",
                Operation::Other("access"),
                "disk full",
            ));
        }
        self.log
            .lock()
            .unwrap()
            .push(format!("journal {}", handle.id));
        Ok(())
    }
}

fn notes(log: &Log) -> Arc<Notes> {
    Arc::new(Notes {
        log: log.clone(),
        refuse: false,
    })
}

fn request() -> JobRequest {
    JobRequest::new(
        Input::remote("https://example.com/a.docx".parse().unwrap()),
        Conversion::to("pdf"),
    )
}

fn lines(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

#[tokio::test]
async fn a_journaled_submission_records_the_handle_before_the_job_starts() {
    let log = Log::default();
    let journaled = Journaled::new(Vendor::new("acme", &log), notes(&log));
    let handle = journaled.submit(&request()).await.unwrap();
    assert_eq!(handle.id, "acme-0");
    assert_eq!(
        lines(&log),
        ["journal acme-0", "start acme-0 journaled=true"]
    );
}

#[tokio::test]
async fn without_the_wrapper_nobody_listens() {
    let log = Log::default();
    let vendor = Vendor::new("acme", &log);
    vendor.submit(&request()).await.unwrap();
    assert_eq!(lines(&log), ["start acme-0 journaled=false"]);
    // Polls and deletes through the wrapper are not submissions: nothing is journaled.
    let journaled = Journaled::new(vendor, notes(&log));
    journaled
        .poll(&JobHandle::new("acme", "acme-0"))
        .await
        .unwrap();
    journaled
        .delete(&JobHandle::new("acme", "acme-0"))
        .await
        .unwrap();
    assert_eq!(lines(&log).len(), 1);
}

#[tokio::test]
async fn a_journal_that_refuses_stops_the_submission_before_the_job_starts() {
    let log = Log::default();
    let refusing = Arc::new(Notes {
        log: log.clone(),
        refuse: true,
    });
    let error = Journaled::new(Vendor::new("acme", &log), refusing)
        .submit(&request())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Io);
    assert!(lines(&log).is_empty(), "{:?}", lines(&log));
}

#[tokio::test]
async fn concurrent_submissions_each_reach_their_own_journal() {
    let log = Log::default();
    let vendor = Vendor::new("acme", &log);
    let journals: Vec<Log> = (0..20).map(|_| Log::default()).collect();
    let submissions = journals.iter().map(|journal| {
        let journaled = Journaled::new(vendor.clone(), notes(journal));
        async move { journaled.submit(&request()).await.unwrap() }
    });
    let handles = futures_util::future::join_all(submissions).await;
    for (journal, handle) in journals.iter().zip(&handles) {
        assert_eq!(lines(journal), [format!("journal {}", handle.id)]);
    }
    assert_eq!(lines(&log).len(), 20);
}

#[tokio::test]
async fn a_resume_that_submits_again_is_journaled() {
    let log = Log::default();
    let vendor = Vendor::new("acme", &log);
    vendor.lost.lock().unwrap().insert("acme-lost".into());
    let journaled = Journaled::new(vendor, notes(&log));
    let handle = journaled
        .resume(&JobHandle::new("acme", "acme-lost"), &request())
        .await
        .unwrap();
    assert_eq!(handle.id, "acme-0");
    assert_eq!(
        lines(&log),
        ["journal acme-0", "start acme-0 journaled=true"]
    );
}

#[tokio::test]
async fn around_a_failover_the_member_that_takes_the_job_reports_to_the_journal() {
    let log = Log::default();
    let down = Arc::new(Vendor {
        unreachable: true,
        ..Arc::into_inner(Vendor::new("down", &log)).unwrap()
    });
    let router = Failover::builder()
        .member(down)
        .member(Vendor::new("backup", &log))
        .build()
        .unwrap();
    let handle = Journaled::new(Arc::new(router), notes(&log))
        .submit(&request())
        .await
        .unwrap();
    assert_eq!(handle.id, "backup-0");
    assert_eq!(
        lines(&log),
        ["journal backup-0", "start backup-0 journaled=true"]
    );
}
