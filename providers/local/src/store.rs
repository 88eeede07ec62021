//! Job state on disk, so any process (the CLI's `status`, `delete`) can find a local job.

use std::path::{Path, PathBuf};

use multiconvert_core::{JobMessage, JobStatus, Severity};
use serde::{Deserialize, Serialize};

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
