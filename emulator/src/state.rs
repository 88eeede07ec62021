//! What every handler shares: the three vendors' records (each kept in its vendor's `records`
//! module), counters, violations, faults.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use bytes::Bytes;
use serde::Serialize;
use serde_json::{json, Value};

use crate::cloudconvert::records::CcJob;
use crate::convertapi::records::{CaFile, CaJob, CaRoute, CaState};
use crate::engine::Engine;
use crate::faults::{Armed, Fault, FaultSpec};
use crate::online_convert::records::OcJob;
use crate::EmulatorConfig;

/// A rule a client broke, as the emulator saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The operation (`oc.upload`, `ca.poll`, …).
    pub operation: String,
    /// The rule, as a stable name (`account_key_on_upload_host`, `secret_in_query`, …).
    pub rule: String,
    /// What was seen (never a secret).
    pub detail: String,
}

/// When a job ended at the emulated vendor and how often its status was asked for: what a
/// client's polling costs, and how late it noticed (benchmarks, tests of wait strategies).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobTiming {
    /// When the job reached a final status (completed or failed), in milliseconds since the Unix
    /// epoch; `None` while it runs.
    pub finished_unix_ms: Option<u64>,
    /// Status requests for the job (online-convert `GET /jobs/{id}`, ConvertAPI job polls).
    pub polls: u64,
}

/// Milliseconds since the Unix epoch.
pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[derive(Default)]
pub(crate) struct Inner {
    pub timings: HashMap<String, JobTiming>,
    pub oc_jobs: HashMap<String, OcJob>,
    pub ca_files: HashMap<String, CaFile>,
    pub ca_jobs: HashMap<String, CaJob>,
    pub cc_jobs: HashMap<String, CcJob>,
    pub counters: BTreeMap<String, u64>,
    pub violations: Vec<Violation>,
    pub faults: Vec<Armed>,
    pub seq: u64,
    pub injected: u64,
}

impl Inner {
    /// Notes a job's final status, now, for a caller already holding the lock.
    pub fn finished(&mut self, id: &str) {
        self.timings
            .entry(id.to_owned())
            .or_default()
            .finished_unix_ms
            .get_or_insert_with(unix_ms);
    }
}

/// State shared by every handler.
pub(crate) struct Shared {
    pub config: EmulatorConfig,
    pub engine: Engine,
    pub http: reqwest::Client,
    pub oc_base: OnceLock<String>,
    pub ca_base: OnceLock<String>,
    /// CloudConvert's API base (`http://…/v2`).
    pub cc_base: OnceLock<String>,
    /// Wakes CloudConvert jobs waiting for an upload.
    pub cc_changed: tokio::sync::Notify,
    /// Wakes sync-host waits when a CloudConvert job ends or goes.
    pub cc_ended: tokio::sync::Notify,
    /// Signs CloudConvert upload forms (random per process).
    pub cc_form_key: String,
    inner: Mutex<Inner>,
    rng: Mutex<fastrand::Rng>,
}

impl Shared {
    pub fn new(config: EmulatorConfig, engine: Engine) -> Arc<Self> {
        multiconvert_core::http::install_crypto_provider();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        let rng = fastrand::Rng::with_seed(config.seed);
        let faults = config.faults.iter().cloned().map(Armed::new).collect();
        Arc::new(Shared {
            config,
            engine,
            http,
            oc_base: OnceLock::new(),
            ca_base: OnceLock::new(),
            cc_base: OnceLock::new(),
            cc_changed: tokio::sync::Notify::new(),
            cc_ended: tokio::sync::Notify::new(),
            cc_form_key: uuid::Uuid::new_v4().simple().to_string(),
            inner: Mutex::new(Inner {
                faults,
                ..Inner::default()
            }),
            rng: Mutex::new(rng),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one request of `operation`.
    pub fn count(&self, operation: &str) {
        *self
            .lock()
            .counters
            .entry(operation.to_owned())
            .or_default() += 1;
    }

    /// Counts one status request for job `id`.
    pub fn polled(&self, id: &str) {
        self.lock().timings.entry(id.to_owned()).or_default().polls += 1;
    }

    /// Records a broken rule.
    pub fn violation(&self, operation: &str, rule: &str, detail: impl Into<String>) {
        let detail = detail.into();
        tracing::warn!(operation, rule, %detail, "client violation");
        self.lock().violations.push(Violation {
            operation: operation.to_owned(),
            rule: rule.to_owned(),
            detail,
        });
    }

    /// The next sequence number (job order for listings).
    pub fn next_seq(&self) -> u64 {
        let mut inner = self.lock();
        inner.seq += 1;
        inner.seq
    }

    /// Arms a fault.
    pub fn inject(&self, spec: FaultSpec) {
        self.lock().faults.push(Armed::new(spec));
    }

    /// Counts a request of `operation` and returns the fault that fires on it, if any.
    pub fn enter(&self, operation: &str) -> Option<Fault> {
        self.count(operation);
        self.fault(operation)
    }

    /// The fault that fires on `operation` now, if any (used up as it fires).
    pub fn fault(&self, operation: &str) -> Option<Fault> {
        let mut inner = self.lock();
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        let index = inner.faults.iter().position(|armed| {
            (armed.spec.operation == "*" || armed.spec.operation == operation)
                && armed.remaining != Some(0)
                && armed.spec.probability.is_none_or(|p| rng.f64() < p)
        })?;
        let armed = &mut inner.faults[index];
        if let Some(n) = armed.remaining.as_mut() {
            *n -= 1;
        }
        let fault = armed.spec.fault.clone();
        inner.injected += 1;
        tracing::info!(operation, ?fault, "injecting a fault");
        Some(fault)
    }

    /// Whether a result-time fault (hostile names) is armed for `operation`; uses it up.
    pub fn result_fault(&self, operation: &str) -> Option<Fault> {
        let mut inner = self.lock();
        let index = inner.faults.iter().position(|armed| {
            armed.spec.operation == operation
                && armed.remaining != Some(0)
                && armed.spec.fault == Fault::HostileFilename
        })?;
        if let Some(n) = inner.faults[index].remaining.as_mut() {
            *n -= 1;
        }
        inner.injected += 1;
        Some(Fault::HostileFilename)
    }

    /// What `GET /__emulator/state` shows: jobs per vendor (no tokens), counters, violations.
    pub fn snapshot(&self) -> Value {
        let inner = self.lock();
        let mut oc: Vec<&OcJob> = inner.oc_jobs.values().collect();
        oc.sort_by_key(|j| j.seq);
        let oc_jobs: Vec<Value> = oc
            .iter()
            .map(|j| {
                json!({"id": j.id, "status": j.status, "inputs": j.inputs.len(),
                       "conversions": j.conversions.len(), "outputs": j.outputs.len()})
            })
            .collect();
        let mut ca: Vec<(&String, &CaJob)> = inner.ca_jobs.iter().collect();
        ca.sort_by_key(|(id, _)| id.as_str());
        let ca_jobs: Vec<Value> = ca
            .iter()
            .map(|(id, j)| {
                let status = match j.state {
                    CaState::Running => "running",
                    CaState::Done(_) => "completed",
                    CaState::Failed(..) => "failed",
                };
                json!({"id": id, "route": match j.route { CaRoute::Current => "current", CaRoute::Legacy => "legacy" }, "status": status})
            })
            .collect();
        let mut cc: Vec<&CcJob> = inner.cc_jobs.values().collect();
        cc.sort_by_key(|j| j.seq);
        let cc_jobs: Vec<Value> = cc
            .iter()
            .map(|j| json!({"id": j.id, "tag": j.tag, "status": j.status, "tasks": j.tasks.len()}))
            .collect();
        json!({
            "online_convert": {"jobs": oc_jobs},
            "cloudconvert": {"jobs": cc_jobs},
            "convertapi": {"jobs": ca_jobs, "files": inner.ca_files.len()},
            "counters": inner.counters,
            "violations": inner.violations,
            "faults": {"armed": inner.faults.iter().filter(|f| f.remaining != Some(0)).count(), "injected": inner.injected},
        })
    }
}

/// Now, as the vendors write it: a naive UTC timestamp.
pub(crate) fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// A fresh vendor id (a hyphenated UUID, as online-convert's).
pub(crate) fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A fresh 32-character lower-case id (ConvertAPI's FileIds and current JobIds).
pub(crate) fn simple_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The bytes at `url`, as a vendor fetches a remote input: a success answer within
/// [`MAX_BODY`](crate::MAX_BODY), else nothing.
pub(crate) async fn fetch(shared: &Shared, url: &str) -> Option<Bytes> {
    let response = shared.http.get(url).send().await.ok()?;
    if !response.status().is_success()
        || response
            .content_length()
            .is_some_and(|n| n > crate::MAX_BODY as u64)
    {
        return None;
    }
    response
        .bytes()
        .await
        .ok()
        .filter(|b| b.len() <= crate::MAX_BODY)
}
