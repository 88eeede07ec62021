//! The scenarios live: against a vendor (or the emulator) instead of a replay, through a tap on
//! the provider's HTTP client, so the run can be recorded as a cassette ([`crate::record`]) or
//! compared with a baseline ([`crate::check`]).
//!
//! What a scenario needs that it cannot ask of a real vendor (a throttled answer, a garbled
//! reply) it asks of the [`LiveTarget`]: the emulator arms a fault, a real vendor declines and
//! the scenario is reported as not available live. Every job a live run creates is deleted at
//! the end, whatever happened.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use multiconvert_core::http::HttpConfig;
use multiconvert_core::tap::{Exchange, HttpTap};
use multiconvert_core::{
    ConversionProvider, Job, JobHandle, JobRequest, JobStatus, Output, ProviderExt, ProviderInfo,
    WebhookEvent, WebhookRequest,
};
use serde::Serialize;
use serde_json::Value;
use wiremock::{matchers::any, Mock, MockServer, ResponseTemplate};

use crate::cassette::{Cassette, InboundRequest, Provenance, ProvenanceKind, ResponseBody};
use crate::scenarios::{self, Context, SAMPLE_PNG};

/// Which credentials a live provider is built with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credentials {
    /// The ones the environment gives.
    Valid,
    /// A credential the vendor rejects (for `auth_rejected`).
    Rejected,
}

/// A situation a scenario needs the target to produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// The next submit is throttled (429 with `Retry-After`), the one after it goes through.
    ThrottleSubmit,
    /// The next submit is refused for an exhausted quota.
    QuotaOnSubmit,
    /// The next poll fails with a transient server error.
    TransientPoll,
    /// The next poll is answered with a body that is not JSON.
    GarbagePoll,
}

/// The vendor a live run talks to, as the app has configured it. Implemented for the built-in
/// vendors by the `multiconvert` CLI; a third-party provider implements it to record and check
/// its own cassettes.
#[async_trait]
pub trait LiveTarget: Send + Sync {
    /// The suite's name (`convertapi-current`, …), as in its snapshots.
    fn suite(&self) -> &str;
    /// Where the vendor is (no credentials in it).
    fn base_url(&self) -> String;
    /// The provider, built with `http` (which carries the recording tap).
    fn provider(
        &self,
        http: HttpConfig,
        credentials: Credentials,
    ) -> Result<Arc<dyn ConversionProvider>, String>;
    /// Every secret the providers are built with, by the name replay's fake secrets use
    /// (`api_key`, `secret`, `webhook_secret`, …), the rejected credential included.
    fn secrets(&self) -> Vec<(String, String)>;
    /// A job id in the vendor's format that no job has.
    fn unknown_job_id(&self) -> String;
    /// Arms `fault` for the next matching request; `Ok(false)` when the target cannot (a real
    /// vendor).
    async fn arm(&self, fault: Fault) -> Result<bool, String>;
    /// Whether the vendor reaches this machine's loopback (the emulator does): remote inputs
    /// are then served from here and callbacks received here.
    fn reaches_loopback(&self) -> bool;
    /// A remote input the vendor can fetch, when it does not reach loopback (a public PNG).
    fn public_sample_url(&self) -> Option<String> {
        None
    }
}

/// What running a scenario live involves, before it runs.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    /// The scenario.
    pub scenario: &'static str,
    /// Jobs it creates at the vendor (each deleted at the end).
    pub jobs: u32,
    /// The fault it needs the target to produce, if any.
    pub fault: Option<Fault>,
    /// Whether it needs the vendor to call back to this machine.
    pub callback: bool,
    /// Whether it needs the vendor to fetch a remote input.
    pub remote: bool,
}

/// The live plan of scenario `name`.
pub fn plan(name: &str) -> Option<Plan> {
    let scenario = scenarios::scenario(name)?.name;
    let (jobs, fault, callback, remote) = match scenario {
        "remote_input_completes" => (1, None, false, true),
        "upload_input_completes" => (1, None, false, false),
        "job_fails" => (1, None, false, true),
        "not_found" => (0, None, false, false),
        "auth_rejected" => (0, None, false, false),
        "rate_limited_then_ok" => (1, Some(Fault::ThrottleSubmit), false, false),
        "quota_exhausted" => (0, Some(Fault::QuotaOnSubmit), false, false),
        "transient_error_then_ok" => (1, Some(Fault::TransientPoll), false, false),
        "delete_job" => (1, None, false, false),
        "webhook_completed" | "webhook_forged" => (1, None, true, false),
        "malformed_reply" => (1, Some(Fault::GarbagePoll), false, false),
        _ => return None,
    };
    Some(Plan {
        scenario,
        jobs,
        fault,
        callback,
        remote,
    })
}

/// Why a scenario could not run live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotRun {
    /// The provider's capabilities rule it out (as on a replay).
    NotApplicable(String),
    /// The target cannot produce what it needs (a fault, a callback to this machine).
    Unavailable(String),
}

/// One live run: the scenario's outcome and the traffic it made.
#[derive(Debug)]
pub struct LiveRun {
    /// The scenario.
    pub scenario: &'static str,
    /// The normalised outcome, as the snapshots show it, or why the scenario failed.
    pub outcome: Result<Value, String>,
    /// The scenario's own exchanges, in order (setup and clean-up traffic excluded).
    pub exchanges: Vec<Exchange>,
    /// The cassette's params the scenario used (`job_id`, `job_token`).
    pub params: BTreeMap<String, String>,
    /// The callback the vendor sent, for the webhook scenarios, as received.
    pub webhook: Option<ReceivedCallback>,
    /// Every status the scenario's polls saw, in order.
    pub statuses: Vec<JobStatus>,
    /// The jobs created, and whether deleting each at the end worked.
    pub cleanup: Vec<(String, Result<(), String>)>,
}

/// A callback as the vendor sent it.
#[derive(Clone)]
pub struct ReceivedCallback {
    /// The method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// The headers, lower-case names.
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
}

impl std::fmt::Debug for ReceivedCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceivedCallback")
            .field("method", &self.method)
            .field("bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Exchange>>);

impl HttpTap for Recorder {
    fn exchange(&self, exchange: Exchange) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(exchange);
    }
}

impl Recorder {
    fn take(&self) -> Vec<Exchange> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The scenario's provider, noting every job it creates and every status it sees.
#[derive(Debug)]
struct Tracked {
    inner: Arc<dyn ConversionProvider>,
    seen: Arc<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    jobs: Mutex<Vec<JobHandle>>,
    statuses: Mutex<Vec<JobStatus>>,
}

fn push<T>(list: &Mutex<Vec<T>>, item: T) {
    list.lock().unwrap_or_else(|p| p.into_inner()).push(item);
}

fn taken<T: Clone>(list: &Mutex<Vec<T>>) -> Vec<T> {
    list.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

#[async_trait]
impl ConversionProvider for Tracked {
    fn info(&self) -> &ProviderInfo {
        self.inner.info()
    }
    async fn submit(&self, request: &JobRequest) -> multiconvert_core::Result<JobHandle> {
        let handle = self.inner.submit(request).await?;
        push(&self.seen.jobs, handle.clone());
        Ok(handle)
    }
    async fn poll(&self, handle: &JobHandle) -> multiconvert_core::Result<Job> {
        let job = self.inner.poll(handle).await?;
        push(&self.seen.statuses, job.status.clone());
        Ok(job)
    }
    fn webhook(&self, request: &WebhookRequest) -> multiconvert_core::Result<WebhookEvent> {
        self.inner.webhook(request)
    }
    async fn delete(&self, handle: &JobHandle) -> multiconvert_core::Result<()> {
        self.inner.delete(handle).await
    }
    async fn resume(
        &self,
        handle: &JobHandle,
        request: &JobRequest,
    ) -> multiconvert_core::Result<JobHandle> {
        let handle = self.inner.resume(handle, request).await?;
        push(&self.seen.jobs, handle.clone());
        Ok(handle)
    }
    async fn download(
        &self,
        output: &Output,
    ) -> multiconvert_core::Result<multiconvert_core::ByteStream> {
        self.inner.download(output).await
    }
}

/// Serves `bytes` as `/sample.png` on loopback.
async fn serve(bytes: &[u8]) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "image/png")
                .set_body_bytes(bytes.to_vec()),
        )
        .mount(&server)
        .await;
    server
}

/// The loopback servers of a live run on a target that reaches loopback: the sample, a server
/// that has no sample (both as `/sample.png`, so a recording names them as
/// [`scenarios::REMOTE_URL`]), and a callback receiver.
pub struct Loopback {
    good: MockServer,
    broken: MockServer,
    callbacks: MockServer,
}

impl Loopback {
    /// Starts the three servers.
    pub async fn start() -> Loopback {
        let callbacks = MockServer::start().await;
        Mock::given(any())
            .respond_with(ResponseTemplate::new(200))
            .mount(&callbacks)
            .await;
        // The documented failure of job_fails: the vendor cannot download the input.
        let broken = MockServer::start().await;
        Mock::given(any())
            .respond_with(ResponseTemplate::new(404))
            .mount(&broken)
            .await;
        Loopback {
            good: serve(SAMPLE_PNG).await,
            broken,
            callbacks,
        }
    }

    /// The origins a recording replaces with [`scenarios::REMOTE_URL`]'s.
    pub fn sample_origins(&self) -> Vec<String> {
        vec![self.good.uri(), self.broken.uri()]
    }
}

/// Runs scenario `name` live against `target` (a poll policy of `policy`), deleting every job
/// it created at the end. `loopback` is required when the target reaches loopback.
pub async fn run(
    target: &dyn LiveTarget,
    name: &str,
    policy: multiconvert_core::PollPolicy,
    loopback: Option<&Loopback>,
) -> Result<LiveRun, NotRun> {
    let plan = plan(name).ok_or_else(|| NotRun::NotApplicable(format!("no scenario {name}")))?;
    let setup = target
        .provider(HttpConfig::default(), Credentials::Valid)
        .map_err(NotRun::Unavailable)?;
    let applies = scenarios::scenario(name).map(|s| s.applies);
    if let Some(applies) = applies {
        if !applies(&setup.info().capabilities) {
            return Err(NotRun::NotApplicable(format!(
                "{} does not declare the capabilities {name} needs",
                setup.info().name
            )));
        }
    }
    let loopback = match (target.reaches_loopback(), loopback) {
        (true, Some(l)) => Some(l),
        (true, None) => {
            return Err(NotRun::Unavailable(
                "the target reaches loopback but no loopback servers were started".into(),
            ))
        }
        (false, _) => None,
    };
    if plan.callback && loopback.is_none() {
        return Err(NotRun::Unavailable(format!(
            "{name} needs the vendor to call back to this machine"
        )));
    }
    let remote_url = match (name, loopback) {
        ("job_fails", Some(l)) => format!("{}/sample.png", l.broken.uri()),
        (_, Some(l)) => format!("{}/sample.png", l.good.uri()),
        // A real vendor: the documented sample URL fails to download, which is what job_fails
        // wants; a completing remote input needs a public one.
        ("job_fails", None) => scenarios::REMOTE_URL.to_owned(),
        (_, None) => match target.public_sample_url() {
            Some(url) => url,
            None if plan.remote => {
                return Err(NotRun::Unavailable(format!(
                    "{name} needs a public sample URL (MULTICONVERT_CONFORMANCE_SAMPLE_URL)"
                )))
            }
            None => scenarios::REMOTE_URL.to_owned(),
        },
    };
    let recorder = Arc::new(Recorder::default());
    let credentials = if name == "auth_rejected" {
        Credentials::Rejected
    } else {
        Credentials::Valid
    };
    let tapped = target
        .provider(
            HttpConfig::default().with_tap(recorder.clone()),
            credentials,
        )
        .map_err(NotRun::Unavailable)?;
    let seen = Arc::new(Seen::default());
    let provider: Arc<dyn ConversionProvider> = Arc::new(Tracked {
        inner: tapped,
        seen: seen.clone(),
    });

    let mut created: Vec<JobHandle> = Vec::new();
    let prepared = prepare(
        target,
        name,
        &plan,
        &setup,
        &policy,
        &remote_url,
        loopback,
        &mut created,
    )
    .await;
    let outcome = match prepared {
        Err(e) => Err(e),
        Ok(prepared) => {
            let workdir = tempfile::tempdir().map_err(|e| NotRun::Unavailable(e.to_string()))?;
            let cx = Context {
                provider,
                cassette: Cassette {
                    provenance: Provenance {
                        kind: ProvenanceKind::Recorded,
                        source: target.base_url(),
                        notes: String::new(),
                        recorded: None,
                    },
                    params: prepared.params.clone(),
                    webhook: prepared.webhook.as_ref().map(inbound_literal),
                    interactions: Vec::new(),
                    outcome: None,
                },
                replay: None,
                remote_url,
                existing: prepared.existing.clone(),
                workdir,
                policy,
                fixtures: std::env::temp_dir(),
            };
            let scenario = scenarios::scenario(name).expect("planned scenarios exist");
            let outcome = (scenario.run)(&cx).await;
            Ok((outcome, prepared))
        }
    };
    let exchanges = recorder.take();
    created.extend(taken(&seen.jobs));
    let cleanup = cleanup(&setup, created).await;
    let statuses = taken(&seen.statuses);
    let (outcome, prepared) = outcome?;
    Ok(LiveRun {
        scenario: plan.scenario,
        outcome,
        exchanges,
        params: prepared.params,
        webhook: prepared.webhook,
        statuses,
        cleanup,
    })
}

/// Deletes every job once (the scenario may have deleted one already: not found is fine).
async fn cleanup(
    setup: &Arc<dyn ConversionProvider>,
    created: Vec<JobHandle>,
) -> Vec<(String, Result<(), String>)> {
    let mut done: Vec<(String, Result<(), String>)> = Vec::new();
    for handle in created {
        if done.iter().any(|(id, _)| *id == handle.id) {
            continue;
        }
        let result = match setup.delete(&handle).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == multiconvert_core::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.to_string()),
        };
        done.push((handle.id.clone(), result));
    }
    done
}

struct Prepared {
    params: BTreeMap<String, String>,
    existing: Option<JobHandle>,
    webhook: Option<ReceivedCallback>,
}

/// The callback as the scenario's provider is handed it: literal, templates have nothing to
/// fill in a live run.
fn inbound_literal(callback: &ReceivedCallback) -> InboundRequest {
    InboundRequest {
        method: callback.method.clone(),
        path: callback.path.clone(),
        headers: callback.headers.clone(),
        body: Some(ResponseBody::Base64(base64_encode(&callback.body))),
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The forged signature the `webhook_forged` scenario sends: right length, wrong value.
pub const FORGED_SIGNATURE: &str =
    "0000000000000000000000000000000000000000000000000000000000000000";

#[allow(clippy::too_many_arguments)]
async fn prepare(
    target: &dyn LiveTarget,
    name: &str,
    plan: &Plan,
    setup: &Arc<dyn ConversionProvider>,
    policy: &multiconvert_core::PollPolicy,
    remote_url: &str,
    loopback: Option<&Loopback>,
    created: &mut Vec<JobHandle>,
) -> Result<Prepared, NotRun> {
    let mut params = BTreeMap::new();
    let mut existing = None;
    let mut webhook = None;
    let unavailable = |what: &str, e: multiconvert_core::Error| {
        NotRun::Unavailable(format!("setting up {name}: {what} failed: {e}"))
    };
    let request = || -> Result<JobRequest, NotRun> {
        let url = remote_url
            .parse()
            .map_err(|e| NotRun::Unavailable(format!("bad sample URL: {e}")))?;
        Ok(if setup.info().capabilities.remote_input() {
            scenarios::standard_request(multiconvert_core::Input::remote(url))
        } else {
            scenarios::standard_request(multiconvert_core::Input::bytes(SAMPLE_PNG, "sample.png"))
        })
    };
    // A finished job of our own, for the scenarios that act on an existing one.
    let mut existing_job = |handle: JobHandle, params: &mut BTreeMap<String, String>| {
        params.insert("job_id".to_owned(), handle.id.clone());
        if handle.token.is_some() {
            params.insert("job_token".to_owned(), "job_token".to_owned());
        }
        existing = Some(handle);
    };
    match name {
        "not_found" => {
            params.insert("job_id".to_owned(), target.unknown_job_id());
        }
        "transient_error_then_ok" | "delete_job" | "malformed_reply" => {
            let handle = finished(setup, request()?, policy, created)
                .await
                .map_err(|(what, e)| unavailable(what, e))?;
            existing_job(handle, &mut params);
        }
        "webhook_completed" | "webhook_forged" => {
            let loopback = loopback.expect("checked by the caller");
            let url = format!("{}/hooks/{}", loopback.callbacks.uri(), target.suite());
            let callback = url
                .parse()
                .map_err(|e| NotRun::Unavailable(format!("bad callback URL: {e}")))?;
            let handle = finished(setup, request()?.callback(callback), policy, created)
                .await
                .map_err(|(what, e)| unavailable(what, e))?;
            existing_job(handle, &mut params);
            let mut received = wait_for_callback(&loopback.callbacks)
                .await
                .ok_or_else(|| {
                    NotRun::Unavailable("the vendor sent no callback within 10 s".into())
                })?;
            if name == "webhook_forged" {
                for (header, value) in received.headers.iter_mut() {
                    if header.contains("signature") {
                        *value = FORGED_SIGNATURE.to_owned();
                    }
                }
            }
            webhook = Some(received);
        }
        _ => {}
    }
    if let Some(fault) = plan.fault {
        match target.arm(fault).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(NotRun::Unavailable(format!(
                    "{name} needs the target to produce {fault:?}; only the emulator can"
                )))
            }
            Err(e) => return Err(NotRun::Unavailable(format!("arming {fault:?}: {e}"))),
        }
    }
    Ok(Prepared {
        params,
        existing,
        webhook,
    })
}

/// Submits `request` through the untapped `setup` provider and waits for the job to finish,
/// noting it for the clean-up.
async fn finished(
    setup: &Arc<dyn ConversionProvider>,
    request: JobRequest,
    policy: &multiconvert_core::PollPolicy,
    created: &mut Vec<JobHandle>,
) -> Result<JobHandle, (&'static str, multiconvert_core::Error)> {
    let handle = setup.submit(&request).await.map_err(|e| ("submit", e))?;
    created.push(handle.clone());
    setup.wait(&handle, policy).await.map_err(|e| ("wait", e))?;
    Ok(handle)
}

async fn wait_for_callback(server: &MockServer) -> Option<ReceivedCallback> {
    for _ in 0..200 {
        if let Some(request) = server
            .received_requests()
            .await
            .and_then(|r| r.into_iter().last())
        {
            let path = match request.url.query() {
                Some(q) => format!("{}?{q}", request.url.path()),
                None => request.url.path().to_owned(),
            };
            return Some(ReceivedCallback {
                method: request.method.to_string(),
                path,
                headers: request
                    .headers
                    .iter()
                    .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                    .filter(|(k, _)| {
                        !matches!(
                            k.as_str(),
                            "host" | "content-length" | "accept" | "accept-encoding"
                        )
                    })
                    .collect(),
                body: request.body.clone(),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}
