//! Warm workers: one LibreOffice per worker, kept running and fed one document after another over
//! UNO, instead of a LibreOffice started per conversion (about a second each).
//!
//! Each worker is a long-lived helper, `worker.py` on Debian's `python3-uno`, which starts its
//! own `soffice --accept=pipe,…` on the worker's profile and converts one JSON line per job
//! (hidden, read-only load, macros never executed, links never updated). The helper leads its
//! own process group, under the provider's address-space bound; this side owns every deadline:
//! a conversion past it, a cancelled job or a helper that dies takes the whole group down and
//! the worker starts afresh for its next job. The measured alternatives (LibreOfficeKit in a
//! process of its own, a jodconverter-style pool driven from Rust) are in
//! `../shared/reference/office-engines.md`; this is the smallest dependable path from Rust.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::watch;

use crate::process::{cancelled, kill_tree, prepare_profile, Bounds, Failure};

/// The helper, shipped inside the crate and written beside the profiles.
const HELPER: &str = include_str!("worker.py");

/// How long a helper may take to start LibreOffice and connect to it.
const START_LIMIT: Duration = Duration::from_secs(90);

/// The export filter that writes `target` from a `source` document; `None` where the warm path
/// has none (the conversion then runs `soffice --convert-to`).
pub fn filter(source: &str, target: &str) -> Option<&'static str> {
    let family = match source {
        "docx" | "doc" | "odt" | "fodt" | "rtf" | "txt" | "html" | "htm" => "writer",
        "xlsx" | "xls" | "ods" | "fods" | "csv" => "calc",
        "pptx" | "ppt" | "odp" | "fodp" => "impress",
        _ => return None,
    };
    Some(match (family, target) {
        ("writer", "pdf") => "writer_pdf_Export",
        ("calc", "pdf") => "calc_pdf_Export",
        ("impress", "pdf") => "impress_pdf_Export",
        ("writer", "docx") => "MS Word 2007 XML",
        ("writer", "odt") => "writer8",
        ("writer", "rtf") => "Rich Text Format",
        ("writer", "txt") => "Text",
        ("writer", "html") => "HTML (StarWriter)",
        ("calc", "xlsx") => "Calc Office Open XML",
        ("calc", "ods") => "calc8",
        ("calc", "csv") => "Text - txt - csv (StarCalc)",
        ("calc", "html") => "HTML (StarCalc)",
        ("impress", "pptx") => "Impress Office Open XML",
        ("impress", "odp") => "impress8",
        _ => return None,
    })
}

/// Whether `python` can drive LibreOffice (`import uno` works): the warm engine's requirement.
pub async fn python_has_uno(python: &Path) -> bool {
    let mut command = tokio::process::Command::new(python);
    command
        .args(["-c", "import uno"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    matches!(
        tokio::time::timeout(Duration::from_secs(30), command.status()).await,
        Ok(Ok(status)) if status.success()
    )
}

/// What one try of a job on a worker came to.
enum Attempt {
    /// The job ran (or failed) on this worker.
    Done(Result<(), Failure>),
    /// The worker's LibreOffice had died before the job reached it.
    Dead,
}

/// Why a worker did not start.
enum Start {
    /// The warm engine cannot run on this machine at all.
    Unavailable(String),
    /// This start failed (the next job tries again).
    Failed(Failure),
}

/// One running helper and its LibreOffice.
struct Helper {
    child: Child,
    stdin: ChildStdin,
    replies: Lines<BufReader<ChildStdout>>,
    /// The process group it leads (LibreOffice included).
    group: u32,
    /// Conversions it has done.
    jobs: u32,
}

impl Drop for Helper {
    fn drop(&mut self) {
        kill_tree(self.group);
        let _ = self.child.start_kill();
    }
}

/// When a worker's LibreOffice is replaced by a fresh one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recycling {
    /// After this many conversions (`MULTICONVERT_OFFICE_MAX_JOBS`, default 500: over 600
    /// one-page documents in one worker its median went from 41 to 47 ms and its RSS from 143 to
    /// 169 MiB, while a restart costs about a second, one five-hundredth of a second a job).
    pub max_jobs: u32,
    /// When the worker's processes together hold more than this many bytes of RSS after a
    /// conversion (`MULTICONVERT_OFFICE_MAX_RSS`, default 1 GiB; `None`: no bound).
    pub max_rss: Option<u64>,
}

impl Recycling {
    /// Sets the conversions after which a worker is recycled (at least 1).
    pub fn with_max_jobs(mut self, jobs: u32) -> Self {
        self.max_jobs = jobs.max(1);
        self
    }
    /// Sets the RSS bound (`None`: none).
    pub fn with_max_rss(mut self, bytes: Option<u64>) -> Self {
        self.max_rss = bytes;
        self
    }
}

impl Default for Recycling {
    fn default() -> Self {
        Recycling {
            max_jobs: 500,
            max_rss: Some(1 << 30),
        }
    }
}

/// The warm workers of one provider: a LibreOffice per worker slot, started ahead of the first
/// job and replaced off the request path (after [`Recycling`]'s bounds, a crash, a deadline).
pub struct Warm {
    python: PathBuf,
    soffice: PathBuf,
    script: PathBuf,
    profiles: PathBuf,
    slots: Vec<Arc<tokio::sync::Mutex<Option<Helper>>>>,
    recycling: Recycling,
    max_memory: Option<u64>,
    /// Set once a helper could not start at all: the per-call path serves from then on.
    off: AtomicBool,
}

impl std::fmt::Debug for Warm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Warm")
            .field("python", &self.python)
            .field("workers", &self.slots.len())
            .field("recycling", &self.recycling)
            .finish_non_exhaustive()
    }
}

impl Warm {
    /// `workers` warm workers running `soffice` through `python`, with profiles (and the
    /// helper) under `profiles`, each LibreOffice within `max_memory` bytes of address space.
    pub fn new(
        python: PathBuf,
        soffice: PathBuf,
        profiles: &Path,
        workers: usize,
        recycling: Recycling,
        max_memory: Option<u64>,
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(profiles)?;
        let script = profiles.join("worker.py");
        std::fs::write(&script, HELPER)?;
        Ok(Warm {
            python,
            soffice,
            script,
            profiles: profiles.to_path_buf(),
            slots: (0..workers.max(1))
                .map(|_| Arc::new(tokio::sync::Mutex::new(None)))
                .collect(),
            recycling,
            max_memory,
            off: AtomicBool::new(false),
        })
    }

    /// Worker `slot`'s profile (the pool's naming).
    fn profile(&self, slot: usize) -> PathBuf {
        self.profiles.join(format!("worker-{slot}"))
    }

    /// Starts every worker's LibreOffice in the background, so that the first conversions do
    /// not wait for it (they wait only for what is left of its start).
    pub fn warm_up(self: &Arc<Self>) {
        for slot in 0..self.slots.len() {
            self.replace(slot, false);
        }
    }

    /// Gives worker `slot` a fresh LibreOffice in the background (its profile thrown away first
    /// when `fresh_profile`: a killed LibreOffice may leave it locked or damaged). Holds the
    /// slot while it starts, so a job for it waits instead of failing.
    fn replace(self: &Arc<Self>, slot: usize, fresh_profile: bool) {
        if self.off.load(Ordering::Relaxed) || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let this = self.clone();
        let held = self.slots[slot].clone();
        tokio::spawn(async move {
            let mut held = held.lock_owned().await;
            if held.is_some() {
                return;
            }
            let profile = this.profile(slot);
            if fresh_profile {
                let _ = tokio::fs::remove_dir_all(&profile).await;
            }
            match this.start(&profile).await {
                Ok(helper) => *held = Some(helper),
                Err(Start::Unavailable(why)) => {
                    tracing::warn!(reason = %why, "the warm LibreOffice engine cannot run here: converting per call");
                    this.off.store(true, Ordering::Relaxed);
                }
                // The next job on this worker tries again, and says why if it fails too.
                Err(Start::Failed(failure)) => {
                    tracing::warn!(slot, reason = %failure.message(), "a warm LibreOffice did not start");
                }
            }
        });
    }

    async fn start(&self, profile: &Path) -> Result<Helper, Start> {
        prepare_profile(profile).await.map_err(|e| {
            Start::Failed(Failure::Io(format!(
                "cannot prepare the LibreOffice profile: {e}"
            )))
        })?;
        // A name no other process on the machine uses: the pipe LibreOffice accepts on.
        let pipe = format!("multiconvert-{}", uuid::Uuid::new_v4().simple());
        let mut command = tokio::process::Command::new(&self.python);
        command
            .arg(&self.script)
            .arg(&self.soffice)
            .arg(profile)
            .arg(&pipe)
            .env("HOME", profile)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        crate::process::contain(&mut command, self.max_memory);
        let mut child = command.spawn().map_err(|e| {
            Start::Unavailable(format!("cannot start {}: {e}", self.python.display()))
        })?;
        let group = child.id().unwrap_or_default();
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let mut helper = Helper {
            child,
            stdin,
            replies: BufReader::new(stdout).lines(),
            group,
            jobs: 0,
        };
        let first = tokio::time::timeout(START_LIMIT, helper.replies.next_line()).await;
        let said: Value = match &first {
            Ok(Ok(Some(line))) => serde_json::from_str(line).unwrap_or(Value::Null),
            _ => Value::Null,
        };
        if said["ready"] == true {
            return Ok(helper);
        }
        if let Some(why) = said["unavailable"].as_str() {
            return Err(Start::Unavailable(why.to_owned()));
        }
        let why = said["failed"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| match first {
                Err(_) => format!("it did not accept within {}s", START_LIMIT.as_secs()),
                _ => "its helper ended before it was ready".to_owned(),
            });
        let bound = match self.max_memory {
            Some(bytes) => format!(
                " (its memory is bounded to {bytes} bytes, the office provider's max_memory, set \
                 by MULTICONVERT_OFFICE_MAX_MEMORY)"
            ),
            None => String::new(),
        };
        Err(Start::Failed(Failure::Crashed(format!(
            "the warm LibreOffice did not start: {}{bound}",
            multiconvert_core::redact::truncate(&why, 300)
        ))))
    }

    /// Converts `input` to `output` with export filter `filter` on worker `slot`, within
    /// `bounds`; the worker's LibreOffice is started when it has none.
    ///
    /// `None` when the warm engine cannot run here at all (no `python3-uno`, a LibreOffice that
    /// never accepts): it is then off for good and the caller converts the per-call way.
    pub async fn convert(
        self: &Arc<Self>,
        slot: usize,
        input: &Path,
        output: &Path,
        filter: &str,
        bounds: Bounds,
        cancel: &mut watch::Receiver<bool>,
    ) -> Option<Result<(), Failure>> {
        if self.off.load(Ordering::Relaxed) {
            return None;
        }
        let slot = slot % self.slots.len();
        match self
            .run(slot, input, output, filter, bounds, cancel)
            .await?
        {
            Attempt::Done(result) => Some(result),
            // The worker's LibreOffice had died while idle: the job never reached it, and goes
            // to a fresh one (once).
            Attempt::Dead => match self
                .run(slot, input, output, filter, bounds, cancel)
                .await?
            {
                Attempt::Done(result) => Some(result),
                Attempt::Dead => Some(Err(Failure::Crashed(
                    "LibreOffice was no longer running".into(),
                ))),
            },
        }
    }

    async fn run(
        self: &Arc<Self>,
        slot: usize,
        input: &Path,
        output: &Path,
        filter: &str,
        bounds: Bounds,
        cancel: &mut watch::Receiver<bool>,
    ) -> Option<Attempt> {
        let mut held = self.slots[slot].lock().await;
        if held.is_none() {
            match self.start(&self.profile(slot)).await {
                Ok(helper) => *held = Some(helper),
                Err(Start::Unavailable(why)) => {
                    tracing::warn!(reason = %why, "the warm LibreOffice engine cannot run here: converting per call");
                    self.off.store(true, Ordering::Relaxed);
                    return None;
                }
                Err(Start::Failed(failure)) => return Some(Attempt::Done(Err(failure))),
            }
        }
        let helper = held.as_mut().expect("started above");
        let job = json!({"input": input, "output": output, "filter": filter}).to_string() + "\n";
        let exchange = async {
            helper.stdin.write_all(job.as_bytes()).await?;
            helper.stdin.flush().await?;
            helper.replies.next_line().await
        };
        let outcome = tokio::select! {
            reply = exchange => match reply {
                Ok(Some(line)) => Ok(line),
                _ => Err(Failure::Crashed("LibreOffice ended while converting".into())),
            },
            _ = tokio::time::sleep(bounds.deadline) => Err(Failure::Deadline(bounds.deadline)),
            _ = cancelled(cancel) => Err(Failure::Canceled),
        };
        let line = match outcome {
            Ok(line) => line,
            Err(failure) => {
                // The whole group goes (LibreOffice with it); a fresh one starts in the
                // background on a fresh profile, ready for the worker's next job.
                *held = None;
                drop(held);
                self.replace(slot, true);
                return Some(Attempt::Done(Err(failure)));
            }
        };
        let reply: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if matches!(reply["code"].as_str(), Some("dead" | "crashed")) {
            // The helper has ended: its whole group goes, a fresh one starts for the next job.
            *held = None;
            drop(held);
            let dead = reply["code"] == "dead";
            self.replace(slot, !dead);
            if dead {
                return Some(Attempt::Dead);
            }
            let text = reply["error"].as_str().unwrap_or("LibreOffice crashed");
            return Some(Attempt::Done(Err(Failure::Crashed(
                multiconvert_core::redact::truncate(text, 300),
            ))));
        }
        helper.jobs += 1;
        let worn = helper.jobs >= self.recycling.max_jobs
            || self
                .recycling
                .max_rss
                .is_some_and(|max| group_rss(helper.group) > max);
        if worn {
            tracing::debug!(slot, jobs = helper.jobs, "recycling a warm LibreOffice");
            *held = None;
            drop(held);
            self.replace(slot, false);
        }
        if reply["ok"] == true {
            return Some(Attempt::Done(Ok(())));
        }
        let text = reply["error"]
            .as_str()
            .unwrap_or("LibreOffice gave no answer");
        let text = multiconvert_core::redact::truncate(text, 300);
        // The worker lives on (its profile too): the job wrote nothing.
        Some(Attempt::Done(Err(match reply["code"].as_str() {
            Some("load") => {
                Failure::NoOutput(format!("LibreOffice could not load the document: {text}"))
            }
            _ => Failure::NoOutput(format!("LibreOffice failed: {text}")),
        })))
    }
}

/// The resident memory of every process in group `group`, in bytes (Linux; 0 elsewhere).
fn group_rss(group: u32) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let group = group.to_string();
    entries
        .filter_map(|e| {
            let path = e.ok()?.path();
            let stat = std::fs::read_to_string(path.join("stat")).ok()?;
            // pid (comm) state ppid pgrp …: comm may hold spaces, so count after its ')'.
            let pgrp = stat.rsplit_once(')')?.1.split_whitespace().nth(2)?;
            if pgrp != group {
                return None;
            }
            let status = std::fs::read_to_string(path.join("status")).ok()?;
            let kib: u64 = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()?;
            Some(kib * 1024)
        })
        .sum()
}
