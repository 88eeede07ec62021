//! Where a job stands: an open set of statuses; a vendor's code we do not know is kept, never
//! terminal.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A job's state. An open set: vendor codes we do not know are kept as [`JobStatus::Unknown`],
/// which is never terminal.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JobStatus {
    /// Created, not yet complete (staged).
    Created,
    /// Missing information to run (staged).
    Incomplete,
    /// Complete but not started (staged).
    Ready,
    /// Waiting for a worker.
    Queued,
    /// Fetching inputs.
    Downloading,
    /// Converting.
    Processing,
    /// Finished successfully.
    Completed,
    /// Finished with errors; see the job's messages.
    Failed,
    /// Cancelled or deleted.
    Canceled,
    /// A vendor code multiconvert does not know (non-terminal).
    Unknown(String),
}

impl JobStatus {
    /// Completed, failed or canceled.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::Failed | JobStatus::Canceled
        )
    }
    /// Created, incomplete or ready: the job will not move until it is started.
    pub fn is_staged(&self) -> bool {
        matches!(
            self,
            JobStatus::Created | JobStatus::Incomplete | JobStatus::Ready
        )
    }
    /// The stable `snake_case` name (the vendor's own code for `Unknown`).
    pub fn as_str(&self) -> &str {
        match self {
            JobStatus::Created => "created",
            JobStatus::Incomplete => "incomplete",
            JobStatus::Ready => "ready",
            JobStatus::Queued => "queued",
            JobStatus::Downloading => "downloading",
            JobStatus::Processing => "processing",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Canceled => "canceled",
            JobStatus::Unknown(code) => code,
        }
    }
    /// Parses a name produced by [`as_str`](Self::as_str); anything else is `Unknown`.
    pub fn parse(code: &str) -> JobStatus {
        match code {
            "created" => JobStatus::Created,
            "incomplete" => JobStatus::Incomplete,
            "ready" => JobStatus::Ready,
            "queued" => JobStatus::Queued,
            "downloading" => JobStatus::Downloading,
            "processing" => JobStatus::Processing,
            "completed" => JobStatus::Completed,
            "failed" => JobStatus::Failed,
            "canceled" | "cancelled" => JobStatus::Canceled,
            other => JobStatus::Unknown(other.to_owned()),
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for JobStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for JobStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| JobStatus::parse(&s))
    }
}
