//! The webhook receiver under abuse: oversized bodies, a burst of 10k concurrent forged callbacks,
//! replays of one forgery. Each costs bounded vendor polls, changes nothing, and the receiver keeps
//! serving a genuine callback afterwards.
#![cfg(feature = "axum")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use multiconvert_core::receiver::WebhookReceiver;
use multiconvert_core::{
    Capabilities, ConversionProvider, Error, ErrorKind, Job, JobHandle, JobRequest, JobStatus,
    Operation, PollPolicy, ProviderInfo, Result, WebhookEvent, WebhookRequest,
};
use tower::ServiceExt;

/// Reads the job id from a `{"id": …}` body (unverified, as ConvertAPI's callbacks are); its
/// polls count, take 20 ms, and know one job only.
#[derive(Debug)]
struct Counting {
    info: ProviderInfo,
    polls: AtomicUsize,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
}

const GENUINE: &str = "the-genuine-job";

#[async_trait]
impl ConversionProvider for Counting {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }
    async fn submit(&self, _: &JobRequest) -> Result<JobHandle> {
        unreachable!("the receiver never submits")
    }
    async fn poll(&self, handle: &JobHandle) -> Result<Job> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if handle.id == GENUINE {
            Ok(Job::new(handle.clone(), JobStatus::Completed))
        } else {
            Err(Error::new(
                ErrorKind::NotFound,
                "counting",
                Operation::Poll,
                "no such job",
            ))
        }
    }
    fn webhook(&self, request: &WebhookRequest) -> Result<WebhookEvent> {
        let value: serde_json::Value = serde_json::from_slice(&request.body).map_err(|_| {
            Error::new(
                ErrorKind::WebhookRejected,
                "counting",
                Operation::Webhook,
                "not JSON",
            )
        })?;
        let id = value["id"].as_str().ok_or_else(|| {
            Error::new(
                ErrorKind::WebhookRejected,
                "counting",
                Operation::Webhook,
                "no id",
            )
        })?;
        Ok(WebhookEvent::unverified("counting", id))
    }
    async fn delete(&self, _: &JobHandle) -> Result<()> {
        Ok(())
    }
}

fn counting() -> Arc<Counting> {
    Arc::new(Counting {
        info: ProviderInfo::new("counting", Capabilities::new(), PollPolicy::default()),
        polls: AtomicUsize::new(0),
        in_flight: AtomicUsize::new(0),
        most_in_flight: AtomicUsize::new(0),
    })
}

fn callback(body: impl Into<Body>) -> Request<Body> {
    Request::post("/counting")
        .header("content-type", "application/json")
        .body(body.into())
        .unwrap()
}

async fn send(router: &axum::Router, request: Request<Body>) -> StatusCode {
    router.clone().oneshot(request).await.unwrap().status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_forged_callbacks_cost_bounded_polls_and_change_nothing() {
    let provider = counting();
    let (receiver, mut updates) = WebhookReceiver::builder()
        .provider(provider.clone())
        .max_pending(16)
        .build()
        .unwrap();
    let router = receiver.router();
    // 10k at once, each for a job of its own that does not exist.
    let burst: Vec<_> = (0..10_000)
        .map(|i| {
            let router = router.clone();
            tokio::spawn(async move {
                send(&router, callback(format!(r#"{{"id":"forged-{i}"}}"#))).await
            })
        })
        .collect();
    let mut answered = std::collections::HashMap::<u16, usize>::new();
    for task in burst {
        *answered.entry(task.await.unwrap().as_u16()).or_default() += 1;
    }
    let polls = provider.polls.load(Ordering::SeqCst);
    eprintln!("10k forged callbacks: answered {answered:?}, {polls} vendor polls");
    assert!(
        provider.most_in_flight.load(Ordering::SeqCst) <= 16,
        "{} polls at once",
        provider.most_in_flight.load(Ordering::SeqCst)
    );
    // Every forged callback was refused: unknown (polled) or busy (not polled).
    assert_eq!(
        answered.get(&404).copied().unwrap_or(0),
        polls,
        "{answered:?}"
    );
    assert_eq!(answered.values().sum::<usize>(), 10_000, "{answered:?}");
    assert!(
        answered.keys().all(|s| *s == 404 || *s == 503),
        "{answered:?}"
    );
    // Nothing reached the stream.
    assert!(
        tokio::time::timeout(Duration::from_millis(100), updates.recv())
            .await
            .is_err()
    );
    // A forgery found unknown once is refused again without a poll, however often replayed.
    let replayed = callback(r#"{"id":"replayed-forgery"}"#);
    assert_eq!(send(&router, replayed).await, StatusCode::NOT_FOUND);
    let before = provider.polls.load(Ordering::SeqCst);
    for _ in 0..100 {
        let replay = callback(r#"{"id":"replayed-forgery"}"#);
        assert_eq!(send(&router, replay).await, StatusCode::NOT_FOUND);
    }
    assert_eq!(provider.polls.load(Ordering::SeqCst), before);
    // And the receiver still serves: a genuine callback is confirmed and delivered.
    assert_eq!(
        send(&router, callback(format!(r#"{{"id":"{GENUINE}"}}"#))).await,
        StatusCode::OK
    );
    let job = tokio::time::timeout(Duration::from_secs(2), updates.recv())
        .await
        .expect("the genuine callback is delivered")
        .unwrap();
    assert_eq!(job.handle.id, GENUINE);
}

#[tokio::test]
async fn a_burst_for_one_job_costs_one_poll() {
    let provider = counting();
    let (receiver, mut updates) = WebhookReceiver::builder()
        .provider(provider.clone())
        .build()
        .unwrap();
    let router = receiver.router();
    // Distinct deliveries (a dedupe key each would be the same here: the job id), all at once.
    let burst: Vec<_> = (0..200)
        .map(|_| {
            let router = router.clone();
            tokio::spawn(async move {
                send(&router, callback(format!(r#"{{"id":"{GENUINE}"}}"#))).await
            })
        })
        .collect();
    for task in burst {
        let status = task.await.unwrap();
        assert!(matches!(status.as_u16(), 200 | 503), "{status}");
    }
    assert_eq!(provider.polls.load(Ordering::SeqCst), 1);
    assert_eq!(updates.recv().await.unwrap().handle.id, GENUINE);
    assert!(
        tokio::time::timeout(Duration::from_millis(100), updates.recv())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn an_oversized_body_is_refused_unread() {
    let provider = counting();
    let (receiver, _updates) = WebhookReceiver::builder()
        .provider(provider.clone())
        .max_body(1024)
        .build()
        .unwrap();
    let router = receiver.router();
    let big = format!(r#"{{"id":"{GENUINE}","pad":"{}"}}"#, "x".repeat(4096));
    assert_eq!(
        send(&router, callback(big)).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(provider.polls.load(Ordering::SeqCst), 0);
    // The default is 256 KiB: a 1 MB body is refused too.
    let (receiver, _updates) = WebhookReceiver::builder()
        .provider(provider.clone())
        .build()
        .unwrap();
    let huge = format!(r#"{{"id":"{GENUINE}","pad":"{}"}}"#, "x".repeat(1 << 20));
    assert_eq!(
        send(&receiver.router(), callback(huge)).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(provider.polls.load(Ordering::SeqCst), 0);
}
