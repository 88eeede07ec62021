//! Waiting on a paused tokio clock: the schedule, the deadline, cancellation.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use multiconvert_core::{
    async_trait, Capabilities, Conversion, ConversionProvider, ErrorKind, Input, Job, JobHandle,
    JobRequest, JobStatus, PollPolicy, ProviderExt, ProviderInfo, Result, WebhookEvent,
    WebhookRequest,
};
use tokio::time::Instant;

/// A provider whose job finishes after `ready_after` polls, recording when each poll happened.
#[derive(Debug)]
struct Fake {
    info: ProviderInfo,
    polls: Mutex<Vec<Instant>>,
    ready_after: usize,
    end: JobStatus,
    submits: AtomicUsize,
}

impl Fake {
    fn new(ready_after: usize, end: JobStatus) -> Self {
        Fake {
            info: ProviderInfo::new("fake", Capabilities::new(), PollPolicy::default()),
            polls: Mutex::new(Vec::new()),
            ready_after,
            end,
            submits: AtomicUsize::new(0),
        }
    }
    fn gaps(&self) -> Vec<Duration> {
        let polls = self.polls.lock().unwrap();
        polls.windows(2).map(|w| w[1] - w[0]).collect()
    }
}

#[async_trait]
impl ConversionProvider for Fake {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }
    async fn submit(&self, _: &JobRequest) -> Result<JobHandle> {
        self.submits.fetch_add(1, Ordering::SeqCst);
        Ok(JobHandle::new("fake", "job-1"))
    }
    async fn poll(&self, handle: &JobHandle) -> Result<Job> {
        let mut polls = self.polls.lock().unwrap();
        polls.push(Instant::now());
        let status = if polls.len() > self.ready_after {
            self.end.clone()
        } else {
            JobStatus::Unknown("some-new-vendor-state".into())
        };
        let mut job = Job::new(handle.clone(), status);
        if job.status == JobStatus::Failed {
            job.messages
                .push(multiconvert_core::JobMessage::error("bad input").with_code("6037"));
        }
        Ok(job)
    }
    fn webhook(&self, _: &WebhookRequest) -> Result<WebhookEvent> {
        Ok(WebhookEvent::unverified("fake", "job-1"))
    }
    async fn delete(&self, _: &JobHandle) -> Result<()> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn the_schedule_grows_by_the_factor_up_to_the_cap() {
    let fake = Fake::new(7, JobStatus::Completed);
    let policy = PollPolicy::default().with_jitter(0.0);
    let job = fake
        .wait(&JobHandle::new("fake", "job-1"), &policy)
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    let expected = [1.0, 1.5, 2.25, 3.375, 5.0, 5.0, 5.0].map(Duration::from_secs_f64);
    assert_eq!(fake.gaps(), expected);
}

#[tokio::test(start_paused = true)]
async fn jitter_only_lengthens_intervals_by_at_most_its_fraction() {
    let fake = Fake::new(6, JobStatus::Completed);
    let policy = PollPolicy::default();
    fake.wait(&JobHandle::new("fake", "job-1"), &policy)
        .await
        .unwrap();
    let base: Vec<_> = policy.intervals().take(6).collect();
    for (gap, base) in fake.gaps().into_iter().zip(base) {
        assert!(
            gap >= base && gap <= base.mul_f64(1.25),
            "{gap:?} vs {base:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn the_deadline_ends_the_wait_with_the_last_status() {
    let fake = Fake::new(usize::MAX, JobStatus::Completed);
    let policy = PollPolicy::default().with_deadline(Duration::from_secs(12));
    let started = Instant::now();
    let error = fake
        .wait(&JobHandle::new("fake", "job-1"), &policy)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout);
    assert_eq!(
        error.last_status(),
        Some(&JobStatus::Unknown("some-new-vendor-state".into()))
    );
    assert_eq!(error.job_id(), Some("job-1"));
    assert!(!error.is_failover_eligible(), "the job exists: no failover");
    assert!(started.elapsed() <= Duration::from_secs(12));
    assert!(started.elapsed() >= Duration::from_secs(12) - Duration::from_millis(1));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_wait_cancels_it() {
    let fake = Arc::new(Fake::new(usize::MAX, JobStatus::Completed));
    let waiting = {
        let fake = fake.clone();
        tokio::spawn(async move {
            fake.wait(&JobHandle::new("fake", "job-1"), &PollPolicy::default())
                .await
        })
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    waiting.abort();
    let _ = waiting.await;
    let polls = fake.polls.lock().unwrap().len();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(fake.polls.lock().unwrap().len(), polls);
}

#[tokio::test(start_paused = true)]
async fn convert_turns_a_failed_job_into_an_error_with_the_vendor_message() {
    let fake = Fake::new(1, JobStatus::Failed);
    let request = JobRequest::new(
        Input::remote("https://example.com/a.png".parse().unwrap()),
        Conversion::to("jpg"),
    );
    let error = fake
        .convert(&request, &PollPolicy::default())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ConversionFailed);
    assert_eq!(error.message(), "bad input");
    assert_eq!(error.provider_code(), Some("6037"));
    assert_eq!(fake.submits.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn the_trait_object_gets_the_same_behaviour() {
    let provider: Arc<dyn ConversionProvider> = Arc::new(Fake::new(2, JobStatus::Completed));
    let job = provider
        .wait(&JobHandle::new("fake", "job-1"), &PollPolicy::default())
        .await
        .unwrap();
    assert!(job.status.is_terminal());
    let confirmed = provider
        .confirm(&WebhookEvent::unverified("fake", "job-1"))
        .await
        .unwrap();
    assert_eq!(confirmed.handle.id, "job-1");
}

/// Item: a wait that times out names the whole job, so it can be resumed from the error alone
/// (token and provider facts included, never printed).
#[tokio::test(start_paused = true)]
async fn a_timeout_carries_the_whole_handle_to_resume_with() {
    let fake = Fake::new(usize::MAX, JobStatus::Completed);
    let handle = JobHandle::new("fake", "job-1")
        .with_token("job-token-secret")
        .with_server("https://www13.example.com/v2/dl/web2")
        .with_meta("route", "legacy");
    let policy = PollPolicy::fixed(Duration::from_secs(1), Duration::from_secs(3));
    let e = fake.wait(&handle, &policy).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert_eq!(e.job(), Some(&handle));
    assert_eq!(e.job_id(), Some("job-1"));
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains("job-token-secret"), "{shown}");
    // Stored and read back, it resumes the wait.
    let stored = serde_json::to_string(e.job().unwrap()).unwrap();
    let resumed: JobHandle = serde_json::from_str(&stored).unwrap();
    assert_eq!(resumed, handle);
}

/// Item: `convert` of a job that fails names the job's handle too.
#[tokio::test(start_paused = true)]
async fn a_failed_conversion_carries_the_handle() {
    let fake = Fake::new(0, JobStatus::Failed);
    let request = JobRequest::new(Input::path("a.png"), Conversion::to("jpg"));
    let e = fake
        .convert(&request, &PollPolicy::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConversionFailed);
    assert_eq!(e.job().map(|h| h.id.as_str()), Some("job-1"));
}

/// A provider whose job ends `ends_after` after it was made, counting polls.
#[derive(Debug)]
struct Timed {
    info: ProviderInfo,
    made: Instant,
    ends_after: Duration,
    polls: AtomicUsize,
}

#[async_trait]
impl ConversionProvider for Timed {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }
    async fn submit(&self, _: &JobRequest) -> Result<JobHandle> {
        Ok(JobHandle::new("timed", "job-1"))
    }
    async fn poll(&self, handle: &JobHandle) -> Result<Job> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        let done = self.made.elapsed() >= self.ends_after;
        let status = if done {
            JobStatus::Completed
        } else {
            JobStatus::Processing
        };
        Ok(Job::new(handle.clone(), status))
    }
    fn webhook(&self, _: &WebhookRequest) -> Result<WebhookEvent> {
        Ok(WebhookEvent::unverified("timed", "job-1"))
    }
    async fn delete(&self, _: &JobHandle) -> Result<()> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_lateness_bound_notices_a_finished_job_within_its_share_of_the_job_time() {
    let policy = PollPolicy::default()
        .with_min_interval(Duration::from_millis(100))
        .with_lateness(Some(0.1));
    for secs in [1.0, 1.5, 3.0, 5.0, 15.0, 40.0, 60.0] {
        let ends_after = Duration::from_secs_f64(secs);
        let timed = Timed {
            info: ProviderInfo::new("timed", Capabilities::new(), policy),
            made: Instant::now(),
            ends_after,
            polls: AtomicUsize::new(0),
        };
        let job = timed
            .wait(&JobHandle::new("timed", "job-1"), &policy)
            .await
            .unwrap();
        assert_eq!(job.status, JobStatus::Completed);
        let late = timed.made.elapsed() - ends_after;
        assert!(
            late <= ends_after.mul_f64(0.1),
            "a {secs} s job noticed {late:?} late"
        );
        // The bound costs polls, but boundedly: ~10 in the first second, then ~1 per 10 % more.
        let polls = timed.polls.load(Ordering::SeqCst);
        assert!(
            polls <= 12 + (secs.ln() / 1.09f64.ln()) as usize,
            "{secs} s: {polls} polls"
        );
    }
    // Without the bound, the same 1.5 s job is noticed a second late (polls at 0, 1, 2.5 s).
    let plain = PollPolicy::default().with_jitter(0.0);
    let timed = Timed {
        info: ProviderInfo::new("timed", Capabilities::new(), plain),
        made: Instant::now(),
        ends_after: Duration::from_secs_f64(1.5),
        polls: AtomicUsize::new(0),
    };
    timed
        .wait(&JobHandle::new("timed", "job-1"), &plain)
        .await
        .unwrap();
    assert_eq!(timed.made.elapsed(), Duration::from_secs_f64(2.5));
}

/// A provider whose vendor can hold a request open until the job ends: `blocking` says what
/// that request answers; polls are counted.
#[derive(Debug)]
struct Blocking {
    info: ProviderInfo,
    blocking: fn() -> Result<JobStatus>,
    polls: AtomicUsize,
    waits: AtomicUsize,
}

#[async_trait]
impl ConversionProvider for Blocking {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }
    async fn submit(&self, _: &JobRequest) -> Result<JobHandle> {
        Ok(JobHandle::new("blocking", "job-1"))
    }
    async fn poll(&self, handle: &JobHandle) -> Result<Job> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        Ok(Job::new(handle.clone(), JobStatus::Completed))
    }
    async fn wait_blocking(&self, handle: &JobHandle, within: Duration) -> Option<Result<Job>> {
        assert_eq!(
            within,
            Duration::from_secs(300),
            "the whole deadline is offered"
        );
        self.waits.fetch_add(1, Ordering::SeqCst);
        Some((self.blocking)().map(|status| Job::new(handle.clone(), status)))
    }
    fn webhook(&self, _: &WebhookRequest) -> Result<WebhookEvent> {
        Ok(WebhookEvent::unverified("blocking", "job-1"))
    }
    async fn delete(&self, _: &JobHandle) -> Result<()> {
        Ok(())
    }
}

/// A blocking answer with the end needs no poll; a running job, a cut request or a throttled
/// one falls back to polling; an answer that the job is unknown ends the wait.
#[tokio::test(start_paused = true)]
async fn a_blocking_wait_answers_in_one_request_and_polling_takes_over_when_it_cannot() {
    use multiconvert_core::{Error, Operation};
    /// What the blocking request answers, the polls expected after it, the error expected.
    type Case = (fn() -> Result<JobStatus>, usize, Option<ErrorKind>);
    let cases: [Case; 5] = [
        (|| Ok(JobStatus::Completed), 0, None),
        (|| Ok(JobStatus::Processing), 1, None),
        (
            || {
                Err(Error::new(
                    ErrorKind::Transport,
                    "blocking",
                    Operation::Wait,
                    "cut",
                ))
            },
            1,
            None,
        ),
        (
            || {
                Err(Error::new(
                    ErrorKind::Timeout,
                    "blocking",
                    Operation::Wait,
                    "idle",
                ))
            },
            1,
            None,
        ),
        (
            || {
                Err(Error::new(
                    ErrorKind::NotFound,
                    "blocking",
                    Operation::Wait,
                    "gone",
                ))
            },
            0,
            Some(ErrorKind::NotFound),
        ),
    ];
    for (blocking, polls, error) in cases {
        let provider = Blocking {
            info: ProviderInfo::new("blocking", Capabilities::new(), PollPolicy::default()),
            blocking,
            polls: AtomicUsize::new(0),
            waits: AtomicUsize::new(0),
        };
        let result = provider
            .wait(&JobHandle::new("blocking", "job-1"), &PollPolicy::default())
            .await;
        assert_eq!(result.as_ref().err().map(|e| e.kind()), error, "{result:?}");
        assert_eq!(provider.waits.load(Ordering::SeqCst), 1);
        assert_eq!(provider.polls.load(Ordering::SeqCst), polls, "{result:?}");
    }
}
