//! The emulated CloudConvert against the crate's provider: uploads through the task form, remote
//! and base64 inputs, the sync wait (one request) and polling, signed webhooks, listing by tag,
//! delete, and the strictness that refuses what the vendor refuses.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use multiconvert_cloudconvert::{CloudConvert, Config};
use multiconvert_core::{
    Conversion, ConversionProvider, ErrorKind, Input, JobRequest, JobStatus, PollPolicy,
    ProviderExt, WebhookRequest,
};
use multiconvert_emulator::{Emulator, EmulatorConfig, Fault, FaultSpec, Running};

const KEY: &str = "cc-emulated-key-3f9a";
const WEBHOOK_SECRET: &str = "cc-emulated-webhook-7d21";

fn photo() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/samples/photo.png"
    ))
    .unwrap()
}

async fn emulator() -> Running {
    Emulator::start(
        EmulatorConfig::default()
            .work(Duration::from_millis(50))
            .cloudconvert_key(KEY)
            .webhook_secret(WEBHOOK_SECRET),
    )
    .await
    .unwrap()
}

fn provider(emulator: &Running, sync: bool) -> CloudConvert {
    let mut builder = Config::builder()
        .api_key(KEY)
        .base_url(emulator.cloudconvert_url())
        .webhook_secret(WEBHOOK_SECRET)
        .poll_policy(PollPolicy::fixed(
            Duration::from_millis(20),
            Duration::from_secs(30),
        ));
    if sync {
        builder = builder.sync_base_url(emulator.cloudconvert_sync_url());
    }
    CloudConvert::new(builder.build().unwrap()).unwrap()
}

async fn jpeg_of(cc: &CloudConvert, job: &multiconvert_core::Job) -> Vec<u8> {
    use futures_util::TryStreamExt;
    let stream = cc.download(&job.outputs[0]).await.unwrap();
    let chunks: Vec<Bytes> = stream.stream.try_collect().await.unwrap();
    chunks.concat()
}

#[tokio::test]
async fn an_upload_converts_and_the_sync_wait_takes_one_request() {
    let emulator = emulator().await;
    let cc = provider(&emulator, true);
    let request = JobRequest::new(Input::bytes(photo(), "photo.png"), Conversion::to("jpg"));
    let job = cc.convert(&request, &cc.info().poll_policy).await.unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    assert!(jpeg_of(&cc, &job).await.starts_with(&[0xFF, 0xD8, 0xFF]));
    assert_eq!(job.inputs[0].kind.as_deref(), Some("import/upload"));
    assert_eq!(job.conversions[0].target, "jpg");
    assert_eq!(job.cost, Some(multiconvert_core::Cost::new(1, "credits")));
    assert_eq!(emulator.count("cc.wait"), 1);
    assert_eq!(
        emulator.count("cc.poll"),
        0,
        "the sync host answered: no poll"
    );
    assert_eq!(emulator.count("cc.conversions"), 1);
    // Without a sync host the same job is polled.
    let polled = provider(&emulator, false);
    let job = polled
        .convert(&request, &polled.info().poll_policy)
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    assert!(emulator.count("cc.poll") >= 1);
    cc.delete(&job.handle).await.unwrap();
    assert_eq!(
        cc.poll(&job.handle).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(emulator.violations(), []);
}

#[tokio::test]
async fn base64_inputs_unsupported_pairs_and_a_tagged_resubmit() {
    let emulator = emulator().await;
    let cc = provider(&emulator, true);
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(photo());
    let request = JobRequest::new(Input::base64(encoded, "photo.png"), Conversion::to("gif"))
        .idempotency_key("order-17");
    let job = cc.convert(&request, &cc.info().poll_policy).await.unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    // The same key again: the tagged job is taken up, nothing is created.
    let again = cc.submit(&request).await.unwrap();
    assert_eq!(again.id, job.handle.id);
    assert_eq!(emulator.count("cc.create"), 1);
    let tagged = cc.find_by_tag("order-17").await.unwrap();
    assert_eq!(tagged.len(), 1);
    // A pair no engine converts fails its convert task with the vendor's code.
    let odd = JobRequest::new(Input::bytes(photo(), "photo.png"), Conversion::to("mp3"));
    let e = cc.convert(&odd, &cc.info().poll_policy).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConversionFailed, "{e}");
    assert_eq!(e.provider_code(), Some("INVALID_CONVERSION_TYPE"), "{e}");
    assert_eq!(emulator.violations(), []);
}

#[tokio::test]
async fn a_wrong_key_is_unauthenticated_and_credits_run_out_as_402() {
    let emulator = emulator().await;
    let wrong = CloudConvert::new(
        Config::builder()
            .api_key("not-the-key")
            .base_url(emulator.cloudconvert_url())
            .build()
            .unwrap(),
    )
    .unwrap();
    let request = JobRequest::new(Input::bytes(photo(), "photo.png"), Conversion::to("jpg"));
    assert_eq!(
        wrong.submit(&request).await.unwrap_err().kind(),
        ErrorKind::Unauthenticated
    );
    emulator
        .inject(FaultSpec::once("cc.create", Fault::Quota))
        .unwrap();
    let e = provider(&emulator, true)
        .submit(&request)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::QuotaExhausted);
    assert!(e.is_failover_eligible());
}

/// The job's webhook arrives signed with `CloudConvert-Signature`, and the provider verifies it.
#[tokio::test]
async fn the_webhook_is_signed_and_verifies() {
    let emulator = emulator().await;
    let received: Arc<Mutex<Vec<(HeaderMap, Bytes)>>> = Arc::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push((headers, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let cc = provider(&emulator, true);
    let request = JobRequest::new(Input::bytes(photo(), "photo.png"), Conversion::to("jpg"))
        .callback(hook.parse().unwrap());
    let job = cc.convert(&request, &cc.info().poll_policy).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while received.lock().unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no webhook arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (headers, body) = received.lock().unwrap()[0].clone();
    let event = cc
        .webhook(&WebhookRequest::new(
            axum::http::Method::POST,
            "/hook",
            headers,
            body,
        ))
        .unwrap();
    assert!(event.verified);
    assert_eq!(event.job_id, job.handle.id);
    assert_eq!(event.status, Some(JobStatus::Completed));
}
