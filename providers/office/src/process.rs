//! Running one `soffice --convert-to` in its own profile, killed with its whole process tree at
//! its deadline or when its job is canceled.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use std::sync::Mutex;

use tokio::sync::{watch, Semaphore, SemaphorePermit};

/// Why a conversion produced nothing usable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// It ran past its deadline and was killed.
    Deadline(Duration),
    /// The job was deleted while it ran; the conversion was killed.
    Canceled,
    /// soffice exited unsuccessfully or was killed by a signal.
    Crashed(String),
    /// soffice ended without writing the expected file.
    NoOutput(String),
    /// The file it wrote is empty or not of the target's format.
    Invalid(String),
    /// soffice could not be started, or a file could not be moved.
    Io(String),
}

impl Failure {
    /// The stable code a job message carries.
    pub fn code(&self) -> &'static str {
        match self {
            Failure::Deadline(_) => "deadline",
            Failure::Canceled => "canceled",
            Failure::Crashed(_) => "crashed",
            Failure::NoOutput(_) => "no_output",
            Failure::Invalid(_) => "invalid_output",
            Failure::Io(_) => "io",
        }
    }

    /// What happened, in words.
    pub fn message(&self) -> String {
        match self {
            Failure::Deadline(d) => format!(
                "the conversion ran past its deadline of {}s and was killed",
                d.as_secs_f64()
            ),
            Failure::Canceled => "the job was deleted; its conversion was killed".into(),
            Failure::Crashed(m) | Failure::NoOutput(m) | Failure::Invalid(m) | Failure::Io(m) => {
                m.clone()
            }
        }
    }
}

/// The settings every fresh profile starts with: no macro ever runs (documents are untrusted).
const NO_MACROS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="MacroSecurityLevel" oor:op="fuse"><value>3</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="DisableMacrosExecution" oor:op="fuse"><value>true</value></prop></item>
</oor:items>
"#;

/// A bounded pool of workers, each with its own LibreOffice user profile: two conversions never
/// share a profile, so neither waits on the other's profile lock.
#[derive(Debug)]
pub struct Pool {
    permits: Semaphore,
    free: Mutex<Vec<usize>>,
    profiles: PathBuf,
}

/// A worker slot, held for one conversion.
pub struct Worker<'a> {
    pool: &'a Pool,
    slot: Option<usize>,
    _permit: SemaphorePermit<'a>,
}

impl Worker<'_> {
    /// The worker's number in its pool.
    pub fn slot(&self) -> usize {
        self.slot.unwrap_or_default()
    }

    /// The worker's profile directory.
    pub fn profile(&self) -> PathBuf {
        self.pool
            .profiles
            .join(format!("worker-{}", self.slot.unwrap_or_default()))
    }

    /// Throws the profile away (after a crash or a kill it may be locked or damaged); the next
    /// conversion on this worker starts a fresh one.
    pub async fn reset(&self) {
        let _ = tokio::fs::remove_dir_all(self.profile()).await;
    }
}

impl Drop for Worker<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            self.pool
                .free
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(slot);
        }
    }
}

impl Pool {
    /// `workers` workers with profiles under `profiles`.
    pub fn new(workers: usize, profiles: PathBuf) -> Self {
        let workers = workers.max(1);
        Pool {
            permits: Semaphore::new(workers),
            free: Mutex::new((0..workers).rev().collect()),
            profiles,
        }
    }

    /// Waits for a free worker.
    pub async fn acquire(&self) -> Worker<'_> {
        let permit = self
            .permits
            .acquire()
            .await
            .expect("the pool's semaphore is never closed");
        let slot = self.free.lock().unwrap_or_else(|p| p.into_inner()).pop();
        Worker {
            pool: self,
            slot,
            _permit: permit,
        }
    }
}

/// Writes a fresh profile's settings (no macro ever runs), once.
pub(crate) async fn prepare_profile(profile: &Path) -> std::io::Result<()> {
    let user = profile.join("user");
    let settings = user.join("registrymodifications.xcu");
    if tokio::fs::try_exists(&settings).await.unwrap_or(false) {
        return Ok(());
    }
    tokio::fs::create_dir_all(&user).await?;
    tokio::fs::write(settings, NO_MACROS).await
}

/// What bounds one conversion.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// How long it may run before its process tree is killed.
    pub deadline: Duration,
    /// The address space its processes may map (`RLIMIT_AS`), if bounded.
    pub max_memory: Option<u64>,
}

/// Converts `input` into `outdir` with `soffice`, on `worker`'s profile, within `bounds`.
pub async fn convert(
    soffice: &Path,
    worker: &Worker<'_>,
    input: &Path,
    convert_to: &str,
    outdir: &Path,
    bounds: Bounds,
    cancel: &mut watch::Receiver<bool>,
) -> Result<(), Failure> {
    let Bounds {
        deadline,
        max_memory,
    } = bounds;
    let profile = worker.profile();
    prepare_profile(&profile)
        .await
        .map_err(|e| Failure::Io(format!("cannot prepare the LibreOffice profile: {e}")))?;
    let profile_url = url::Url::from_directory_path(&profile)
        .map_err(|_| Failure::Io("the profile path is not absolute".into()))?;
    let mut command = tokio::process::Command::new(soffice);
    command
        .args([
            "--headless",
            "--invisible",
            "--nologo",
            "--nodefault",
            "--nolockcheck",
            "--norestore",
            "--nofirststartwizard",
        ])
        .arg(format!("-env:UserInstallation={profile_url}"))
        .arg("--convert-to")
        .arg(convert_to)
        .arg("--outdir")
        .arg(outdir)
        .arg(input)
        // LibreOffice writes beside HOME too: keep that inside the worker's profile.
        .env("HOME", &profile)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    contain(&mut command, max_memory);
    let child = command
        .spawn()
        .map_err(|e| Failure::Io(format!("cannot start {}: {e}", soffice.display())))?;
    let pid = child.id();
    let outcome = tokio::select! {
        output = child.wait_with_output() => output.map_err(|e| Failure::Io(format!("soffice failed: {e}"))),
        _ = tokio::time::sleep(deadline) => Err(Failure::Deadline(deadline)),
        _ = cancelled(cancel) => Err(Failure::Canceled),
    };
    match outcome {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let last = stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            let said = if last.trim().is_empty() {
                String::new()
            } else {
                format!(
                    ": {}",
                    multiconvert_core::redact::truncate(last.trim(), 300)
                )
            };
            // Out of address space shows as a failed start or an allocation failure: when
            // LibreOffice says so, name the bound that held it.
            let lower = stderr.to_ascii_lowercase();
            let out_of_memory = [
                "failed to map",
                "bad_alloc",
                "cannot allocate",
                "out of memory",
            ]
            .iter()
            .any(|sign| lower.contains(sign));
            let bound = match max_memory {
                Some(bytes) if out_of_memory => format!(
                    " (its memory is bounded to {bytes} bytes, the office provider's max_memory, \
                     set by MULTICONVERT_OFFICE_MAX_MEMORY)"
                ),
                _ => String::new(),
            };
            Err(Failure::Crashed(format!(
                "LibreOffice ended with {}{said}{bound}",
                output.status
            )))
        }
        Err(failure) => {
            // Not only soffice: the soffice.bin it started, and anything that started.
            if let Some(pid) = pid {
                kill_tree(pid);
            }
            Err(failure)
        }
    }
}

/// Makes `command` lead a process group of its own (so that its whole tree can be killed) and
/// bounds the address space of each of its processes to `max_memory` bytes.
pub(crate) fn contain(command: &mut tokio::process::Command, max_memory: Option<u64>) {
    #[cfg(unix)]
    command.process_group(0);
    #[cfg(unix)]
    if let Some(bytes) = max_memory {
        let limit = libc::rlimit {
            rlim_cur: bytes as libc::rlim_t,
            rlim_max: bytes as libc::rlim_t,
        };
        // SAFETY: runs in the forked child before exec; setrlimit(2) is async-signal-safe and
        // touches only the `limit` copied into the closure.
        unsafe {
            command.pre_exec(move || {
                if libc::setrlimit(libc::RLIMIT_AS, &limit) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
    #[cfg(not(unix))]
    let _ = (command, max_memory);
}

/// Resolves once the job is cancelled; never when nobody can cancel any more.
pub(crate) async fn cancelled(cancel: &mut watch::Receiver<bool>) {
    if cancel.wait_for(|c| *c).await.is_err() {
        // Nobody can cancel any more: never resolves.
        std::future::pending::<()>().await;
    }
}

/// Kills the process group `pid` leads.
pub(crate) fn kill_tree(pid: u32) {
    #[cfg(unix)]
    {
        // 0 (a child already reaped) would signal this process's own group.
        let Ok(pgid) =
            i32::try_from(pid)
                .map_err(drop)
                .and_then(|p| if p > 1 { Ok(p) } else { Err(()) })
        else {
            return;
        };
        // SAFETY: kill(2) with a negative pid signals that process group and touches no memory.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
    #[cfg(not(unix))]
    let _ = pid;
}
