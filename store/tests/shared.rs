//! The store behind the core's shared state: two webhook receivers on one store confirm a
//! duplicated delivery once; two routers on one store honour each other's cooldowns.

use std::sync::Arc;
use std::time::Duration;

use multiconvert_core::failover::Failover;
use multiconvert_core::receiver::WebhookReceiver;
use multiconvert_core::{
    async_trait, Capabilities, Conversion, ConversionProvider, Error, ErrorKind, Input, Job,
    JobHandle, JobRequest, Operation, PollPolicy, ProviderInfo, Result, WebhookEvent,
    WebhookRequest,
};
use multiconvert_store::Store;

mod common;
use common::databases;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const JOB: &str = "8daae6d1-26e0-11e5-b2a1-0800273b325b";

fn online_convert(base: &str) -> Arc<dyn ConversionProvider> {
    Arc::new(
        multiconvert_online_convert::OnlineConvert::new(
            multiconvert_online_convert::Config::builder()
                .api_key("any-key")
                .base_url(base)
                .build()
                .unwrap(),
        )
        .unwrap(),
    )
}

/// Serves a receiver on loopback; returns its base URL and its stream of confirmed jobs.
async fn receiver(
    vendor: &str,
    store: Arc<Store>,
) -> (String, multiconvert_core::receiver::WebhookUpdates) {
    let (receiver, updates) = WebhookReceiver::builder()
        .provider(online_convert(vendor))
        .deliveries(store)
        .build()
        .unwrap();
    let app = axum::Router::new().nest("/hooks", receiver.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, updates)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_webhook_to_two_receivers_sharing_a_store_is_confirmed_once() {
    let job =
        serde_json::json!({"id": JOB, "status": {"code": "completed", "info": ""}, "output": []});
    let vendor = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v2/jobs/{JOB}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(job.clone()))
        .mount(&vendor)
        .await;
    multiconvert_core::http::install_crypto_provider();
    let http = reqwest::Client::new();
    for (url, _keep) in databases().await {
        let store = Arc::new(Store::open(&url).await.unwrap());
        let other = Arc::new(Store::open(&url).await.unwrap());
        let base = format!("{}/v2", vendor.uri());
        let (a, mut updates_a) = receiver(&base, store).await;
        let (b, mut updates_b) = receiver(&base, other).await;
        let deliver = |to: String| {
            let http = http.clone();
            let body = job.clone();
            async move {
                let r = http
                    .post(format!("{to}/online-convert"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.text().await.unwrap())
            }
        };
        let (first, second) = tokio::join!(deliver(a), deliver(b));
        let mut answers = [first.1, second.1];
        answers.sort();
        assert_eq!(first.0, 200);
        assert_eq!(second.0, 200);
        assert_eq!(answers, ["duplicate", "ok"], "{url}");
        let got = tokio::select! {
            Some(job) = updates_a.recv() => job,
            Some(job) = updates_b.recv() => job,
        };
        assert_eq!(got.handle.id, JOB);
        // And nothing more on either stream.
        let more = tokio::time::timeout(Duration::from_millis(300), async {
            tokio::select! {
                Some(job) = updates_a.recv() => job,
                Some(job) = updates_b.recv() => job,
            }
        })
        .await;
        assert!(more.is_err(), "a second update: {more:?}");
    }
}

/// A member whose every submit is throttled, counting its calls.
#[derive(Debug)]
struct Throttled(ProviderInfo, std::sync::atomic::AtomicUsize);

#[async_trait]
impl ConversionProvider for Throttled {
    fn info(&self) -> &ProviderInfo {
        &self.0
    }
    async fn submit(&self, _: &JobRequest) -> Result<JobHandle> {
        self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Err(Error::new(
            ErrorKind::RateLimited,
            "throttled",
            Operation::Submit,
            "slow down",
        )
        .with_retry_after(Duration::from_secs(60)))
    }
    async fn poll(&self, h: &JobHandle) -> Result<Job> {
        Ok(Job::new(h.clone(), multiconvert_core::JobStatus::Completed))
    }
    fn webhook(&self, _: &WebhookRequest) -> Result<WebhookEvent> {
        Err(Error::new(
            ErrorKind::WebhookRejected,
            "throttled",
            Operation::Webhook,
            "no",
        ))
    }
    async fn delete(&self, _: &JobHandle) -> Result<()> {
        Ok(())
    }
}

#[derive(Debug)]
struct Fine(ProviderInfo);

#[async_trait]
impl ConversionProvider for Fine {
    fn info(&self) -> &ProviderInfo {
        &self.0
    }
    async fn submit(&self, _: &JobRequest) -> Result<JobHandle> {
        Ok(JobHandle::new("fine", "job"))
    }
    async fn poll(&self, h: &JobHandle) -> Result<Job> {
        Ok(Job::new(h.clone(), multiconvert_core::JobStatus::Completed))
    }
    fn webhook(&self, _: &WebhookRequest) -> Result<WebhookEvent> {
        Err(Error::new(
            ErrorKind::WebhookRejected,
            "fine",
            Operation::Webhook,
            "no",
        ))
    }
    async fn delete(&self, _: &JobHandle) -> Result<()> {
        Ok(())
    }
}

fn info(name: &str) -> ProviderInfo {
    ProviderInfo::new(
        name.to_owned(),
        Capabilities::new().with_remote_input(true),
        PollPolicy::default(),
    )
}

#[tokio::test]
async fn a_cooldown_one_router_sets_is_honoured_by_another_sharing_the_store() {
    for (url, _keep) in databases().await {
        let router = |store: Arc<Store>, throttled: Arc<Throttled>| {
            Failover::builder()
                .member(throttled)
                .member(Arc::new(Fine(info("fine"))))
                .cooldowns(store)
                .build()
                .unwrap()
        };
        let (one, two) = (
            Arc::new(Throttled(info("throttled"), Default::default())),
            Arc::new(Throttled(info("throttled"), Default::default())),
        );
        let a = router(Arc::new(Store::open(&url).await.unwrap()), one.clone());
        let b = router(Arc::new(Store::open(&url).await.unwrap()), two.clone());
        let request = JobRequest::new(
            Input::remote("https://example.com/a.png".parse().unwrap()),
            Conversion::to("jpg"),
        );
        assert_eq!(a.submit(&request).await.unwrap().provider, "fine");
        assert_eq!(one.1.load(std::sync::atomic::Ordering::SeqCst), 1);
        // The other instance never calls the member the first one saw throttling.
        assert_eq!(b.submit(&request).await.unwrap().provider, "fine");
        assert_eq!(two.1.load(std::sync::atomic::Ordering::SeqCst), 0, "{url}");
        let attempts = Failover::attempts(&b.submit(&request).await.unwrap());
        assert!(attempts[0].detail.contains("cooling"), "{attempts:?}");
    }
}
