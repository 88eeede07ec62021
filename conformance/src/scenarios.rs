//! The provider-neutral scenarios. Each drives a provider through one situation against its
//! cassette and returns the normalised outcome for a snapshot, or a readable failure.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use multiconvert_core::http_types::{HeaderMap, HeaderName, HeaderValue, Method};
use multiconvert_core::{
    Capabilities, Conversion, ConversionProvider, Error, ErrorKind, Input, Job, JobHandle,
    JobRequest, JobStatus, PollPolicy, ProviderExt, SaveOptions, WebhookRequest,
};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::cassette::{render_body, Cassette};
use crate::replay::Replay;
use crate::template::{fake_secret, Bindings};

/// The remote input every `remote_*` cassette expects.
pub const REMOTE_URL: &str = "https://example.com/sample.png";

/// The small PNG every upload cassette expects (8×8 pixels, 165 bytes).
pub const SAMPLE_PNG: &[u8] = include_bytes!("../assets/sample.png");

/// What a scenario gets.
pub struct Context {
    /// The provider under test, pointed at the replay server.
    pub provider: Arc<dyn ConversionProvider>,
    /// The scenario's cassette.
    pub cassette: Cassette,
    /// The running replay (`None` when the scenario runs live against a vendor).
    pub replay: Option<Replay>,
    /// The remote input the scenario's requests name: [`REMOTE_URL`] on a replay, a URL the
    /// vendor can fetch when live.
    pub remote_url: String,
    /// The existing job of `params.job_id` when live (its real token included); on a replay
    /// the handle is made from the params.
    pub existing: Option<JobHandle>,
    /// A scratch directory, removed afterwards.
    pub workdir: tempfile::TempDir,
    /// A fast poll policy: cassettes answer at once.
    pub policy: PollPolicy,
    /// Where `file` bodies of cassettes live.
    pub fixtures: std::path::PathBuf,
}

type ScenarioFuture<'a> = Pin<Box<dyn Future<Output = Result<Value, String>> + Send + 'a>>;

/// One scenario.
pub struct Scenario {
    /// Its name (also the cassette's file stem and the test's name).
    pub name: &'static str,
    /// Whether a provider with these capabilities must pass it.
    pub applies: fn(&Capabilities) -> bool,
    /// The scenario itself.
    pub run: for<'a> fn(&'a Context) -> ScenarioFuture<'a>,
}

impl Context {
    /// The values the cassette's templates are rendered with: the replay's, or (live) none but
    /// the vendor's own.
    pub fn bindings(&self) -> Bindings {
        self.replay
            .as_ref()
            .map(Replay::bindings)
            .unwrap_or_default()
    }
}

impl std::fmt::Debug for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scenario")
            .field("name", &self.name)
            .finish()
    }
}

fn any_input(c: &Capabilities) -> bool {
    c.remote_input() || c.upload()
}

/// A vendor over the network that takes some input: it can reject, throttle and run dry.
fn remote_service(c: &Capabilities) -> bool {
    c.remote_service() && any_input(c)
}

/// Every scenario, in the order the suite runs them.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "remote_input_completes",
        applies: |c| c.remote_input(),
        run: |cx| Box::pin(remote_input_completes(cx)),
    },
    Scenario {
        name: "upload_input_completes",
        applies: |c| c.upload(),
        run: |cx| Box::pin(upload_input_completes(cx)),
    },
    Scenario {
        name: "job_fails",
        applies: any_input,
        run: |cx| Box::pin(job_fails(cx)),
    },
    Scenario {
        name: "not_found",
        applies: |_| true,
        run: |cx| Box::pin(not_found(cx)),
    },
    Scenario {
        name: "auth_rejected",
        applies: remote_service,
        run: |cx| Box::pin(auth_rejected(cx)),
    },
    Scenario {
        name: "rate_limited_then_ok",
        applies: remote_service,
        run: |cx| Box::pin(rate_limited_then_ok(cx)),
    },
    Scenario {
        name: "quota_exhausted",
        applies: remote_service,
        run: |cx| Box::pin(quota_exhausted(cx)),
    },
    Scenario {
        name: "transient_error_then_ok",
        applies: |c| c.remote_service(),
        run: |cx| Box::pin(transient_error_then_ok(cx)),
    },
    Scenario {
        name: "delete_job",
        applies: |c| c.delete(),
        run: |cx| Box::pin(delete_job(cx)),
    },
    Scenario {
        name: "webhook_completed",
        applies: |c| c.webhooks(),
        run: |cx| Box::pin(webhook_completed(cx)),
    },
    Scenario {
        name: "webhook_forged",
        applies: |c| c.signed_webhooks(),
        run: |cx| Box::pin(webhook_forged(cx)),
    },
    Scenario {
        name: "malformed_reply",
        applies: |c| c.remote_service(),
        run: |cx| Box::pin(malformed_reply(cx)),
    },
];

/// The scenario called `name`.
pub fn scenario(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

fn ensure(condition: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(what())
    }
}

/// A request for the scenario's standard conversion: `input` to JPEG, source PNG.
pub fn standard_request(input: Input) -> JobRequest {
    JobRequest::new(input, Conversion::to("jpg").from("png").category("image"))
}

fn remote_request(cx: &Context) -> Result<JobRequest, String> {
    let url = cx
        .remote_url
        .parse()
        .map_err(|e| format!("the remote input {:?} is not a URL: {e}", cx.remote_url))?;
    Ok(standard_request(Input::remote(url)))
}

/// The cassette's own input and conversion, for providers of other formats than the standard
/// PNG → JPEG: `params.input_file` (relative to the fixtures) converted to `params.target`
/// (default `jpg`) from the file's extension.
fn cassette_request(
    cx: &Context,
    input: impl FnOnce(PathBuf, String) -> Result<Input, String>,
) -> Option<Result<JobRequest, String>> {
    let file = cx.cassette.params.get("input_file")?;
    let path = cx.fixtures.join(file);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some(target) = cx.cassette.params.get("target") else {
        return Some(input(path, name).map(standard_request));
    };
    let from = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    Some(input(path, name).map(|input| {
        let mut conversion = Conversion::to(target.as_str());
        if let Some(from) = from {
            conversion = conversion.from(from);
        }
        JobRequest::new(input, conversion)
    }))
}

/// The request for scenarios that only need *some* job: the cassette's own input (see
/// [`cassette_request`]) when it names one, else remote when the provider can, else the sample
/// PNG.
fn some_request(cx: &Context) -> Result<JobRequest, String> {
    if let Some(request) = cassette_request(cx, |path, name| {
        let bytes =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Ok(Input::bytes(bytes, name))
    }) {
        return request;
    }
    if cx.provider.info().capabilities.remote_input() {
        remote_request(cx)
    } else {
        Ok(standard_request(Input::bytes(SAMPLE_PNG, "sample.png")))
    }
}

/// The handle of the cassette's existing job (`params.job_id`).
fn existing_handle(cx: &Context) -> Result<JobHandle, String> {
    if let Some(handle) = &cx.existing {
        return Ok(handle.clone());
    }
    let id = cx.cassette.param("job_id")?;
    let mut handle = JobHandle::new(cx.provider.info().name.to_string(), id);
    if let Some(token) = cx.cassette.params.get("job_token") {
        handle = handle.with_token(fake_secret(token));
    }
    Ok(handle)
}

/// A `Job` as snapshots show it: no timestamps, no raw reply, URLs reduced to their presence.
pub fn job_json(job: &Job) -> Value {
    json!({
        "handle": {"provider": job.handle.provider, "id": job.handle.id},
        "status": job.status.as_str(),
        "outputs": job.outputs.iter().map(|o| json!({
            "id": o.id,
            "filename": o.filename,
            "size": o.size,
            "content_type": o.content_type,
            "checksum": o.checksum,
            "has_url": o.url.is_some(),
        })).collect::<Vec<_>>(),
        "messages": job.messages,
    })
}

/// An `Error` as snapshots show it.
pub fn error_json(error: &Error) -> Value {
    json!({
        "kind": error.kind().as_str(),
        "operation": error.operation().as_str(),
        "http_status": error.http_status(),
        "provider_code": error.provider_code(),
        "retry_after_s": error.retry_after().map(|d| d.as_secs_f64()),
        "retryable": error.is_retryable(),
        "failover_eligible": error.is_failover_eligible(),
        "last_status": error.last_status().map(JobStatus::as_str),
    })
}

fn expect_error<T: std::fmt::Debug>(
    result: Result<T, Error>,
    kind: ErrorKind,
) -> Result<Error, String> {
    match result {
        Ok(v) => Err(format!("expected a {kind} error, got Ok({v:?})")),
        Err(e) if e.kind() == kind => {
            let shown = format!("{e} {e:?}");
            ensure(!shown.contains("mc-fake-"), || {
                format!("the error shows a secret: {shown}")
            })?;
            Ok(e)
        }
        Err(e) => Err(format!("expected a {kind} error, got {e}")),
    }
}

fn ok<T>(result: Result<T, Error>, what: &str) -> Result<T, String> {
    result.map_err(|e| format!("{what} failed: {e}"))
}

async fn completes(cx: &Context, request: JobRequest) -> Result<Value, String> {
    let job = ok(cx.provider.convert(&request, &cx.policy).await, "convert")?;
    ensure(job.status == JobStatus::Completed, || {
        format!("expected a completed job, got {}", job.status)
    })?;
    let output = job
        .outputs
        .first()
        .ok_or_else(|| "a completed job has no output".to_owned())?;
    let saved = ok(
        cx.provider
            .save(output, cx.workdir.path(), &SaveOptions::default())
            .await,
        "save",
    )?;
    ensure(saved.size > 0, || "the saved output is empty".into())?;
    ensure(saved.path.starts_with(cx.workdir.path()), || {
        format!(
            "the output was written outside the target: {}",
            saved.path.display()
        )
    })?;
    let debug = format!("{job:?}");
    ensure(!debug.contains("mc-fake-"), || {
        format!("Debug of a job shows a secret: {debug}")
    })?;
    Ok(json!({
        "job": job_json(&job),
        "saved": {
            "filename": saved.path.file_name().map(|n| n.to_string_lossy().into_owned()),
            "size": saved.size,
        },
    }))
}

async fn remote_input_completes(cx: &Context) -> Result<Value, String> {
    completes(cx, remote_request(cx)?).await
}

async fn upload_input_completes(cx: &Context) -> Result<Value, String> {
    // A file on disk, uploaded from there: the cassette's own input, else the sample PNG.
    let local = |path: PathBuf, name: String| {
        let copy = cx.workdir.path().join(name);
        std::fs::copy(&path, &copy).map_err(|e| format!("cannot copy {}: {e}", path.display()))?;
        Ok(Input::path(copy))
    };
    if let Some(request) = cassette_request(cx, local) {
        return completes(cx, request?).await;
    }
    let path = cx.workdir.path().join("sample.png");
    std::fs::write(&path, SAMPLE_PNG).map_err(|e| e.to_string())?;
    completes(cx, standard_request(Input::path(path))).await
}

async fn job_fails(cx: &Context) -> Result<Value, String> {
    let handle = ok(cx.provider.submit(&some_request(cx)?).await, "submit")?;
    let job = ok(cx.provider.wait(&handle, &cx.policy).await, "wait")?;
    ensure(job.status == JobStatus::Failed, || {
        format!("expected a failed job, got {}", job.status)
    })?;
    ensure(job.errors().next().is_some(), || {
        "a failed job carries no error message".into()
    })?;
    let error = multiconvert_core::failed_job_error(&cx.provider.info().name, &job);
    Ok(json!({"job": job_json(&job), "convert_error": error_json(&error)}))
}

async fn not_found(cx: &Context) -> Result<Value, String> {
    let handle = existing_handle(cx)?;
    let error = expect_error(cx.provider.poll(&handle).await, ErrorKind::NotFound)?;
    Ok(json!({"error": error_json(&error)}))
}

async fn auth_rejected(cx: &Context) -> Result<Value, String> {
    let error = expect_error(
        cx.provider.submit(&some_request(cx)?).await,
        ErrorKind::Unauthenticated,
    )?;
    ensure(error.is_failover_eligible(), || {
        "rejected credentials must be failover-eligible".into()
    })?;
    Ok(json!({"error": error_json(&error)}))
}

async fn rate_limited_then_ok(cx: &Context) -> Result<Value, String> {
    let handle = ok(cx.provider.submit(&some_request(cx)?).await, "submit")?;
    Ok(json!({"handle": {"provider": handle.provider, "id": handle.id}}))
}

async fn quota_exhausted(cx: &Context) -> Result<Value, String> {
    let error = expect_error(
        cx.provider.submit(&some_request(cx)?).await,
        ErrorKind::QuotaExhausted,
    )?;
    ensure(error.is_failover_eligible(), || {
        "an exhausted quota must be failover-eligible".into()
    })?;
    Ok(json!({"error": error_json(&error)}))
}

async fn transient_error_then_ok(cx: &Context) -> Result<Value, String> {
    let handle = existing_handle(cx)?;
    let job = ok(cx.provider.poll(&handle).await, "poll")?;
    Ok(json!({"job": job_json(&job)}))
}

/// Deletes the cassette's job; a provider without HTTP traffic (no `params.job_id`) runs a job
/// of its own first, deletes it, and must then no longer know it.
async fn delete_job(cx: &Context) -> Result<Value, String> {
    if cx.cassette.params.contains_key("job_id") {
        let handle = existing_handle(cx)?;
        ok(cx.provider.delete(&handle).await, "delete")?;
        return Ok(json!({"deleted": true}));
    }
    let job = ok(
        cx.provider.convert(&some_request(cx)?, &cx.policy).await,
        "convert",
    )?;
    ok(cx.provider.delete(&job.handle).await, "delete")?;
    let gone = expect_error(cx.provider.poll(&job.handle).await, ErrorKind::NotFound)?;
    Ok(json!({"deleted": true, "then_poll": error_json(&gone)}))
}

/// The cassette's inbound webhook as a [`WebhookRequest`]. A header value
/// `{{hmac_sha256_hex:NAME}}` becomes the hex HMAC-SHA256 of the body under `fake_secret(NAME)`.
pub fn inbound_request(
    cassette: &Cassette,
    bindings: &Bindings,
    fixtures: &Path,
) -> Result<WebhookRequest, String> {
    let inbound = cassette
        .webhook
        .as_ref()
        .ok_or("the cassette has no webhook")?;
    let body = match &inbound.body {
        Some(b) => render_body(b, bindings, fixtures)?,
        None => Vec::new(),
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &inbound.headers {
        let value = match value
            .strip_prefix("{{hmac_sha256_hex:")
            .and_then(|v| v.strip_suffix("}}"))
        {
            Some(secret) => {
                let mut mac = Hmac::<Sha256>::new_from_slice(fake_secret(secret).as_bytes())
                    .expect("any key length");
                mac.update(&body);
                hex::encode(mac.finalize().into_bytes())
            }
            None => bindings.render(value),
        };
        headers.insert(
            HeaderName::from_bytes(name.as_bytes()).map_err(|e| e.to_string())?,
            HeaderValue::from_str(&value).map_err(|e| e.to_string())?,
        );
    }
    let method = Method::from_bytes(inbound.method.as_bytes()).map_err(|e| e.to_string())?;
    Ok(WebhookRequest::new(
        method,
        bindings.render(&inbound.path),
        headers,
        body,
    ))
}

async fn webhook_completed(cx: &Context) -> Result<Value, String> {
    let request = inbound_request(&cx.cassette, &cx.bindings(), &cx.fixtures)?;
    let event = ok(cx.provider.webhook(&request), "webhook")?;
    let expected = cx.cassette.param("job_id")?;
    ensure(event.job_id == expected, || {
        format!("the event names job {}, expected {expected}", event.job_id)
    })?;
    let job = ok(cx.provider.confirm(&event).await, "confirm")?;
    ensure(job.status.is_terminal(), || {
        format!("the confirmed job is not terminal: {}", job.status)
    })?;
    Ok(json!({
        "event": {
            "job_id": event.job_id,
            "status": event.status.as_ref().map(JobStatus::as_str),
            "verified": event.verified,
        },
        "confirmed": job_json(&job),
    }))
}

async fn webhook_forged(cx: &Context) -> Result<Value, String> {
    let request = inbound_request(&cx.cassette, &cx.bindings(), &cx.fixtures)?;
    let error = expect_error(cx.provider.webhook(&request), ErrorKind::WebhookRejected)?;
    Ok(json!({"error": error_json(&error)}))
}

async fn malformed_reply(cx: &Context) -> Result<Value, String> {
    let handle = existing_handle(cx)?;
    let error = expect_error(cx.provider.poll(&handle).await, ErrorKind::Protocol)?;
    Ok(json!({"error": error_json(&error)}))
}

/// The poll policy scenarios wait with: fast, cassettes answer at once.
pub fn fast_policy() -> PollPolicy {
    PollPolicy::fixed(Duration::from_millis(5), Duration::from_secs(20))
}
