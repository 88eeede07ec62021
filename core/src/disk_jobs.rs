//! The job lifecycle every in-process provider (engine) shares: jobs recorded on disk under a
//! root (so any process — the CLI's `status`, `delete` — finds them), inputs read into memory,
//! outputs served from the job's directory. The image provider (`multiconvert-local`) and the
//! document provider (`multiconvert-office`) both run on it; a new engine does too.
//!
//! ```
//! use multiconvert_core::disk_jobs::{DiskJobs, StoredJob};
//! use multiconvert_core::{JobHandle, JobStatus};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let root = tempfile::tempdir().unwrap();
//! let jobs = DiskJobs::new("my-engine", root.path())?;
//! let (id, dir) = jobs.create().await?;
//! std::fs::write(dir.join("out.txt"), "done").unwrap();
//! let mut record = StoredJob::new(JobStatus::Processing);
//! record.add_output("out.txt".into(), 4, "text/plain".into());
//! record.finish();
//! jobs.record(&id, &record).unwrap();
//! let job = jobs.poll(&JobHandle::new("my-engine", &id)).await?;
//! assert_eq!(job.status, JobStatus::Completed);
//! assert_eq!(job.outputs[0].filename.as_deref(), Some("out.txt"));
//! # Ok::<(), multiconvert_core::Error>(())
//! # }).unwrap();
//! ```

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use crate::{
    ByteStream, Error, ErrorKind, Input, InputSource, Job, JobHandle, JobMessage, JobStatus,
    Operation, Output, Result, Severity,
};

/// Jobs of one in-process provider, on disk.
#[derive(Clone, Debug)]
pub struct DiskJobs {
    root: PathBuf,
    provider: Cow<'static, str>,
}

impl DiskJobs {
    /// Jobs of `provider` under `root` (created if missing).
    pub fn new(provider: impl Into<Cow<'static, str>>, root: impl Into<PathBuf>) -> Result<Self> {
        let jobs = DiskJobs {
            root: root.into(),
            provider: provider.into(),
        };
        std::fs::create_dir_all(&jobs.root)
            .map_err(|e| jobs.io(Operation::Configure, "cannot create the job directory", e))?;
        Ok(jobs)
    }

    /// Where jobs are kept.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Renames the provider its errors and handles name.
    pub fn rename(&mut self, provider: impl Into<Cow<'static, str>>) {
        self.provider = provider.into();
    }

    /// An error of this provider.
    pub fn error(&self, kind: ErrorKind, op: Operation, message: impl Into<String>) -> Error {
        Error::new(kind, self.provider.clone(), op, message)
    }

    /// An I/O error of this provider.
    pub fn io(&self, op: Operation, what: &str, e: std::io::Error) -> Error {
        self.error(ErrorKind::Io, op, what.to_owned())
            .with_source(e)
    }

    /// Refuses, before any work, a request no in-process provider can run: no input or no
    /// conversion ([`InvalidInput`](ErrorKind::InvalidInput)), or a callback
    /// ([`Unsupported`](ErrorKind::Unsupported): nothing calls back from inside the process).
    pub fn check_request(&self, request: &crate::JobRequest) -> Result<()> {
        let op = Operation::Submit;
        if request.inputs.is_empty() || request.conversions.is_empty() {
            return Err(self.error(
                ErrorKind::InvalidInput,
                op,
                "a job needs at least one input and one conversion",
            ));
        }
        if request.callback.is_some() {
            return Err(self.error(
                ErrorKind::Unsupported,
                op,
                format!("the {} provider makes no callbacks", self.provider),
            ));
        }
        Ok(())
    }

    /// The directory of job `id`, for an id this provider could have issued.
    pub fn dir(&self, id: &str, op: Operation) -> Result<PathBuf> {
        if !is_job_id(id) {
            return Err(self.error(ErrorKind::NotFound, op, "no such job"));
        }
        Ok(job_dir(&self.root, id))
    }

    /// Creates a queued job and returns its id and directory.
    pub async fn create(&self) -> Result<(String, PathBuf)> {
        let op = Operation::Submit;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let dir = job_dir(&self.root, &id);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| self.io(op, "cannot create the job directory", e))?;
        self.record(&id, &StoredJob::new(JobStatus::Queued))
            .map_err(|e| self.io(op, "cannot record the job", e))?;
        Ok((id, dir))
    }

    /// Records job `id`'s state (atomically). Fails once the job was deleted.
    pub fn record(&self, id: &str, job: &StoredJob) -> std::io::Result<()> {
        write(&self.root, id, job)
    }

    /// The job as recorded, under `handle` (whatever it carries: only status and files are read).
    pub async fn poll(&self, handle: &JobHandle) -> Result<Job> {
        let op = Operation::Poll;
        self.dir(&handle.id, op)?;
        let stored = read(&self.root, &handle.id)
            .map_err(|e| self.io(op, "cannot read the job", e))?
            .ok_or_else(|| {
                self.error(ErrorKind::NotFound, op, "no such job")
                    .with_job_id(handle.id.clone())
            })?;
        let mut job = Job::new(handle.clone(), stored.status);
        job.handle.provider = self.provider.to_string();
        job.outputs = stored
            .outputs
            .into_iter()
            .map(|o| {
                let mut out = Output::stored(format!("{}/{}", handle.id, o.filename))
                    .with_filename(o.filename)
                    .with_size(o.size)
                    .with_content_type(o.content_type);
                out.url = None;
                out
            })
            .collect();
        job.messages = stored.messages;
        Ok(job)
    }

    /// Tells the submission's journal, if any ([`crate::journal::record_handle`]), about the job
    /// just [`create`](Self::create)d, before it runs; when the journal refuses, the job's
    /// directory goes and nothing runs.
    pub async fn journal(&self, id: &str) -> Result<JobHandle> {
        let handle = JobHandle::new(self.provider.to_string(), id);
        if let Err(e) = crate::journal::record_handle(&handle).await {
            let _ = self.delete(&handle).await;
            return Err(e);
        }
        Ok(handle)
    }

    /// Whether the job ended (completed or failed) and is still on disk: what
    /// [`resume`](crate::ConversionProvider::resume) keeps. Work in progress dies
    /// with the process that ran it, so anything else is converted again (nothing is paid
    /// twice: the work never leaves this machine).
    pub async fn ended(&self, handle: &JobHandle) -> bool {
        self.poll(handle)
            .await
            .is_ok_and(|job| job.status.is_terminal())
    }

    /// Deletes the job and its files.
    pub async fn delete(&self, handle: &JobHandle) -> Result<()> {
        let op = Operation::Delete;
        let dir = self.dir(&handle.id, op)?;
        let mut outcome = tokio::fs::remove_dir_all(&dir).await;
        // A job still running in another process may write a file while the directory goes:
        // try again a few times.
        for _ in 0..5 {
            match &outcome {
                Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    outcome = tokio::fs::remove_dir_all(&dir).await;
                }
                _ => break,
            }
        }
        match outcome {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(self
                .error(ErrorKind::NotFound, op, "no such job")
                .with_job_id(handle.id.clone())),
            Err(e) => Err(self.io(op, "cannot delete the job", e)),
        }
    }

    /// Streams an output from the job's directory.
    pub async fn download(&self, output: &Output) -> Result<ByteStream> {
        let op = Operation::Download;
        let (job, file) = output
            .id
            .as_deref()
            .and_then(|id| id.split_once('/'))
            .filter(|(job, file)| is_job_id(job) && crate::safe_filename(file) == *file)
            .ok_or_else(|| self.error(ErrorKind::NotFound, op, "not an output of this provider"))?;
        let path = job_dir(&self.root, job).join(file);
        let f = tokio::fs::File::open(&path).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                self.error(ErrorKind::NotFound, op, "the output is gone")
            } else {
                self.io(op, "cannot read the output", e)
            }
        })?;
        let len = f
            .metadata()
            .await
            .map_err(|e| self.io(op, "cannot read the output", e))?
            .len();
        let this = self.clone();
        let stream = tokio_util::io::ReaderStream::with_capacity(f, 64 * 1024).map(move |chunk| {
            chunk.map_err(|e| this.io(Operation::Download, "cannot read the output", e))
        });
        Ok(ByteStream::new(
            stream,
            Some(len),
            output.content_type.clone(),
        ))
    }

    /// Reads a local input (path, bytes, base64, reader) into memory, refusing more than
    /// `max` bytes; URLs and vendor-side inputs are [`Unsupported`](ErrorKind::Unsupported).
    pub async fn read_input(&self, input: &Input, max: u64) -> Result<Vec<u8>> {
        let op = Operation::Submit;
        let too_big = || {
            self.error(
                ErrorKind::InvalidInput,
                op,
                format!("inputs larger than {max} bytes are refused"),
            )
        };
        match &input.source {
            InputSource::Path(p) => {
                let meta = tokio::fs::metadata(p)
                    .await
                    .map_err(|e| self.io(op, &format!("cannot read {}", p.display()), e))?;
                if meta.len() > max {
                    return Err(too_big());
                }
                tokio::fs::read(p)
                    .await
                    .map_err(|e| self.io(op, &format!("cannot read {}", p.display()), e))
            }
            InputSource::Bytes(b) if b.len() as u64 > max => Err(too_big()),
            InputSource::Bytes(b) => Ok(b.to_vec()),
            InputSource::Base64(data) => {
                let payload = data.rsplit_once("base64,").map_or(data.as_str(), |(_, d)| d);
                // Checked before decoding: base64 holds three bytes in four characters.
                if (payload.trim().len() as u64 / 4).saturating_mul(3) > max {
                    return Err(too_big());
                }
                base64::engine::general_purpose::STANDARD
                    .decode(payload.trim())
                    .map_err(|_| self.error(ErrorKind::InvalidInput, op, "the base64 input does not decode"))
            }
            InputSource::Reader(r) => {
                if r.length > max {
                    return Err(too_big());
                }
                let reader = r.take().ok_or_else(|| {
                    self.error(ErrorKind::InvalidInput, op, "the reader input was already consumed")
                })?;
                let mut bytes = Vec::with_capacity(r.length as usize);
                reader
                    .take(r.length)
                    .read_to_end(&mut bytes)
                    .await
                    .map_err(|e| self.io(op, "cannot read the input", e))?;
                Ok(bytes)
            }
            _ => Err(self.error(
                ErrorKind::Unsupported,
                op,
                format!(
                    "{} converts local files, bytes and base64; it fetches nothing from the network",
                    self.provider
                ),
            )),
        }
    }
}

// The record on disk.

/// One output as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredOutput {
    /// The file name in the job's directory.
    pub filename: String,
    /// Its size.
    pub size: u64,
    /// Its media type.
    pub content_type: String,
}

/// A job as recorded in `<root>/<id>/job.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredJob {
    /// Its status.
    pub status: JobStatus,
    /// Its outputs so far.
    #[serde(default)]
    pub outputs: Vec<StoredOutput>,
    /// Its errors.
    #[serde(default)]
    pub messages: Vec<JobMessage>,
}

impl StoredJob {
    /// A job in `status` with nothing yet.
    pub fn new(status: JobStatus) -> Self {
        StoredJob {
            status,
            outputs: Vec::new(),
            messages: Vec::new(),
        }
    }

    /// Records an output.
    pub fn add_output(&mut self, filename: String, size: u64, content_type: String) {
        self.outputs.push(StoredOutput {
            filename,
            size,
            content_type,
        });
    }

    /// Ends the job: failed when any error was recorded, else completed.
    pub fn finish(&mut self) {
        self.status = if self.messages.iter().any(|m| m.severity == Severity::Error) {
            JobStatus::Failed
        } else {
            JobStatus::Completed
        };
    }

    /// Records an error.
    pub fn fail(&mut self, message: JobMessage) {
        self.messages.push(message);
    }
}

/// True for the ids this provider issues (32 lower-case hex digits): nothing else ever becomes a
/// path.
pub fn is_job_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The job's directory.
pub fn job_dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

/// Writes the job's record atomically (temporary file, then rename).
pub fn write(root: &Path, id: &str, job: &StoredJob) -> std::io::Result<()> {
    let dir = job_dir(root, id);
    let tmp = dir.join("job.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(job).expect("serialisable"))?;
    std::fs::rename(tmp, dir.join("job.json"))
}

/// Reads the job's record; `None` when there is no such job.
pub fn read(root: &Path, id: &str) -> std::io::Result<Option<StoredJob>> {
    match std::fs::read(job_dir(root, id).join("job.json")) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}
