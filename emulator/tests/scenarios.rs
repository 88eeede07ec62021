//! The cassettes' scenarios, live against the emulator: remote inputs, failed conversions, quota,
//! and callbacks delivered by the emulator to a real webhook receiver, duplicated and forged ones
//! included.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use multiconvert_convertapi::{AsyncRoute, ConvertApi};
use multiconvert_core::receiver::WebhookReceiver;
use multiconvert_core::{
    CallbackSigner, Conversion, ConversionProvider, ErrorKind, Input, JobRequest, JobStatus,
    PollPolicy, ProviderExt,
};
use multiconvert_emulator::{Emulator, EmulatorConfig, Fault, FaultSpec, Running};
use multiconvert_online_convert::OnlineConvert;

const WEBHOOK_SECRET: &str = "scenario-webhook-secret";

fn samples() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/samples"))
}

fn fast() -> PollPolicy {
    PollPolicy::fixed(Duration::from_millis(20), Duration::from_secs(20))
}

async fn emulator() -> Running {
    Emulator::start(
        EmulatorConfig::default()
            .work(Duration::from_millis(20))
            .webhook_secret(WEBHOOK_SECRET),
    )
    .await
    .unwrap()
}

fn oc(emulator: &Running) -> Arc<dyn ConversionProvider> {
    Arc::new(
        OnlineConvert::new(
            multiconvert_online_convert::Config::builder()
                .api_key("any-key")
                .base_url(emulator.online_convert_url())
                .webhook_secret(WEBHOOK_SECRET)
                .poll_policy(fast())
                .build()
                .unwrap(),
        )
        .unwrap(),
    )
}

fn ca(emulator: &Running) -> Arc<dyn ConversionProvider> {
    Arc::new(
        ConvertApi::new(
            multiconvert_convertapi::Config::builder()
                .submit_style(multiconvert_convertapi::SubmitStyle::Async)
                .secret("any-secret")
                .base_url(emulator.convertapi_url())
                .route(AsyncRoute::Current)
                .poll_policy(fast())
                .build()
                .unwrap(),
        )
        .unwrap(),
    )
}

/// The samples over loopback HTTP, for remote inputs.
async fn serve_samples() -> String {
    let app = axum::Router::new().route(
        "/{name}",
        axum::routing::get(
            |axum::extract::Path(name): axum::extract::Path<String>| async move {
                match std::fs::read(samples().join(&name)) {
                    Ok(bytes) => Ok(bytes),
                    Err(_) => Err(axum::http::StatusCode::NOT_FOUND),
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn remote_inputs_complete_at_both_vendors() {
    let emulator = emulator().await;
    let base = serve_samples().await;
    let request = JobRequest::new(
        Input::remote(format!("{base}/photo.png").parse().unwrap()),
        Conversion::to("bmp"),
    );
    for provider in [oc(&emulator), ca(&emulator)] {
        let job = provider.convert(&request, &fast()).await.unwrap();
        assert_eq!(job.status, JobStatus::Completed, "{}", provider.info().name);
        assert_eq!(job.outputs.len(), 1);
    }
    // An input the vendor cannot download fails the job, with the vendor's message.
    let missing = JobRequest::new(
        Input::remote(format!("{base}/nothing-here.png").parse().unwrap()),
        Conversion::to("jpg"),
    );
    let e = oc(&emulator).convert(&missing, &fast()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConversionFailed);
    assert_eq!(e.provider_code(), Some("404"));
    assert_eq!(emulator.violations(), []);
}

#[tokio::test]
async fn a_corrupt_input_fails_the_job_at_both_vendors() {
    let emulator = emulator().await;
    let request = JobRequest::new(
        Input::path(samples().join("corrupt.png")),
        Conversion::to("jpg"),
    );
    for provider in [oc(&emulator), ca(&emulator)] {
        let e = provider.convert(&request, &fast()).await.unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::ConversionFailed,
            "{}: {e}",
            provider.info().name
        );
        // The input's fault: never resubmitted elsewhere.
        let job = provider.poll(e.job().unwrap()).await.unwrap();
        assert!(!job.failed_on_vendor_side());
    }
}

#[tokio::test]
async fn quota_and_throttling_are_typed_and_failover_eligible() {
    let emulator = emulator().await;
    emulator
        .inject(FaultSpec::once(
            "oc.create",
            Fault::Status {
                status: 402,
                retry_after: None,
            },
        ))
        .unwrap();
    let request = JobRequest::new(
        Input::path(samples().join("photo.png")),
        Conversion::to("jpg"),
    );
    let e = oc(&emulator).submit(&request).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::QuotaExhausted);
    assert!(e.is_failover_eligible());
}

/// Callbacks from the emulator to a real receiver: confirmed by polling the emulator, a
/// duplicated delivery dropped, a forged one refused.
#[tokio::test]
async fn callbacks_reach_a_receiver_once_and_forgeries_do_not() {
    let emulator = emulator().await;
    emulator
        .inject(FaultSpec::once("oc.callback", Fault::Duplicate))
        .unwrap();
    emulator
        .inject(FaultSpec::once("ca.webhook", Fault::Forged))
        .unwrap();
    let (oc, ca) = (oc(&emulator), ca(&emulator));
    let signer = CallbackSigner::new("receiver-key").unwrap();
    let (receiver, mut updates) = WebhookReceiver::builder()
        .provider(oc.clone())
        .provider(ca.clone())
        .signer(signer.clone())
        .build()
        .unwrap();
    let app = axum::Router::new().nest("/hooks", receiver.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hooks = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    for provider in [&oc, &ca] {
        let name = provider.info().name.to_string();
        let request = JobRequest::new(
            Input::path(samples().join("photo.png")),
            Conversion::to("gif"),
        )
        .callback(format!("{hooks}/{name}").parse().unwrap())
        .sign_callback(signer.clone());
        let handle = provider.submit(&request).await.unwrap();
        let job = tokio::time::timeout(Duration::from_secs(10), updates.recv())
            .await
            .unwrap_or_else(|_| panic!("no confirmed callback for {name}"))
            .unwrap();
        assert_eq!(job.handle.id, handle.id);
        assert_eq!(job.handle.provider, name);
        assert_eq!(job.status, JobStatus::Completed);
    }
    // Neither the duplicate nor the forgery produced a second update.
    let extra = tokio::time::timeout(Duration::from_millis(700), updates.recv()).await;
    assert!(extra.is_err(), "an extra update: {extra:?}");
    assert_eq!(emulator.state()["faults"]["injected"], 2);
}

/// Whether LibreOffice is there for the document tests; without it they say so and pass, unless
/// `MULTICONVERT_REQUIRE_SOFFICE` is set (CI), which makes its absence a failure.
fn libreoffice_installed() -> bool {
    if multiconvert_office::Office::from_env().is_ok() {
        return true;
    }
    assert!(
        std::env::var_os("MULTICONVERT_REQUIRE_SOFFICE").is_none(),
        "MULTICONVERT_REQUIRE_SOFFICE is set but LibreOffice is missing"
    );
    eprintln!("skipped: LibreOffice is not installed");
    false
}

/// Documents too, where LibreOffice is installed: docx to PDF at both emulated vendors.
#[tokio::test]
async fn documents_convert_where_libreoffice_is_installed() {
    if !libreoffice_installed() {
        return;
    }
    let emulator = emulator().await;
    let request = JobRequest::new(
        Input::path(samples().join("office/report.docx")),
        Conversion::to("pdf"),
    );
    for provider in [oc(&emulator), ca(&emulator)] {
        let job = provider
            .convert(
                &request,
                &PollPolicy::fixed(Duration::from_millis(100), Duration::from_secs(60)),
            )
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", provider.info().name));
        let stream = provider.download(&job.outputs[0]).await.unwrap();
        use futures_util::TryStreamExt;
        let chunks: Vec<_> = stream.stream.try_collect().await.unwrap();
        assert!(
            chunks.concat().starts_with(b"%PDF-"),
            "{}",
            provider.info().name
        );
    }
}

/// Hostile documents come back as each vendor's input errors, where LibreOffice is installed:
/// the office engine's input check runs inside the emulator as it does in the provider. A
/// password-protected document is ConvertAPI's 5003, the rest its 5002 ("damaged").
#[tokio::test]
async fn hostile_documents_are_vendor_shaped_input_errors() {
    if !libreoffice_installed() {
        return;
    }
    let emulator = emulator().await;
    let cases = [
        (
            Input::bytes(vec![0x00, 0x9f, 0x13, 0xd2, 0x00, 0x41], "random.docx"),
            "declared docx",
            "5002",
        ),
        (
            Input::path(samples().join("office/bomb.docx")),
            "MULTICONVERT_OFFICE_MAX_RATIO",
            "5002",
        ),
        (
            Input::path(samples().join("office/locked.docx")),
            "password-protected",
            "5003",
        ),
    ];
    for (input, words, convertapi_code) in cases {
        let name = input.effective_filename().unwrap_or_default();
        let request = JobRequest::new(input, Conversion::to("pdf"));
        for provider in [oc(&emulator), ca(&emulator)] {
            let vendor = provider.info().name.clone();
            let e = provider.convert(&request, &fast()).await.unwrap_err();
            assert_eq!(
                e.kind(),
                ErrorKind::ConversionFailed,
                "{vendor} {name}: {e}"
            );
            assert!(e.to_string().contains(words), "{vendor} {name}: {e}");
            if vendor == "convertapi" {
                assert_eq!(e.provider_code(), Some(convertapi_code), "{name}: {e}");
            }
        }
    }
}

/// A body whose bytes come after its headers, as a file read from disk does.
fn late_body() -> reqwest::Body {
    let chunks = futures_util::stream::unfold(0, |n| async move {
        (n < 4).then_some(())?;
        tokio::time::sleep(Duration::from_millis(50)).await;
        Some((Ok::<_, std::io::Error>(vec![b'x'; 64 << 10]), n + 1))
    });
    reqwest::Body::wrap_stream(chunks)
}

/// A fault answered on an upload reaches the client as that answer, whatever the body's size:
/// the emulator reads the body first, as a vendor's front end does, so a fault matrix cell never
/// turns into a reset (which an upload may replay) at random.
#[tokio::test]
async fn a_fault_on_an_upload_is_answered_after_the_body_is_read() {
    let emulator = emulator().await;
    let cc_root = emulator
        .cloudconvert_url()
        .trim_end_matches("/v2")
        .to_owned();
    let routes = [
        (
            "oc.upload",
            format!("{}/dl/web1/upload-file/any", emulator.online_convert_url()),
        ),
        (
            "ca.submit",
            format!("{}/async/convert/png/to/jpg", emulator.convertapi_url()),
        ),
        ("cc.upload", format!("{cc_root}/storage/upload/any")),
    ];
    let client = reqwest::Client::new();
    for (operation, url) in routes {
        for _ in 0..3 {
            emulator
                .inject(FaultSpec::once(
                    operation,
                    Fault::Status {
                        status: 400,
                        retry_after: None,
                    },
                ))
                .unwrap();
            let answer = client
                .post(&url)
                .header("content-type", "multipart/form-data; boundary=b")
                .body(late_body())
                .send()
                .await
                .unwrap_or_else(|e| panic!("{operation}: no answer but {e:?}"));
            assert_eq!(answer.status(), 400, "{operation}");
        }
    }
}

/// An account limit answers each vendor's throttling answer past it; a provider instance kept
/// to the same rate by its request budget is never refused.
#[tokio::test]
async fn an_account_limit_throttles_a_burst_but_not_a_budgeted_instance() {
    let emulator = Emulator::start(
        EmulatorConfig::default()
            .work(Duration::from_millis(20))
            .rate_limit(20),
    )
    .await
    .unwrap();
    let client = reqwest::Client::new();
    let statuses = futures_util::future::join_all((0..30).map(|_| {
        client
            .get(format!("{}/statuses", emulator.online_convert_url()))
            .header("x-oc-api-key", "k")
            .send()
    }))
    .await;
    let throttled: Vec<_> = statuses
        .into_iter()
        .map(|r| r.unwrap())
        .filter(|r| r.status() == 429)
        .collect();
    assert!((8..=10).contains(&throttled.len()), "{}", throttled.len());
    assert_eq!(throttled[0].headers()["retry-after"], "1");
    assert_eq!(emulator.count("oc.throttled"), throttled.len() as u64);

    // A second later the bucket is full again; an instance at 20/s runs jobs without a refusal.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let oc = Arc::new(
        OnlineConvert::new(
            multiconvert_online_convert::Config::builder()
                .api_key("any-key")
                .base_url(emulator.online_convert_url())
                .poll_policy(fast())
                .rate("20/s".parse().unwrap())
                .build()
                .unwrap(),
        )
        .unwrap(),
    );
    let before = emulator.count("oc.throttled");
    let jobs = futures_util::future::join_all((0..6).map(|_| {
        let oc = oc.clone();
        async move {
            let request = JobRequest::new(
                Input::path(samples().join("photo.png")),
                Conversion::to("jpg"),
            );
            let handle = oc.submit(&request).await?;
            oc.wait(&handle, &fast()).await
        }
    }))
    .await;
    for job in jobs {
        assert_eq!(job.unwrap().status, JobStatus::Completed);
    }
    assert_eq!(emulator.count("oc.throttled"), before);
}
