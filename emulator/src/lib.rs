//! # multiconvert-emulator
//!
//! online-convert's v2 job API, ConvertAPI's API and CloudConvert's v2 task-graph API on
//! localhost — LocalStack for conversion APIs. All follow the vendors' documented wire (`../shared/reference/`), strictly: wrong or
//! missing credentials, the account key sent to the upload host, a JobId in the wrong format or
//! polled on the wrong route get the vendor's error and are counted as violations. Jobs are
//! converted for real by the in-process providers (raster images, and office documents where
//! LibreOffice is installed), so outputs are real files.
//! The vendors' own SDKs run against it unchanged, with only their base URL pointed here.
//!
//! ```no_run
//! use multiconvert_emulator::{Emulator, EmulatorConfig, Fault, FaultSpec};
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let emulator = Emulator::start(EmulatorConfig::default()).await?;
//! println!("API2CONVERT_BASE_URL={}", emulator.online_convert_url());
//! println!("CONVERTAPI_BASE_URL={}", emulator.convertapi_url());
//! emulator.inject(FaultSpec::once("ca.submit", Fault::Status { status: 503, retry_after: Some(1) }))?;
//! let state = emulator.state();
//! assert!(state["violations"].as_array().unwrap().is_empty());
//! emulator.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Observable and controllable over HTTP on each port as well: `GET /__emulator/state` (jobs,
//! counters per operation, violations) and `POST /__emulator/faults` (a [`FaultSpec`] or a list
//! of them).
#![warn(missing_docs)]
// Handlers return the vendor's error answer as `Err(Response)`: built once per refused request,
// never on a hot path, so boxing it would only add noise.
#![allow(clippy::result_large_err)]

mod cloudconvert;
pub mod command;
mod convertapi;
pub mod engine;
pub mod faults;
mod limit;
mod online_convert;
mod state;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::task::JoinHandle;

pub use engine::Engine;
pub use faults::{Fault, FaultSpec};
pub use state::{JobTiming, Violation};

use state::Shared;

/// The largest request or fetched body the emulator takes.
pub(crate) const MAX_BODY: usize = 256 << 20;

/// How the emulator runs.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EmulatorConfig {
    /// The address to bind (default 127.0.0.1: nothing outside the machine reaches it).
    pub bind: IpAddr,
    /// online-convert's port (0: a free one).
    pub online_convert_port: u16,
    /// ConvertAPI's port (0: a free one; the same non-zero port as online-convert's serves both).
    pub convertapi_port: u16,
    /// CloudConvert's port (0: a free one; always its own: its API, sync host and storage live
    /// under `/v2`, `/sync/v2` and `/storage` there).
    pub cloudconvert_port: u16,
    /// The only online-convert API key accepted (`None`: any non-empty key).
    pub online_convert_key: Option<String>,
    /// The only ConvertAPI secret accepted (`None`: any non-empty secret).
    pub convertapi_secret: Option<String>,
    /// The only CloudConvert API key accepted (`None`: any non-empty key).
    pub cloudconvert_key: Option<String>,
    /// Signs online-convert callbacks with `X-Oc-Signature` and CloudConvert webhooks with
    /// `CloudConvert-Signature` (hex HMAC-SHA256 of the body).
    pub webhook_secret: Option<String>,
    /// How long a conversion takes at the emulated vendor, before the real work.
    pub work: Duration,
    /// Faults armed from the start.
    pub faults: Vec<FaultSpec>,
    /// The seed of probabilistic faults.
    pub seed: u64,
    /// Each vendor account's request limit, per second (`None`: unlimited); past it, the
    /// vendor's throttling answer, counted as `oc.throttled`, `ca.throttled`, `cc.throttled`.
    pub rate_limit: Option<u32>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            online_convert_port: 0,
            convertapi_port: 0,
            cloudconvert_port: 0,
            online_convert_key: None,
            convertapi_secret: None,
            cloudconvert_key: None,
            webhook_secret: None,
            work: Duration::from_millis(100),
            faults: Vec::new(),
            seed: 0,
            rate_limit: None,
        }
    }
}

impl EmulatorConfig {
    /// Sets how long each conversion takes.
    pub fn work(mut self, work: Duration) -> Self {
        self.work = work;
        self
    }
    /// Accepts only this online-convert API key.
    pub fn online_convert_key(mut self, key: impl Into<String>) -> Self {
        self.online_convert_key = Some(key.into());
        self
    }
    /// Accepts only this ConvertAPI secret.
    pub fn convertapi_secret(mut self, secret: impl Into<String>) -> Self {
        self.convertapi_secret = Some(secret.into());
        self
    }
    /// Accepts only this CloudConvert API key.
    pub fn cloudconvert_key(mut self, key: impl Into<String>) -> Self {
        self.cloudconvert_key = Some(key.into());
        self
    }
    /// Signs online-convert callbacks and CloudConvert webhooks with this secret.
    pub fn webhook_secret(mut self, secret: impl Into<String>) -> Self {
        self.webhook_secret = Some(secret.into());
        self
    }
    /// Arms a fault from the start.
    pub fn fault(mut self, fault: FaultSpec) -> Self {
        self.faults.push(fault);
        self
    }
    /// Sets the seed of probabilistic faults.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Limits each vendor account to `per_second` requests a second (bursts of a second's
    /// worth); past it the vendor's throttling answer.
    pub fn rate_limit(mut self, per_second: u32) -> Self {
        self.rate_limit = Some(per_second);
        self
    }
}

/// Why the emulator could not start or take a fault.
#[derive(Debug)]
#[non_exhaustive]
pub enum EmulatorError {
    /// A port could not be bound.
    Bind(std::io::Error),
    /// The conversion engine could not be set up.
    Engine(String),
    /// A fault is not well formed.
    Fault(String),
}

impl std::fmt::Display for EmulatorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EmulatorError::Bind(e) => write!(f, "cannot bind the emulator's port: {e}"),
            EmulatorError::Engine(e) => write!(f, "cannot set up the conversion engine: {e}"),
            EmulatorError::Fault(e) => write!(f, "bad fault: {e}"),
        }
    }
}

impl std::error::Error for EmulatorError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EmulatorError::Bind(e) => Some(e),
            _ => None,
        }
    }
}

/// Starts emulators.
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// Binds the ports and serves both vendors until the returned handle is shut down or dropped.
    pub async fn start(config: EmulatorConfig) -> Result<Running, EmulatorError> {
        for fault in &config.faults {
            fault.check().map_err(EmulatorError::Fault)?;
        }
        let workdir = tempfile::tempdir().map_err(|e| EmulatorError::Engine(e.to_string()))?;
        let local = multiconvert_local::Local::new(workdir.path().join("jobs"))
            .map_err(|e| EmulatorError::Engine(e.to_string()))?;
        let mut engines: Vec<Arc<dyn multiconvert_core::ConversionProvider>> =
            vec![Arc::new(local)];
        // Documents too, where LibreOffice is installed (found as the office provider finds it);
        // its warm workers start with the first document: most emulators never see one.
        let office = multiconvert_office::Config::from_env()
            .map(|c| c.root(workdir.path().join("office")).warm_up(false))
            .and_then(multiconvert_office::Office::new);
        match office {
            Ok(office) => engines.push(Arc::new(office)),
            Err(e) => tracing::info!(reason = %e, "serving raster images only"),
        }
        let engine = Engine::new(engines);
        let shared = Shared::new(config.clone(), engine);
        let bind = |port| async move {
            tokio::net::TcpListener::bind(SocketAddr::new(config.bind, port))
                .await
                .map_err(EmulatorError::Bind)
        };
        let oc_listener = bind(config.online_convert_port).await?;
        let oc_addr = oc_listener.local_addr().map_err(EmulatorError::Bind)?;
        let one_port =
            config.convertapi_port != 0 && config.convertapi_port == config.online_convert_port;
        let ca_listener = if one_port {
            None
        } else {
            Some(bind(config.convertapi_port).await?)
        };
        let ca_addr = match &ca_listener {
            Some(l) => l.local_addr().map_err(EmulatorError::Bind)?,
            None => oc_addr,
        };
        let cc_listener = bind(config.cloudconvert_port).await?;
        let cc_addr = cc_listener.local_addr().map_err(EmulatorError::Bind)?;
        let _ = shared.oc_base.set(format!("http://{oc_addr}/v2"));
        let _ = shared.ca_base.set(format!("http://{ca_addr}"));
        let _ = shared.cc_base.set(format!("http://{cc_addr}/v2"));

        let admin = Router::new()
            .route("/__emulator/state", get(state_view))
            .route("/__emulator/faults", axum::routing::post(add_faults))
            .with_state(shared.clone());
        let limit = |router, vendor, throttled| {
            limit::limited(router, shared.clone(), vendor, config.rate_limit, throttled)
        };
        let oc = Router::new()
            .nest(
                "/v2",
                limit(
                    online_convert::router(shared.clone()),
                    "oc",
                    online_convert::throttled,
                ),
            )
            .merge(admin.clone());
        // CloudConvert announces its limit on the API host only.
        let cc = Router::new()
            .nest(
                "/v2",
                limit(
                    cloudconvert::api(shared.clone()),
                    "cc",
                    cloudconvert::throttled,
                ),
            )
            .nest("/sync/v2", cloudconvert::sync(shared.clone()))
            .nest("/storage", cloudconvert::storage(shared.clone()))
            .merge(admin.clone());
        let ca = limit(
            convertapi::router(shared.clone()),
            "ca",
            convertapi::throttled,
        )
        .merge(admin);
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let serve = |listener: tokio::net::TcpListener, app: Router| {
            let mut stopped = stopped.clone();
            tokio::spawn(async move {
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.wait_for(|s| *s).await;
                    })
                    .await;
            })
        };
        let mut tasks = vec![serve(cc_listener, cc)];
        match ca_listener {
            Some(listener) => {
                tasks.push(serve(oc_listener, oc));
                tasks.push(serve(listener, ca));
            }
            None => tasks.push(serve(oc_listener, oc.merge(ca))),
        }
        Ok(Running {
            shared,
            oc_addr,
            ca_addr,
            cc_addr,
            stop,
            tasks,
            _workdir: workdir,
        })
    }
}

/// A running emulator. Dropping it stops serving.
pub struct Running {
    shared: Arc<Shared>,
    oc_addr: SocketAddr,
    ca_addr: SocketAddr,
    cc_addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    _workdir: tempfile::TempDir,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("online_convert", &self.online_convert_url())
            .field("convertapi", &self.convertapi_url())
            .field("cloudconvert", &self.cloudconvert_url())
            .finish_non_exhaustive()
    }
}

impl Running {
    /// online-convert's base URL (`http://127.0.0.1:PORT/v2`): `API2CONVERT_BASE_URL`.
    pub fn online_convert_url(&self) -> String {
        format!("http://{}/v2", self.oc_addr)
    }
    /// ConvertAPI's base URL (`http://127.0.0.1:PORT`): `CONVERTAPI_BASE_URL`.
    pub fn convertapi_url(&self) -> String {
        format!("http://{}", self.ca_addr)
    }
    /// CloudConvert's API base (`http://127.0.0.1:PORT/v2`): `CLOUDCONVERT_BASE_URL`.
    pub fn cloudconvert_url(&self) -> String {
        format!("http://{}/v2", self.cc_addr)
    }
    /// CloudConvert's sync base (`http://127.0.0.1:PORT/sync/v2`): `CLOUDCONVERT_SYNC_BASE_URL`.
    pub fn cloudconvert_sync_url(&self) -> String {
        format!("http://{}/sync/v2", self.cc_addr)
    }
    /// The line the binary prints: `{"online_convert": URL, "convertapi": URL, "cloudconvert":
    /// URL, "cloudconvert_sync": URL}`.
    pub fn addresses_json(&self) -> serde_json::Value {
        serde_json::json!({"online_convert": self.online_convert_url(), "convertapi": self.convertapi_url(),
            "cloudconvert": self.cloudconvert_url(), "cloudconvert_sync": self.cloudconvert_sync_url()})
    }
    /// What `GET /__emulator/state` shows: jobs, counters per operation, violations, faults.
    pub fn state(&self) -> serde_json::Value {
        self.shared.snapshot()
    }
    /// How many requests of `operation` (`oc.create`, `ca.submit`, `cc.create`, …) arrived;
    /// `oc.conversions`, `ca.conversions` and `cc.conversions` count the jobs each vendor
    /// actually ran.
    pub fn count(&self, operation: &str) -> u64 {
        self.shared
            .lock()
            .counters
            .get(operation)
            .copied()
            .unwrap_or(0)
    }
    /// When job `id` ended and how many status requests it had (zeroes for an unknown id).
    pub fn job_timing(&self, id: &str) -> JobTiming {
        self.shared
            .lock()
            .timings
            .get(id)
            .copied()
            .unwrap_or_default()
    }
    /// The rules clients broke.
    pub fn violations(&self) -> Vec<Violation> {
        self.shared.lock().violations.clone()
    }
    /// Arms a fault.
    pub fn inject(&self, fault: FaultSpec) -> Result<(), EmulatorError> {
        fault.check().map_err(EmulatorError::Fault)?;
        self.shared.inject(fault);
        Ok(())
    }
    /// Stops serving and waits for the servers to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The decoded query of a request.
pub(crate) fn query(uri: &Uri) -> Vec<(String, String)> {
    uri.query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

async fn state_view(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        shared.snapshot().to_string(),
    )
        .into_response()
}

async fn add_faults(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let specs: Vec<FaultSpec> = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Array(items)) => {
            match items.into_iter().map(serde_json::from_value).collect() {
                Ok(specs) => specs,
                Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
            }
        }
        Ok(one) => match serde_json::from_value(one) {
            Ok(spec) => vec![spec],
            Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        },
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    for spec in &specs {
        if let Err(e) = spec.check() {
            return (StatusCode::BAD_REQUEST, e).into_response();
        }
    }
    let armed = specs.len();
    for spec in specs {
        shared.inject(spec);
    }
    (
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({"armed": armed}).to_string(),
    )
        .into_response()
}
