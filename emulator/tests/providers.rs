//! Our providers end to end against the emulator: real conversions, one job per convert, no
//! violations; strict errors for bad requests; injected faults seen as the typed errors the
//! design names.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use multiconvert_convertapi::{AsyncRoute, ConvertApi};
use multiconvert_core::failover::Failover;
use multiconvert_core::http::{HttpConfig, RetryPolicy};
use multiconvert_core::{
    Conversion, ConversionProvider, ErrorKind, Input, JobRequest, JobStatus, PollPolicy,
    ProviderExt, SaveOptions,
};
use multiconvert_emulator::{Emulator, EmulatorConfig, Fault, FaultSpec, Running};
use multiconvert_online_convert::OnlineConvert;

const KEY: &str = "emulator-test-key";
const SECRET: &str = "emulator-test-secret";

fn sample(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/samples")).join(name)
}

async fn emulator() -> Running {
    Emulator::start(
        EmulatorConfig::default()
            .work(Duration::from_millis(20))
            .online_convert_key(KEY)
            .convertapi_secret(SECRET),
    )
    .await
    .unwrap()
}

fn fast_http() -> HttpConfig {
    HttpConfig::default().with_retry(
        RetryPolicy::default().with_backoff(Duration::from_millis(20), Duration::from_millis(100)),
    )
}

fn fast() -> PollPolicy {
    PollPolicy::fixed(Duration::from_millis(20), Duration::from_secs(20))
}

fn oc(emulator: &Running) -> Arc<OnlineConvert> {
    Arc::new(
        OnlineConvert::new(
            multiconvert_online_convert::Config::builder()
                .api_key(KEY)
                .base_url(emulator.online_convert_url())
                .http(fast_http())
                .poll_policy(fast())
                .build()
                .unwrap(),
        )
        .unwrap(),
    )
}

fn ca(emulator: &Running, route: AsyncRoute) -> Arc<ConvertApi> {
    Arc::new(
        ConvertApi::new(
            multiconvert_convertapi::Config::builder()
                .secret(SECRET)
                .base_url(emulator.convertapi_url())
                .route(route)
                // Async: these tests follow the submit-poll flow and its faults; the held
                // default has its own test below.
                .submit_style(multiconvert_convertapi::SubmitStyle::Async)
                .http(fast_http())
                .poll_policy(fast())
                .build()
                .unwrap(),
        )
        .unwrap(),
    )
}

fn upload_request(target: &str) -> JobRequest {
    JobRequest::new(Input::path(sample("photo.png")), Conversion::to(target))
}

/// Converts, saves, and checks the saved file is a real image of the target's format.
async fn convert_and_check(provider: &dyn ConversionProvider, request: &JobRequest, magic: &[u8]) {
    let job = provider.convert(request, &fast()).await.unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    let out = tempfile::tempdir().unwrap();
    let saved = provider
        .save_all(&job, out.path(), &SaveOptions::default())
        .await
        .unwrap();
    assert_eq!(saved.len(), 1);
    let bytes = std::fs::read(&saved[0].path).unwrap();
    assert!(
        bytes.starts_with(magic),
        "not a real output: {:?}",
        &bytes[..8.min(bytes.len())]
    );
}

const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF];
const GIF: &[u8] = b"GIF8";

#[tokio::test]
async fn online_convert_uploads_converts_and_downloads_for_real() {
    let emulator = emulator().await;
    let oc = oc(&emulator);
    convert_and_check(oc.as_ref(), &upload_request("jpg"), JPEG).await;
    assert_eq!(emulator.count("oc.create"), 1, "{}", emulator.state());
    assert_eq!(emulator.count("oc.upload"), 1);
    assert_eq!(emulator.count("oc.start"), 1);
    assert_eq!(emulator.violations(), []);
}

#[tokio::test]
async fn online_convert_one_shot_and_staged_flows() {
    let emulator = emulator().await;
    let oc = oc(&emulator);
    // Step by step: an empty staged job, an input, a conversion, a start.
    let job = oc.create(&JobRequest::default()).await.unwrap();
    assert_eq!(job.status, JobStatus::Incomplete);
    let input = oc
        .add_input(&job.handle, &Input::path(sample("photo.png")))
        .await
        .unwrap();
    assert_eq!(input.kind.as_deref(), Some("upload"));
    let conversion = oc
        .add_conversion(&job.handle, &Conversion::to("gif"))
        .await
        .unwrap();
    assert_eq!(conversion.target, "gif");
    let started = oc.start(&job.handle, None).await.unwrap();
    assert!(!started.status.is_staged());
    let e = oc.start(&job.handle, None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "a second start");
    let done = oc.wait(&job.handle, &fast()).await.unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(done.inputs.len(), 1);
    assert_eq!(done.conversions[0].id, conversion.id);
    let history = oc.history(&job.handle).await.unwrap();
    assert_eq!(history.last().unwrap().status.as_deref(), Some("completed"));
    let listed = oc.list(Some(&JobStatus::Completed), None).await.unwrap();
    assert_eq!(listed.total, Some(1));
    oc.delete(&job.handle).await.unwrap();
    assert_eq!(
        oc.poll(&job.handle).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(emulator.violations(), []);
}

#[tokio::test]
async fn convertapi_converts_on_both_routes_and_semi_async() {
    let emulator = emulator().await;
    for route in [AsyncRoute::Current, AsyncRoute::Legacy] {
        let ca = ca(&emulator, route);
        convert_and_check(ca.as_ref(), &upload_request("gif"), GIF).await;
    }
    assert_eq!(emulator.count("ca.submit"), 2, "{}", emulator.state());
    assert_eq!(emulator.count("ca.upload"), 2);
    let ca = ca(&emulator, AsyncRoute::Current);
    let job = ca.convert_sync(&upload_request("jpg")).await.unwrap();
    assert_eq!(job.handle.meta["route"], "legacy");
    // The semi-async result is kept under its JobId: a poll fetches it without a conversion.
    let fresh = self::ca(&emulator, AsyncRoute::Current);
    let again = fresh.poll(&job.handle).await.unwrap();
    assert_eq!(again.status, JobStatus::Completed);
    assert_eq!(emulator.count("ca.convert"), 1);
    // Deleting from another instance removes the result files too.
    fresh.delete(&job.handle).await.unwrap();
    let e = fresh
        .save(
            &job.outputs[0],
            tempfile::tempdir().unwrap().path(),
            &SaveOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(emulator.violations(), []);
}

#[tokio::test]
async fn bad_credentials_get_the_vendors_errors() {
    let emulator = emulator().await;
    let wrong_oc = OnlineConvert::new(
        multiconvert_online_convert::Config::builder()
            .api_key("not-the-key")
            .base_url(emulator.online_convert_url())
            .build()
            .unwrap(),
    )
    .unwrap();
    let e = wrong_oc.submit(&upload_request("jpg")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    let wrong_ca = ConvertApi::new(
        multiconvert_convertapi::Config::builder()
            .secret("not-the-secret")
            .base_url(emulator.convertapi_url())
            .build()
            .unwrap(),
    )
    .unwrap();
    let e = wrong_ca.submit(&upload_request("jpg")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert_eq!(e.provider_code(), Some("4010"));
    // Each refusal is counted; nothing was created.
    assert_eq!(emulator.count("oc.unauthenticated"), 1);
    assert_eq!(emulator.count("ca.unauthenticated"), 1);
    assert!(emulator.state()["online_convert"]["jobs"]
        .as_array()
        .unwrap()
        .is_empty());
}

/// Requests our providers never make, sent by hand: each gets the vendor's error and is counted.
#[tokio::test]
async fn rule_breaking_requests_are_refused_and_counted() {
    let emulator = emulator().await;
    multiconvert_core::http::install_crypto_provider();
    let http = reqwest::Client::new();
    let ca_base = emulator.convertapi_url();
    // A JobId in the current route's format, on the legacy route.
    let r = http
        .post(format!("{ca_base}/convert/png/to/jpg?Async=true"))
        .bearer_auth(SECRET)
        .form(&[
            ("File", "https://example.com/a.png"),
            ("JobId", "rwvd6vtq58eurfwv5zw5h2ci2pgno1pn"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["Code"], 4000);
    assert!(body["InvalidParameters"]["JobId"].is_array());
    // No credentials at all.
    let r = http.get(format!("{ca_base}/user")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["Code"], 4013);
    // A secret in the query string: accepted as the legacy form, but counted.
    let r = http
        .get(format!("{ca_base}/user?Secret={SECRET}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A current-route job polled on the legacy route.
    let r = http
        .post(format!("{ca_base}/async/convert/png/to/jpg"))
        .bearer_auth(SECRET)
        .form(&[("File", "https://127.0.0.1:9/a.png")])
        .send()
        .await
        .unwrap();
    let job: serde_json::Value = r.json().await.unwrap();
    let id = job["JobId"].as_str().unwrap();
    let r = http
        .get(format!("{ca_base}/job/{id}"))
        .bearer_auth(SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // The account key sent to online-convert's upload host.
    let oc = oc(&emulator);
    let staged = oc
        .create(&JobRequest::default().conversion(Conversion::to("jpg")))
        .await
        .unwrap();
    let upload = format!(
        "{}/upload-file/{}",
        staged.handle.server.clone().unwrap(),
        staged.handle.id
    );
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("a.png"),
    );
    let r = http
        .post(upload)
        .header("x-oc-api-key", KEY)
        .header("x-oc-token", staged.handle.token.as_ref().unwrap().expose())
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let rules: Vec<String> = emulator.violations().into_iter().map(|v| v.rule).collect();
    assert_eq!(
        rules,
        [
            "job_id_format",
            "secret_in_query",
            "wrong_route",
            "account_key_on_upload_host"
        ]
    );
    // And the state endpoint shows them, without any secret.
    let state = http
        .get(format!("{ca_base}/__emulator/state"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(state.contains("account_key_on_upload_host"));
    assert!(!state.contains(SECRET) && !state.contains(KEY), "{state}");
}

/// Throttling with `Retry-After`: the provider waits and resends; one job in the end.
#[tokio::test]
async fn a_throttled_submit_is_retried_into_one_job() {
    let emulator = emulator().await;
    emulator
        .inject(FaultSpec::once(
            "ca.submit",
            Fault::Status {
                status: 503,
                retry_after: Some(1),
            },
        ))
        .unwrap();
    let ca = ca(&emulator, AsyncRoute::Current);
    convert_and_check(ca.as_ref(), &upload_request("jpg"), JPEG).await;
    assert_eq!(emulator.count("ca.submit"), 2);
    assert_eq!(
        emulator.state()["convertapi"]["jobs"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// A 5xx after the job was committed: reconciled by the JobId, never submitted twice.
#[tokio::test]
async fn an_ambiguous_submit_is_reconciled_into_one_job() {
    let emulator = emulator().await;
    emulator
        .inject(FaultSpec::once(
            "ca.submit",
            Fault::AfterCommit { status: 502 },
        ))
        .unwrap();
    let ca = ca(&emulator, AsyncRoute::Current);
    convert_and_check(ca.as_ref(), &upload_request("jpg"), JPEG).await;
    assert_eq!(emulator.count("ca.submit"), 1, "{}", emulator.state());
    assert_eq!(
        emulator.state()["convertapi"]["jobs"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // online-convert: a start whose answer is lost is read back, not sent twice.
    emulator
        .inject(FaultSpec::once("oc.start", Fault::Reset))
        .unwrap();
    let oc = oc(&emulator);
    convert_and_check(oc.as_ref(), &upload_request("jpg"), JPEG).await;
    assert_eq!(emulator.count("oc.start"), 1, "{}", emulator.state());
    assert_eq!(emulator.violations(), []);
}

/// A busy poll (another poll in flight) is no error; garbage is a protocol error.
#[tokio::test]
async fn busy_polls_wait_and_garbage_is_a_protocol_error() {
    let emulator = emulator().await;
    emulator
        .inject(FaultSpec::once("ca.poll", Fault::Busy))
        .unwrap();
    let ca = ca(&emulator, AsyncRoute::Current);
    convert_and_check(ca.as_ref(), &upload_request("jpg"), JPEG).await;
    emulator
        .inject(FaultSpec::once("oc.poll", Fault::Garbage))
        .unwrap();
    let oc = oc(&emulator);
    let handle = oc.submit(&upload_request("jpg")).await.unwrap();
    let e = oc.poll(&handle).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Protocol);
    assert_eq!(
        oc.wait(&handle, &fast()).await.unwrap().status,
        JobStatus::Completed
    );
}

/// Hostile result names never leave the target directory.
#[tokio::test]
async fn hostile_output_names_are_contained() {
    let emulator = emulator().await;
    emulator
        .inject(FaultSpec::once("ca.submit", Fault::HostileFilename))
        .unwrap();
    let ca = ca(&emulator, AsyncRoute::Current);
    let job = ca.convert(&upload_request("jpg"), &fast()).await.unwrap();
    assert_eq!(job.outputs[0].filename.as_deref(), Some("../../evil.jpg"));
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("a/b");
    let saved = ca
        .save_all(&job, &out, &SaveOptions::default())
        .await
        .unwrap();
    assert_eq!(saved[0].path, out.join("evil.jpg"));
}

/// Through `Failover`: ConvertAPI failing every submit with its 5xx JSON, the job completes at
/// online-convert, with exactly one job there.
#[tokio::test]
async fn failover_moves_on_from_a_failing_vendor() {
    let emulator = emulator().await;
    let mut spec = FaultSpec::once(
        "ca.submit",
        Fault::Status {
            status: 500,
            retry_after: None,
        },
    );
    spec.count = Some(10);
    emulator.inject(spec).unwrap();
    let router = Failover::builder()
        .member(ca(&emulator, AsyncRoute::Current))
        .member(oc(&emulator))
        .build()
        .unwrap();
    let job = router
        .convert(&upload_request("jpg"), &fast())
        .await
        .unwrap();
    assert_eq!(job.handle.provider, "online-convert");
    assert_eq!(emulator.count("oc.start"), 1);
    assert!(emulator.state()["convertapi"]["jobs"]
        .as_array()
        .unwrap()
        .is_empty());
}

/// A fault armed over the admin endpoint is seen by the provider as the typed error the design
/// names: a 429 with `Retry-After` is `RateLimited` carrying the delay (retries off here, so the
/// error itself is observed), and a bad fault is refused.
#[tokio::test]
async fn faults_armed_over_http_reach_the_provider_typed() {
    let emulator = emulator().await;
    multiconvert_core::http::install_crypto_provider();
    let http = reqwest::Client::new();
    let admin = format!("{}/__emulator/faults", emulator.convertapi_url());
    let r = http
        .post(&admin)
        .body(r#"[{"operation": "oc.create", "fault": {"kind": "status", "status": 429, "retry_after": 7}},
                  {"operation": "ca.poll", "fault": {"kind": "busy"}, "count": 2}]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let bad = http
        .post(&admin)
        .body(r#"{"operation": "nowhere", "fault": {"kind": "reset"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    let no_retries = OnlineConvert::new(
        multiconvert_online_convert::Config::builder()
            .api_key(KEY)
            .base_url(emulator.online_convert_url())
            .http(HttpConfig::default().with_retry(RetryPolicy::none()))
            .build()
            .unwrap(),
    )
    .unwrap();
    let e = no_retries.submit(&upload_request("jpg")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimited, "{e}");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
    assert!(e.is_failover_eligible());

    // Two busy polls, then the result: no error reaches the caller.
    let ca = ca(&emulator, AsyncRoute::Current);
    convert_and_check(ca.as_ref(), &upload_request("jpg"), JPEG).await;
    assert!(emulator.count("ca.poll") >= 3);
    assert_eq!(emulator.state()["faults"]["injected"], 3);
}

/// Parts of a staged job can be removed again; a second removal is the vendor's 404.
#[tokio::test]
async fn parts_of_a_staged_job_are_removed() {
    let emulator = emulator().await;
    let oc = oc(&emulator);
    let job = oc
        .create(&JobRequest::default().conversion(Conversion::to("jpg")))
        .await
        .unwrap();
    let input = oc
        .add_input(
            &job.handle,
            &Input::remote("https://example.com/a.png".parse().unwrap()),
        )
        .await
        .unwrap();
    multiconvert_core::http::install_crypto_provider();
    let http = reqwest::Client::new();
    let url = format!(
        "{}/jobs/{}/input/{}",
        emulator.online_convert_url(),
        job.handle.id,
        input.id
    );
    let delete = || http.delete(&url).header("x-oc-api-key", KEY).send();
    assert_eq!(delete().await.unwrap().status(), 204);
    let again = delete().await.unwrap();
    assert_eq!(again.status(), 404);
    let body: serde_json::Value = again.json().await.unwrap();
    assert_eq!(body["message"], "The input does not exist");
    let back = oc.get(&job.handle).await.unwrap();
    assert!(back.inputs.is_empty());
    assert_eq!(back.status, JobStatus::Incomplete);
}

/// A ConvertAPI job submitted with an idempotency key is found again from the key alone (its
/// JobId is derived from it): a journal that kept only the key resumes without resubmitting.
#[tokio::test]
async fn a_keyed_convertapi_job_is_found_again_from_its_key() {
    use multiconvert_convertapi::request::job_id_for;
    let emulator = emulator().await;
    for route in [AsyncRoute::Current, AsyncRoute::Legacy] {
        let key = format!("batch:photo.png:jpg:{route:?}");
        let request = upload_request("jpg").idempotency_key(key.clone());
        let handle = ca(&emulator, route).submit(&request).await.unwrap();
        assert_eq!(handle.id, job_id_for(route, Some(&key)));
        // Another process, with nothing but the key.
        let fresh = ca(&emulator, route);
        let found = multiconvert_core::JobHandle::new("convertapi", job_id_for(route, Some(&key)));
        let job = fresh.wait(&found, &fast()).await.unwrap();
        assert_eq!(job.status, JobStatus::Completed);
    }
    assert_eq!(emulator.count("ca.submit"), 2, "one submit per key");
    assert_eq!(emulator.violations(), []);
}

#[tokio::test]
async fn a_job_timing_tells_when_it_ended_and_how_often_it_was_polled() {
    let emulator = emulator().await;
    for (provider, what) in [
        (
            oc(&emulator) as Arc<dyn ConversionProvider>,
            "online-convert",
        ),
        (ca(&emulator, AsyncRoute::Current), "convertapi"),
    ] {
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let handle = provider.submit(&upload_request("jpg")).await.unwrap();
        assert_eq!(
            emulator.job_timing(&handle.id).finished_unix_ms,
            None,
            "{what}"
        );
        let job = provider.wait(&handle, &fast()).await.unwrap();
        assert_eq!(job.status, JobStatus::Completed);
        let timing = emulator.job_timing(&handle.id);
        let finished = timing.finished_unix_ms.expect("a finished job has an end");
        // The work takes 20 ms; the polls are 20 ms apart: at least one found it running.
        assert!(finished >= before + 20, "{what}: {finished} vs {before}");
        assert!(timing.polls >= 2, "{what}: {timing:?}");
        // Later polls leave the end where it was (ConvertAPI's provider answers a finished job
        // from memory, so only online-convert's reaches the emulator).
        provider.poll(&handle).await.unwrap();
        let again = emulator.job_timing(&handle.id);
        assert!(again.polls >= timing.polls, "{what}");
        assert_eq!(again.finished_unix_ms, Some(finished), "{what}");
    }
    assert_eq!(emulator.job_timing("no-such-job"), Default::default());
}

#[tokio::test]
async fn a_short_convertapi_job_is_one_held_convert_and_no_poll() {
    let emulator = emulator().await;
    let held = Arc::new(
        ConvertApi::new(
            multiconvert_convertapi::Config::builder()
                .secret(SECRET)
                .base_url(emulator.convertapi_url())
                .http(fast_http())
                .build()
                .unwrap(),
        )
        .unwrap(),
    );
    convert_and_check(held.as_ref(), &upload_request("jpg"), JPEG).await;
    assert_eq!(emulator.count("ca.convert"), 1, "{}", emulator.state());
    assert_eq!(emulator.count("ca.submit"), 0);
    assert_eq!(emulator.count("ca.poll"), 0);
    assert_eq!(emulator.violations(), []);
}
