//! The Rust contenders, each run by the harness in a child process of its own: the crate's
//! providers (polling, or woken by a webhook), a raw-reqwest floor making the same HTTP calls
//! with nothing of the crate but its poll schedule, and a holder of many concurrent waits.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{stream, StreamExt};
use multiconvert_core::http::{HttpConfig, Timeouts};
use multiconvert_core::pace::{Rate, RequestBudget};
use multiconvert_core::receiver::WebhookReceiver;
use multiconvert_core::{
    CallbackSigner, Conversion, ConversionProvider, Input, Job, JobRequest, PollPolicy,
    ProviderExt, SaveOptions,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::measure::{rss_kib, unix_ms};

/// What a child is asked to do (passed as JSON after `--child`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Spec {
    /// `crate`, `webhook`, `raw` or `hold`.
    pub client: String,
    /// `oc` or `ca`.
    pub vendor: String,
    /// The vendor's base URL.
    pub base: String,
    /// The API key or secret.
    pub credential: String,
    /// Jobs to run (0: start up and stop, to measure start-up alone).
    pub jobs: usize,
    /// At most this many at once.
    pub concurrency: usize,
    /// The file to convert.
    pub input: PathBuf,
    /// Where results go.
    pub out: PathBuf,
    /// The crate's request rate for its instance (`50/s`, `unlimited`; none: the vendor's
    /// default).
    #[serde(default)]
    pub rate: Option<String>,
}

/// One job as a child saw it, in Unix milliseconds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct JobRecord {
    /// The vendor's job id.
    pub id: Option<String>,
    /// Just before the submit.
    pub submitted_ms: u64,
    /// When the client knew the job had ended.
    pub noticed_ms: u64,
    /// When its output was saved.
    pub done_ms: u64,
}

/// What a child prints.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ChildReport {
    /// The jobs that succeeded.
    pub jobs: Vec<JobRecord>,
    /// How many failed.
    pub errors: usize,
    /// The first failure.
    pub first_error: Option<String>,
    /// `hold`: RSS with every wait in flight, KiB.
    pub rss_kib: Option<u64>,
}

/// The child's entry point: runs `spec` and prints its report as one JSON line.
pub fn child_main(spec: &str) {
    let spec: Spec = serde_json::from_str(spec).expect("a child spec");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let report = runtime.block_on(async {
        match spec.client.as_str() {
            "crate" => run_jobs(&spec, Waiting::Poll).await,
            "webhook" => run_jobs(&spec, Waiting::Webhook).await,
            "raw" => run_raw(&spec).await,
            "hold" => hold(&spec).await,
            other => panic!("unknown client {other}"),
        }
    });
    println!("{}", serde_json::to_string(&report).expect("a report"));
}

/// The harness's HTTP settings: long downloads, and the spec's request rate when it gives one
/// (else the vendor's default).
fn http(spec: &Spec) -> HttpConfig {
    let mut timeouts = Timeouts::default();
    timeouts.download = Duration::from_secs(600);
    let http = HttpConfig::default().with_timeouts(timeouts);
    match spec.rate.as_deref() {
        Some(rate) => http.with_budget(RequestBudget::new(rate.parse::<Rate>().expect("a rate"))),
        None => http,
    }
}

/// The crate's provider for `spec`, with its defaults (poll schedule included) but for the
/// rate the spec gives.
pub fn provider(spec: &Spec) -> Arc<dyn ConversionProvider> {
    match spec.vendor.as_str() {
        "oc" => Arc::new(
            multiconvert_online_convert::OnlineConvert::new(
                multiconvert_online_convert::Config::builder()
                    .api_key(spec.credential.clone())
                    .base_url(spec.base.clone())
                    .http(http(spec))
                    .build()
                    .expect("a config"),
            )
            .expect("a provider"),
        ),
        _ => Arc::new(
            multiconvert_convertapi::ConvertApi::new(
                multiconvert_convertapi::Config::builder()
                    .secret(spec.credential.clone())
                    .base_url(spec.base.clone())
                    .http(http(spec))
                    .build()
                    .expect("a config"),
            )
            .expect("a provider"),
        ),
    }
}

fn request(spec: &Spec) -> JobRequest {
    JobRequest::new(Input::path(&spec.input), Conversion::to("jpg").from("png"))
}

#[derive(Clone, Copy, PartialEq)]
enum Waiting {
    Poll,
    Webhook,
}

/// Terminal jobs the webhook receiver confirmed, by id, and a bell for those waiting on them.
#[derive(Default)]
struct Arrivals {
    jobs: Mutex<HashMap<String, Job>>,
    bell: tokio::sync::Notify,
}

impl Arrivals {
    async fn wait_for(&self, id: &str) -> Job {
        loop {
            let rung = self.bell.notified();
            if let Some(job) = self.jobs.lock().unwrap().remove(id) {
                return job;
            }
            rung.await;
        }
    }
}

async fn run_jobs(spec: &Spec, waiting: Waiting) -> ChildReport {
    let provider = provider(spec);
    let policy = provider.info().poll_policy;
    let mut base_request = request(spec);
    let arrivals = Arc::new(Arrivals::default());
    if waiting == Waiting::Webhook && spec.jobs > 0 {
        let signer = CallbackSigner::new("bench-callback-key").expect("a signer");
        let (receiver, mut updates) = WebhookReceiver::builder()
            .provider(provider.clone())
            .signer(signer.clone())
            .build()
            .expect("a receiver");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, receiver.router()).await });
        let to = arrivals.clone();
        tokio::spawn(async move {
            while let Some(job) = updates.recv().await {
                if job.status.is_terminal() {
                    to.jobs.lock().unwrap().insert(job.handle.id.clone(), job);
                    to.bell.notify_waiters();
                }
            }
        });
        let url = format!("http://{addr}/{}", provider.info().name);
        base_request = base_request
            .callback(url.parse().expect("a callback URL"))
            .sign_callback(signer);
    }
    let outcomes: Vec<Result<JobRecord, String>> = stream::iter(0..spec.jobs)
        .map(|n| {
            let provider = provider.clone();
            let request = base_request.clone();
            let arrivals = arrivals.clone();
            let out = spec.out.join(n.to_string());
            async move {
                let submitted_ms = unix_ms();
                let handle = provider.submit(&request).await.map_err(|e| e.to_string())?;
                let job = match waiting {
                    Waiting::Poll => provider.wait(&handle, &policy).await,
                    Waiting::Webhook => Ok(arrivals.wait_for(&handle.id).await),
                }
                .map_err(|e| e.to_string())?;
                let noticed_ms = unix_ms();
                provider
                    .save_all(&job, &out, &SaveOptions::default())
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(JobRecord {
                    id: Some(handle.id.clone()),
                    submitted_ms,
                    noticed_ms,
                    done_ms: unix_ms(),
                })
            }
        })
        .buffer_unordered(spec.concurrency.max(1))
        .collect()
        .await;
    report(outcomes)
}

fn report(outcomes: Vec<Result<JobRecord, String>>) -> ChildReport {
    let mut report = ChildReport::default();
    for outcome in outcomes {
        match outcome {
            Ok(job) => report.jobs.push(job),
            Err(e) => {
                report.errors += 1;
                report.first_error.get_or_insert(e);
            }
        }
    }
    report
}

// --- the raw floor ------------------------------------------------------------------------

/// The same HTTP calls as the crate's providers, made with reqwest and `serde_json::Value`
/// alone: no retries, typed model, redaction, verification or journal. The poll schedule is
/// the provider's default (the same waits), so the difference is the crate's own cost.
async fn run_raw(spec: &Spec) -> ChildReport {
    multiconvert_core::http::install_crypto_provider();
    let client = reqwest::Client::new();
    let policy = provider(spec).info().poll_policy;
    let outcomes = stream::iter(0..spec.jobs)
        .map(|n| {
            let client = client.clone();
            let out = spec.out.join(n.to_string());
            async move {
                let submitted_ms = unix_ms();
                let (id, uri, noticed_ms) = match spec.vendor.as_str() {
                    "oc" => raw_oc(&client, spec, &policy).await,
                    _ => raw_ca(&client, spec, &policy).await,
                }
                .map_err(|e| e.to_string())?;
                raw_download(&client, &uri, &out.join("result.jpg"))
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(JobRecord {
                    id: Some(id),
                    submitted_ms,
                    noticed_ms,
                    done_ms: unix_ms(),
                })
            }
        })
        .buffer_unordered(spec.concurrency.max(1))
        .collect()
        .await;
    report(outcomes)
}

type RawResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

async fn file_part(path: &std::path::Path) -> RawResult<reqwest::multipart::Part> {
    let file = tokio::fs::File::open(path).await?;
    let len = file.metadata().await?.len();
    let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
    Ok(reqwest::multipart::Part::stream_with_length(body, len)
        .file_name("photo.png")
        .mime_str("image/png")?)
}

/// The crate's pause (its schedule, lateness bound included) `since` the wait began.
async fn pause(
    policy: &PollPolicy,
    intervals: &mut impl Iterator<Item = Duration>,
    since: tokio::time::Instant,
) {
    let interval = intervals.next().unwrap_or(policy.max_interval);
    tokio::time::sleep(policy.pause(interval, since.elapsed())).await;
}

async fn raw_oc(
    client: &reqwest::Client,
    spec: &Spec,
    policy: &PollPolicy,
) -> RawResult<(String, String, u64)> {
    let key = spec.credential.as_str();
    let job: Value = client
        .post(format!("{}/jobs", spec.base))
        .header("x-oc-api-key", key)
        .json(&json!({"process": false, "conversion": [{"target": "jpg"}]}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = job["id"].as_str().ok_or("no id")?.to_owned();
    let token = job["token"].as_str().ok_or("no token")?;
    let server = job["server"].as_str().ok_or("no server")?;
    let form = reqwest::multipart::Form::new().part("file", file_part(&spec.input).await?);
    client
        .post(format!("{server}/upload-file/{id}"))
        .header("x-oc-token", token)
        .multipart(form)
        .send()
        .await?
        .error_for_status()?;
    client
        .patch(format!("{}/jobs/{id}", spec.base))
        .header("x-oc-api-key", key)
        .json(&json!({"process": true}))
        .send()
        .await?
        .error_for_status()?;
    let mut intervals = policy.intervals();
    let since = tokio::time::Instant::now();
    loop {
        let job: Value = client
            .get(format!("{}/jobs/{id}", spec.base))
            .header("x-oc-api-key", key)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        match job["status"]["code"].as_str() {
            Some("completed") => {
                let uri = job["output"][0]["uri"].as_str().ok_or("no output")?;
                return Ok((id, uri.to_owned(), unix_ms()));
            }
            Some("failed") | Some("canceled") => return Err("the job failed".into()),
            _ => pause(policy, &mut intervals, since).await,
        }
    }
}

async fn raw_ca(
    client: &reqwest::Client,
    spec: &Spec,
    _: &PollPolicy,
) -> RawResult<(String, String, u64)> {
    let auth = format!("Bearer {}", spec.credential);
    let file = tokio::fs::File::open(&spec.input).await?;
    let len = file.metadata().await?.len();
    let uploaded: Value = client
        .post(format!("{}/upload", spec.base))
        .header("authorization", &auth)
        .header("content-type", "application/octet-stream")
        .header("content-disposition", "attachment; filename=\"photo.png\"")
        .header("content-length", len)
        .body(reqwest::Body::wrap_stream(
            tokio_util::io::ReaderStream::new(file),
        ))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let file_id = uploaded["FileId"].as_str().ok_or("no FileId")?;
    // The crate's default for a short job: one convert held open until the result, carrying a
    // client JobId (semi-async).
    let id = uuid::Uuid::new_v4().to_string();
    let result: Value = client
        .post(format!("{}/convert/png/to/jpg", spec.base))
        .header("authorization", &auth)
        .header("accept", "application/json")
        .form(&[
            ("File", file_id),
            ("JobId", &id),
            ("StoreFile", "true"),
            ("Timeout", "900"),
        ])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let noticed = unix_ms();
    let url = result["Files"][0]["Url"].as_str().ok_or("no Url")?;
    Ok((id, url.to_owned(), noticed))
}

async fn raw_download(client: &reqwest::Client, uri: &str, to: &std::path::Path) -> RawResult<()> {
    use tokio::io::AsyncWriteExt;
    tokio::fs::create_dir_all(to.parent().ok_or("no parent")?).await?;
    let mut response = client.get(uri).send().await?.error_for_status()?;
    let mut file = tokio::fs::File::create(to).await?;
    while let Some(chunk) = response.chunk().await? {
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    Ok(())
}

// --- many waits at once ---------------------------------------------------------------------

/// Submits `jobs` jobs that do not finish for an hour (the harness starts an emulator whose
/// conversions take that long) and waits on all of them at once; once every wait is in flight and a poll round has passed,
/// reports the process's RSS. The harness subtracts a run with no job: the rest is what the
/// in-flight waits hold.
async fn hold(spec: &Spec) -> ChildReport {
    let provider = provider(spec);
    let policy = provider.info().poll_policy;
    // Expected to run long: ConvertAPI submits it async (a held request would not return).
    let request = request(spec).expected_duration(Duration::from_secs(3600));
    let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut waits = Vec::with_capacity(spec.jobs);
    // Submits are paced (64 at once) so the emulator is not asked for 10k connections in one go.
    let submits = Arc::new(tokio::sync::Semaphore::new(64));
    for _ in 0..spec.jobs {
        let provider = provider.clone();
        let request = request.clone();
        let in_flight = in_flight.clone();
        let submits = submits.clone();
        waits.push(tokio::spawn(async move {
            let handle = {
                let _permit = submits.acquire().await;
                provider.submit(&request).await
            };
            let Ok(handle) = handle else { return };
            in_flight.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let _ = provider.wait(&handle, &policy).await;
        }));
    }
    while in_flight.load(std::sync::atomic::Ordering::Relaxed) < spec.jobs {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A full poll round (the longest first interval, jitter included) so every wait has polled.
    tokio::time::sleep(policy.jittered(policy.initial_interval) + Duration::from_secs(1)).await;
    let rss = rss_kib();
    for wait in waits {
        wait.abort();
    }
    ChildReport {
        rss_kib: rss,
        ..ChildReport::default()
    }
}
