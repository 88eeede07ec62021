//! The fault matrix: every fault the emulator injects × every operation of a job × every vendor
//! (ConvertAPI on both async routes and held, CloudConvert waiting on its sync host and polling), through `Failover`, at webhooks, and under a vendor
//! that never answers well. Each cell runs a whole job (submit, wait, save, delete) against a
//! fresh emulator and must hold, whatever its outcome:
//!
//! - at most one conversion run by the vendors (the emulator's own count), exactly one if the
//!   job completed;
//! - no panic; an outcome that is a typed error or a completed job;
//! - no secret (account keys, job tokens) in any error, `Display` or `Debug`, nor in any
//!   `tracing` event at TRACE level;
//! - nothing written outside the output directory, no partial file left in it;
//! - an end within a bound, the wait's deadline included.
//!
//! The tables of `docs/reliability.md` are written by this suite: the test fails when the file
//! differs from what the suite found, and `MULTICONVERT_UPDATE_DOCS=1` rewrites it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use multiconvert_cloudconvert::CloudConvert;
use multiconvert_convertapi::{AsyncRoute, ConvertApi, SubmitStyle};
use multiconvert_core::failover::Failover;
use multiconvert_core::http::{HttpConfig, RetryPolicy, Timeouts};
use multiconvert_core::receiver::WebhookReceiver;
use multiconvert_core::{
    CallbackSigner, Conversion, ConversionProvider, Error, Input, JobRequest, JobStatus,
    PollPolicy, ProviderExt, SaveOptions,
};
use multiconvert_emulator::{Emulator, EmulatorConfig, Fault, FaultSpec, Running};
use multiconvert_online_convert::OnlineConvert;

const OC_KEY: &str = "matrix-oc-key-5e1f0c7a9b";
const CA_SECRET: &str = "matrix-ca-secret-8d2b4f6a1c";
const CC_KEY: &str = "matrix-cc-key-4b8e2d6f0a";
const WEBHOOK_SECRET: &str = "matrix-webhook-secret-3a7c9e";

// --- logs: every tracing event of the clients, at TRACE ---------------------------------------

/// Every event and span field the client crates emit, as text (the emulator's own are left out:
/// it plays the vendor, who knows the keys).
fn logs() -> &'static Mutex<String> {
    static LOGS: OnceLock<Mutex<String>> = OnceLock::new();
    LOGS.get_or_init(|| Mutex::new(String::new()))
}

struct Capture;

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        let _ = write!(self.0, " {}={}", field.name(), value);
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        !metadata.target().starts_with("multiconvert_emulator")
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut line = format!("span {}", span.metadata().name());
        span.record(&mut Fields(&mut line));
        line.push('\n');
        logs().lock().unwrap().push_str(&line);
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        tracing::span::Id::from_u64(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        let mut line = String::from("record");
        values.record(&mut Fields(&mut line));
        line.push('\n');
        logs().lock().unwrap().push_str(&line);
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = format!("{} {}", event.metadata().level(), event.metadata().target());
        event.record(&mut Fields(&mut line));
        line.push('\n');
        logs().lock().unwrap().push_str(&line);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

fn capture_logs() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        tracing::subscriber::set_global_default(Capture).expect("the only subscriber");
    });
}

/// Job tokens seen in handles: secrets too.
fn tokens() -> &'static Mutex<Vec<String>> {
    static TOKENS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    TOKENS.get_or_init(|| Mutex::new(Vec::new()))
}

fn assert_no_secret(what: &str, text: &str) {
    let mut secrets = vec![
        OC_KEY.to_owned(),
        CA_SECRET.to_owned(),
        CC_KEY.to_owned(),
        WEBHOOK_SECRET.to_owned(),
    ];
    secrets.extend(tokens().lock().unwrap().iter().cloned());
    for secret in secrets {
        assert!(!text.contains(&secret), "a secret in {what}: {text}");
    }
}

// --- the lanes: a vendor and how the crate talks to it ---------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Lane {
    OnlineConvert,
    ConvertApiLegacy,
    ConvertApiCurrent,
    ConvertApiHeld,
    CloudConvertSync,
    CloudConvertPoll,
}

impl Lane {
    const ALL: [Lane; 6] = [
        Lane::OnlineConvert,
        Lane::ConvertApiLegacy,
        Lane::ConvertApiCurrent,
        Lane::ConvertApiHeld,
        Lane::CloudConvertSync,
        Lane::CloudConvertPoll,
    ];

    fn title(self) -> &'static str {
        match self {
            Lane::OnlineConvert => "online-convert (staged job: create, upload, start)",
            Lane::ConvertApiLegacy => "ConvertAPI, async on the legacy route (`?Async=true`, `/job/{id}`)",
            Lane::ConvertApiCurrent => "ConvertAPI, async on the current route (`/async/…`)",
            Lane::ConvertApiHeld => "ConvertAPI, held (semi-async convert with a client JobId, the default for short jobs)",
            Lane::CloudConvertSync => "CloudConvert, waiting on the sync host (task graph: create, upload through the task form, one blocking wait)",
            Lane::CloudConvertPoll => "CloudConvert, polling (no sync host configured)",
        }
    }

    /// The operations a job of this lane goes through, as the emulator names them, with the
    /// step of the job each belongs to.
    fn operations(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Lane::OnlineConvert => &[
                ("oc.create", "submit"),
                ("oc.upload", "upload"),
                ("oc.start", "submit"),
                ("oc.poll", "poll"),
                ("oc.download", "download"),
                ("oc.delete", "delete"),
            ],
            Lane::ConvertApiLegacy | Lane::ConvertApiCurrent => &[
                ("ca.upload", "upload"),
                ("ca.submit", "submit"),
                ("ca.poll", "poll"),
                ("ca.download", "download"),
                ("ca.delete", "delete"),
            ],
            Lane::ConvertApiHeld => &[
                ("ca.upload", "upload"),
                ("ca.convert", "submit"),
                ("ca.download", "download"),
                ("ca.delete", "delete"),
            ],
            Lane::CloudConvertSync => &[
                ("cc.create", "submit"),
                ("cc.upload", "upload"),
                ("cc.wait", "wait"),
                ("cc.download", "download"),
                ("cc.delete", "delete"),
            ],
            Lane::CloudConvertPoll => &[
                ("cc.create", "submit"),
                ("cc.upload", "upload"),
                ("cc.poll", "poll"),
                ("cc.download", "download"),
                ("cc.delete", "delete"),
            ],
        }
    }

    fn conversions(self, emulator: &Running) -> u64 {
        match self {
            Lane::OnlineConvert => emulator.count("oc.conversions"),
            Lane::CloudConvertSync | Lane::CloudConvertPoll => emulator.count("cc.conversions"),
            _ => emulator.count("ca.conversions"),
        }
    }
}

fn http() -> HttpConfig {
    let mut timeouts = Timeouts::default();
    timeouts.request = Duration::from_secs(1);
    // Each under the slow fault's 2 s, so that fault always outlasts its request.
    timeouts.upload = Duration::from_secs(1);
    timeouts.download = Duration::from_secs(1);
    HttpConfig::default().with_timeouts(timeouts).with_retry(
        RetryPolicy::default()
            .with_backoff(Duration::from_millis(10), Duration::from_millis(50))
            .with_max_retry_after(Duration::from_secs(2)),
    )
}

fn policy() -> PollPolicy {
    PollPolicy::fixed(Duration::from_millis(20), Duration::from_secs(5))
}

fn provider(lane: Lane, emulator: &Running) -> Arc<dyn ConversionProvider> {
    match lane {
        Lane::OnlineConvert => Arc::new(
            OnlineConvert::new(
                multiconvert_online_convert::Config::builder()
                    .api_key(OC_KEY)
                    .base_url(emulator.online_convert_url())
                    .webhook_secret(WEBHOOK_SECRET)
                    .poll_policy(policy())
                    .http(http())
                    .build()
                    .unwrap(),
            )
            .unwrap(),
        ),
        Lane::CloudConvertSync | Lane::CloudConvertPoll => {
            let mut config = multiconvert_cloudconvert::Config::builder()
                .api_key(CC_KEY)
                .base_url(emulator.cloudconvert_url())
                .webhook_secret(WEBHOOK_SECRET)
                .poll_policy(policy())
                .http(http());
            if lane == Lane::CloudConvertSync {
                config = config.sync_base_url(emulator.cloudconvert_sync_url());
            }
            Arc::new(CloudConvert::new(config.build().unwrap()).unwrap())
        }
        _ => {
            let (route, style) = match lane {
                Lane::ConvertApiLegacy => (AsyncRoute::Legacy, SubmitStyle::Async),
                Lane::ConvertApiCurrent => (AsyncRoute::Current, SubmitStyle::Async),
                _ => (AsyncRoute::Current, SubmitStyle::Auto),
            };
            Arc::new(
                ConvertApi::new(
                    multiconvert_convertapi::Config::builder()
                        .secret(CA_SECRET)
                        .base_url(emulator.convertapi_url())
                        .route(route)
                        .submit_style(style)
                        .poll_policy(policy())
                        .http(http())
                        .build()
                        .unwrap(),
                )
                .unwrap(),
            )
        }
    }
}

async fn emulator(faults: &[FaultSpec]) -> Running {
    let mut config = EmulatorConfig::default()
        .work(Duration::from_millis(50))
        .online_convert_key(OC_KEY)
        .convertapi_secret(CA_SECRET)
        .cloudconvert_key(CC_KEY)
        .webhook_secret(WEBHOOK_SECRET);
    for fault in faults {
        config = config.fault(fault.clone());
    }
    Emulator::start(config).await.unwrap()
}

fn request() -> JobRequest {
    let sample = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/samples"))
        .join("photo.png");
    JobRequest::new(Input::path(sample), Conversion::to("jpg"))
}

// --- one cell ----------------------------------------------------------------------------------

/// What a whole job came to: completed, or the first typed error and the step it came from.
#[derive(Debug)]
struct Outcome {
    result: Result<(), (String, Error)>,
}

impl Outcome {
    fn cell(&self) -> String {
        match &self.result {
            Ok(()) => "ok".into(),
            Err((step, e)) => format!("{} at {step}", e.kind().as_str()),
        }
    }
}

/// Submits, waits, saves into `out`, deletes: the job a user runs.
async fn run_job(provider: &dyn ConversionProvider, out: &Path) -> Outcome {
    let step = |name: &str| {
        let name = name.to_owned();
        move |e: Error| (name, e)
    };
    let result = async {
        let handle = provider.submit(&request()).await.map_err(step("submit"))?;
        if let Some(token) = &handle.token {
            tokens().lock().unwrap().push(token.expose().clone());
        }
        let job = provider
            .wait(&handle, &policy())
            .await
            .map_err(step("wait"))?;
        if job.status != JobStatus::Completed {
            return Err((
                "wait".to_owned(),
                Error::new(
                    multiconvert_core::ErrorKind::ConversionFailed,
                    provider.info().name.clone(),
                    multiconvert_core::Operation::Poll,
                    format!("the job ended {}", job.status),
                ),
            ));
        }
        provider
            .save_all(&job, out, &SaveOptions::default())
            .await
            .map_err(step("download"))?;
        provider.delete(&handle).await.map_err(step("delete"))?;
        Ok(())
    }
    .await;
    Outcome { result }
}

/// The directory's files, checked: none partial, none outside it.
fn check_out_dir(root: &Path, out: &Path) -> Vec<String> {
    let outside: Vec<_> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "out")
        .collect();
    assert!(
        outside.is_empty(),
        "written outside the output directory: {outside:?}"
    );
    let names: Vec<String> = match std::fs::read_dir(out) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    for name in &names {
        assert!(!name.ends_with(".part"), "a partial file left: {name}");
        assert!(!name.contains(".."), "an unsafe name: {name}");
    }
    names
}

/// Runs one job on `lane` with `faults` armed and checks every invariant; returns the outcome.
async fn cell(lane: Lane, faults: Vec<FaultSpec>, bound: Duration) -> String {
    let emulator = emulator(&faults).await;
    let provider = provider(lane, &emulator);
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    let started = Instant::now();
    let outcome = run_job(provider.as_ref(), &out).await;
    let took = started.elapsed();
    assert!(took < bound, "{lane:?} {faults:?}: took {took:?}");
    let conversions = lane.conversions(&emulator);
    assert!(
        conversions <= 1,
        "{lane:?} {faults:?}: {conversions} conversions"
    );
    if outcome.result.is_ok() {
        assert_eq!(conversions, 1, "{lane:?} {faults:?}");
        assert_eq!(
            check_out_dir(root.path(), &out).len(),
            1,
            "{lane:?} {faults:?}"
        );
    } else {
        check_out_dir(root.path(), &out);
    }
    if let Err((_, e)) = &outcome.result {
        assert_no_secret("an error", &format!("{e} {e:?}"));
    }
    emulator.shutdown().await;
    outcome.cell()
}

// --- the matrix --------------------------------------------------------------------------------

fn faults() -> Vec<(&'static str, Fault)> {
    vec![
        (
            "500",
            Fault::Status {
                status: 500,
                retry_after: None,
            },
        ),
        (
            "503 + Retry-After: 1",
            Fault::Status {
                status: 503,
                retry_after: Some(1),
            },
        ),
        (
            "429 + Retry-After: 1",
            Fault::Status {
                status: 429,
                retry_after: Some(1),
            },
        ),
        (
            "400",
            Fault::Status {
                status: 400,
                retry_after: None,
            },
        ),
        ("500 after the work", Fault::AfterCommit { status: 500 }),
        ("reset mid-body", Fault::Reset),
        (
            "slow (2 s, over the 1 s timeout)",
            Fault::Slow { delay_ms: 2000 },
        ),
        ("garbage JSON", Fault::Garbage),
        ("quota used up", Fault::Quota),
        ("hostile file names", Fault::HostileFilename),
    ]
}

/// Runs `cells` at most 6 at a time (each has its own emulator), keeping their order.
async fn run_all<F>(cells: Vec<F>) -> Vec<String>
where
    F: std::future::Future<Output = String> + Send + 'static,
{
    let gate = Arc::new(tokio::sync::Semaphore::new(6));
    let tasks: Vec<_> = cells
        .into_iter()
        .map(|cell| {
            let gate = gate.clone();
            tokio::spawn(async move {
                let _permit = gate.acquire_owned().await.unwrap();
                cell.await
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        // A panic in a cell fails the suite here, with its message.
        results.push(
            task.await
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic())),
        );
    }
    results
}

/// `fault` on every request of `op`, for as long as the cell runs.
fn always(op: &str, fault: Fault) -> FaultSpec {
    FaultSpec {
        operation: op.to_owned(),
        fault,
        count: Some(1_000_000),
        probability: None,
    }
}

/// Rows of `width` cells each, named in order.
fn rows<'a>(
    names: impl IntoIterator<Item = &'a str>,
    results: &[String],
    width: usize,
) -> Vec<(String, Vec<String>)> {
    names
        .into_iter()
        .zip(results.chunks(width))
        .map(|(name, cells)| (name.to_owned(), cells.to_vec()))
        .collect()
}

fn table(header: &[String], rows: &[(String, Vec<String>)]) -> String {
    let mut out = format!(
        "| {} |\n|{}\n",
        header.join(" | "),
        "---|".repeat(header.len())
    );
    for (name, cells) in rows {
        let _ = writeln!(out, "| {name} | {} |", cells.join(" | "));
    }
    out
}

async fn matrix_section() -> String {
    let mut doc = String::new();
    for lane in Lane::ALL {
        let ops = lane.operations();
        let mut cells = Vec::new();
        for (_, fault) in faults() {
            for (op, _) in ops {
                let spec = FaultSpec::once(*op, fault.clone());
                cells.push(cell(lane, vec![spec], Duration::from_secs(20)));
            }
        }
        let results = run_all(cells).await;
        let mut header = vec!["fault".to_owned()];
        header.extend(ops.iter().map(|(op, step)| format!("`{op}` ({step})")));
        let rows = rows(faults().iter().map(|(name, _)| *name), &results, ops.len());
        let _ = write!(doc, "\n### {}\n\n{}", lane.title(), table(&header, &rows));
    }
    doc
}

/// Failover across online-convert then ConvertAPI (held), a fault on online-convert's side of
/// the submit: eligible errors move on, an ambiguous one must not (it would be a second job).
async fn failover_section() -> String {
    let ops = [
        ("oc.create", "submit"),
        ("oc.upload", "upload"),
        ("oc.start", "submit"),
    ];
    let mut cells = Vec::new();
    for (_, fault) in faults() {
        for (op, _) in ops {
            let spec = FaultSpec::once(op, fault.clone());
            cells.push(async move {
                let emulator = emulator(std::slice::from_ref(&spec)).await;
                let router = Failover::builder()
                    .member(provider(Lane::OnlineConvert, &emulator))
                    .member(provider(Lane::ConvertApiHeld, &emulator))
                    .build()
                    .unwrap();
                let root = tempfile::tempdir().unwrap();
                let out = root.path().join("out");
                let started = Instant::now();
                let outcome = run_job(&router, &out).await;
                assert!(started.elapsed() < Duration::from_secs(20), "{spec:?}");
                let (oc, ca) = (
                    emulator.count("oc.conversions"),
                    emulator.count("ca.conversions"),
                );
                assert!(oc + ca <= 1, "{spec:?}: {oc} + {ca} conversions");
                check_out_dir(root.path(), &out);
                if let Err((_, e)) = &outcome.result {
                    assert_no_secret("an error", &format!("{e} {e:?}"));
                }
                emulator.shutdown().await;
                match (&outcome.result, oc, ca) {
                    (Ok(()), 1, 0) => "ok (online-convert)".to_owned(),
                    (Ok(()), 0, 1) => "ok (ConvertAPI)".to_owned(),
                    _ => outcome.cell(),
                }
            });
        }
    }
    let results = run_all(cells).await;
    let mut header = vec!["fault on online-convert".to_owned()];
    header.extend(ops.iter().map(|(op, step)| format!("`{op}` ({step})")));
    let rows = rows(faults().iter().map(|(name, _)| *name), &results, ops.len());
    table(&header, &rows)
}

/// A vendor that answers every status request badly: the wait still ends at its deadline
/// (2 s here) with a typed error.
async fn deadline_section() -> String {
    let bad: Vec<(&str, Fault)> = vec![
        (
            "503 without Retry-After",
            Fault::Status {
                status: 503,
                retry_after: None,
            },
        ),
        ("slow (3 s a poll)", Fault::Slow { delay_ms: 3000 }),
        ("garbage JSON", Fault::Garbage),
        ("reset mid-body", Fault::Reset),
        ("ConvertAPI busy (503)", Fault::Busy),
    ];
    let lanes = [
        Lane::OnlineConvert,
        Lane::ConvertApiLegacy,
        Lane::ConvertApiCurrent,
        Lane::CloudConvertPoll,
        Lane::CloudConvertSync,
    ];
    let mut cells = Vec::new();
    for (_, fault) in &bad {
        for lane in lanes {
            let op = match lane {
                Lane::OnlineConvert => "oc.poll",
                Lane::CloudConvertPoll => "cc.poll",
                // Every blocking wait answered badly: polling must take over.
                Lane::CloudConvertSync => "cc.wait",
                _ => "ca.poll",
            };
            let spec = always(op, fault.clone());
            let vendor_only = *fault == Fault::Busy
                && !matches!(lane, Lane::ConvertApiLegacy | Lane::ConvertApiCurrent);
            cells.push(async move {
                if vendor_only {
                    return "— (ConvertAPI's answer)".to_owned();
                }
                let emulator = emulator(&[spec]).await;
                let provider = provider(lane, &emulator);
                let handle = provider.submit(&request()).await.unwrap();
                let deadline = Duration::from_secs(2);
                let started = Instant::now();
                let waited = provider
                    .wait(
                        &handle,
                        &PollPolicy::fixed(Duration::from_millis(50), deadline),
                    )
                    .await;
                let took = started.elapsed();
                // The deadline, plus at most one request's timeout and its retries' backoff.
                assert!(
                    took < deadline + Duration::from_secs(3),
                    "{lane:?}: {took:?}"
                );
                emulator.shutdown().await;
                match waited {
                    Ok(job) => format!("ok ({})", job.status),
                    Err(e) => {
                        assert_no_secret("an error", &format!("{e} {e:?}"));
                        e.kind().as_str().to_owned()
                    }
                }
            });
        }
    }
    let results = run_all(cells).await;
    let mut header = vec!["every poll answered".to_owned()];
    header.extend(lanes.iter().map(|l| match l {
        Lane::OnlineConvert => "online-convert".to_owned(),
        Lane::ConvertApiLegacy => "ConvertAPI legacy".to_owned(),
        Lane::CloudConvertPoll => "CloudConvert polling".to_owned(),
        Lane::CloudConvertSync => "CloudConvert sync (the wait answered so)".to_owned(),
        _ => "ConvertAPI current".to_owned(),
    }));
    let rows = rows(bad.iter().map(|(name, _)| *name), &results, lanes.len());
    table(&header, &rows)
}

/// Contract drift, on every answer of an operation: a key renamed, a value the client has never
/// seen, another status code. A whole job runs; it must end typed and bounded like any cell.
async fn drift_section() -> String {
    type Drift = (&'static str, Lane, &'static str, Fault);
    let drifts: Vec<Drift> = vec![
        (
            "status key renamed (`status` → `state`)",
            Lane::OnlineConvert,
            "oc.poll",
            Fault::RenameField {
                from: "status".into(),
                to: "state".into(),
            },
        ),
        (
            "unknown status value (`completed` → `finalised`)",
            Lane::OnlineConvert,
            "oc.poll",
            Fault::ReplaceValue {
                from: "completed".into(),
                to: "finalised".into(),
            },
        ),
        (
            "output list renamed (`output` → `outputs`)",
            Lane::OnlineConvert,
            "oc.poll",
            Fault::RenameField {
                from: "output".into(),
                to: "outputs".into(),
            },
        ),
        (
            "poll answered 202 instead of 200",
            Lane::OnlineConvert,
            "oc.poll",
            Fault::Restatus { status: 202 },
        ),
        (
            "result list renamed (`Files` → `Results`)",
            Lane::ConvertApiCurrent,
            "ca.poll",
            Fault::RenameField {
                from: "Files".into(),
                to: "Results".into(),
            },
        ),
        (
            "result URL key renamed (`Url` → `Link`)",
            Lane::ConvertApiLegacy,
            "ca.poll",
            Fault::RenameField {
                from: "Url".into(),
                to: "Link".into(),
            },
        ),
        (
            "finished poll answered 202 (running)",
            Lane::ConvertApiCurrent,
            "ca.poll",
            Fault::Restatus { status: 202 },
        ),
        (
            "held result list renamed (`Files` → `Results`)",
            Lane::ConvertApiHeld,
            "ca.convert",
            Fault::RenameField {
                from: "Files".into(),
                to: "Results".into(),
            },
        ),
        (
            "submit's `JobId` renamed (`JobId` → `Id`)",
            Lane::ConvertApiCurrent,
            "ca.submit",
            Fault::RenameField {
                from: "JobId".into(),
                to: "Id".into(),
            },
        ),
    ];
    let cells: Vec<_> = drifts
        .iter()
        .map(|(_, lane, op, fault)| {
            cell(
                *lane,
                vec![always(op, fault.clone())],
                Duration::from_secs(20),
            )
        })
        .collect();
    let results = run_all(cells).await;
    let header = vec![
        "drift".to_owned(),
        "lane".to_owned(),
        "operation".to_owned(),
        "outcome".to_owned(),
    ];
    let rows: Vec<_> = drifts
        .iter()
        .zip(results)
        .map(|((name, lane, op, _), outcome)| {
            let lane = match lane {
                Lane::OnlineConvert => "online-convert",
                Lane::ConvertApiLegacy => "ConvertAPI legacy",
                Lane::ConvertApiCurrent => "ConvertAPI current",
                Lane::ConvertApiHeld => "ConvertAPI held",
                Lane::CloudConvertSync => "CloudConvert sync",
                Lane::CloudConvertPoll => "CloudConvert polling",
            };
            (
                name.to_string(),
                vec![lane.to_owned(), format!("`{op}`"), outcome],
            )
        })
        .collect();
    table(&header, &rows)
}

/// Callbacks to a receiver while the emulator duplicates, forges or delays them: one confirmed
/// update per job, never more, never a forged one.
async fn webhook_section() -> String {
    let faults: Vec<(&str, Fault)> = vec![
        ("delivered twice", Fault::Duplicate),
        ("a forged one beside it", Fault::Forged),
        ("delayed 500 ms", Fault::Slow { delay_ms: 500 }),
    ];
    let lanes = [
        (Lane::OnlineConvert, "oc.callback"),
        (Lane::ConvertApiCurrent, "ca.webhook"),
        (Lane::CloudConvertSync, "cc.callback"),
    ];
    let mut cells = Vec::new();
    for (_, fault) in &faults {
        for (lane, op) in lanes {
            let spec = FaultSpec::once(op, fault.clone());
            cells.push(async move {
                let emulator = emulator(&[spec]).await;
                let provider = provider(lane, &emulator);
                let signer = CallbackSigner::new("matrix-receiver-key").unwrap();
                let (receiver, mut updates) = WebhookReceiver::builder()
                    .provider(provider.clone())
                    .signer(signer.clone())
                    .build()
                    .unwrap();
                let app = axum::Router::new().nest("/hooks", receiver.router());
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let hooks = format!("http://{}/hooks", listener.local_addr().unwrap());
                let server = tokio::spawn(async move { axum::serve(listener, app).await });
                let name = provider.info().name.to_string();
                let request = request()
                    .callback(format!("{hooks}/{name}").parse().unwrap())
                    .sign_callback(signer);
                let handle = provider.submit(&request).await.unwrap();
                let mut seen = 0;
                while let Ok(Some(job)) =
                    tokio::time::timeout(Duration::from_secs(3), updates.recv()).await
                {
                    assert_eq!(job.handle.id, handle.id, "a forged job reached the stream");
                    seen += 1;
                    if seen == 1 {
                        // Long enough for a duplicate or a forgery to arrive after it.
                        let extra =
                            tokio::time::timeout(Duration::from_millis(800), updates.recv()).await;
                        assert!(extra.is_err(), "a second update: {extra:?}");
                        break;
                    }
                }
                server.abort();
                emulator.shutdown().await;
                format!("{seen} update")
            });
        }
    }
    let results = run_all(cells).await;
    let header = vec![
        "callback".to_owned(),
        "online-convert (signed)".to_owned(),
        "ConvertAPI (tokened URL)".to_owned(),
        "CloudConvert (signed)".to_owned(),
    ];
    let rows = rows(faults.iter().map(|(name, _)| *name), &results, lanes.len());
    table(&header, &rows)
}

const PREAMBLE: &str = "# Reliability

Written by the fault-matrix suite (`cargo test -p multiconvert-emulator --test fault_matrix`),
never by hand: the suite fails when this file differs from what it found, and
`MULTICONVERT_UPDATE_DOCS=1` rewrites it.

Each cell is one whole job (upload `photo.png`, convert to JPEG, wait, save, delete) against a
fresh [emulator](../emulator) with one fault armed on one operation; it shows `ok` or the typed
error the job ended with and the step that gave it. Whatever the outcome, the suite asserts in
every cell: at most one conversion run by the vendor (the emulator's own count; exactly one when
the job completed), no panic, no account key or job token in any error (`Display` and `Debug`)
nor in any `tracing` event at TRACE level, nothing written outside the output directory and no
partial file in it, and an end within a bound. Clients use a 1 s request timeout, retries with
10–50 ms backoff and `Retry-After` honoured up to 2 s, polls every 20 ms for up to 5 s.

Reading the outcomes: a retry that is safe (a status read, a download, a delete, an upload
reconciled by the job's input count, a ConvertAPI JobId the client chose) turns a passing fault
into `ok`; a request that may have created a job and carries no key is not repeated, so it ends
in an error rather than risk a second conversion. `quota used up` and `400` are final.
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fault_matrix_holds_and_matches_its_doc() {
    capture_logs();
    let started = Instant::now();
    let mut doc = PREAMBLE.to_owned();
    doc.push_str("\n## Every fault × every operation\n");
    doc.push_str(&matrix_section().await);
    doc.push_str("\n## Through `Failover` (online-convert, then ConvertAPI held)\n\n");
    doc.push_str(&failover_section().await);
    doc.push_str(
        "\n## A wait whose every poll is answered badly (deadline 2 s)\n\n\
         The wait ends at its deadline, or at the first error that is not worth waiting out.\n\n",
    );
    doc.push_str(&deadline_section().await);
    doc.push_str(
        "\n## Contract drift on every answer of an operation\n\n\
         What a vendor changing its wire format would do to a job: typed and bounded, never a \
         job reported done without its files.\n\n",
    );
    doc.push_str(&drift_section().await);
    doc.push_str("\n## Callbacks to a `WebhookReceiver`\n\n");
    doc.push_str(&webhook_section().await);
    eprintln!("the matrix ran in {:?}", started.elapsed());

    let logs = logs().lock().unwrap().clone();
    assert!(!logs.is_empty(), "no tracing event was captured");
    assert_no_secret("the logs", &logs);

    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/reliability.md"
    ));
    if std::env::var_os("MULTICONVERT_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &doc).unwrap();
        return;
    }
    let written = std::fs::read_to_string(&path).unwrap_or_default();
    if written != doc {
        let fresh = std::env::temp_dir().join("reliability.md");
        std::fs::write(&fresh, &doc).unwrap();
        // The lines that differ, each under its section's title, in the failure itself: CI's
        // temporary directory is gone after, and a table's row alone does not say whose it is.
        let differing = differing_lines(&written, &doc);
        panic!(
            "docs/reliability.md differs from what the suite found (written to {}); \
             rerun with MULTICONVERT_UPDATE_DOCS=1 if the change is intended:\n{}",
            fresh.display(),
            differing.join("\n")
        );
    }
}

/// The lines of `new` not under the same heading in `old` (and the other way round), each
/// prefixed by the nearest heading above it; at most 20.
fn differing_lines(old: &str, new: &str) -> Vec<String> {
    fn titled(doc: &str) -> Vec<(String, &str)> {
        let mut title = String::new();
        doc.lines()
            .map(|line| {
                if line.starts_with('#') {
                    title = line.trim_start_matches('#').trim().to_owned();
                }
                (title.clone(), line)
            })
            .collect()
    }
    let (old, new) = (titled(old), titled(new));
    let gone = old
        .iter()
        .filter(|l| !new.contains(l))
        .map(|(t, l)| format!("- [{t}] {l}"));
    let came = new
        .iter()
        .filter(|l| !old.contains(l))
        .map(|(t, l)| format!("+ [{t}] {l}"));
    gone.chain(came).take(20).collect()
}
