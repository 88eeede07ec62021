//! What the emulator remembers at ConvertAPI (`../shared/reference/convertapi.md` §5, §7): stored
//! files and async jobs with the route each was submitted on.

use bytes::Bytes;
use serde_json::Value;

/// A file stored at ConvertAPI: an upload or a result.
#[derive(Clone, Debug)]
pub(crate) struct CaFile {
    pub id: String,
    pub name: String,
    pub bytes: Bytes,
}

/// Where a ConvertAPI job was submitted, which is where it must be polled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CaRoute {
    /// `/async/convert`, `/async/job/{id}`.
    Current,
    /// `?Async=true`, `/job/{id}`, and semi-async jobs.
    Legacy,
}

/// A ConvertAPI job.
#[derive(Clone, Debug)]
pub(crate) enum CaState {
    Running,
    Done(Value),
    Failed(u16, Value),
}

/// A ConvertAPI job.
#[derive(Clone, Debug)]
pub(crate) struct CaJob {
    pub route: CaRoute,
    pub state: CaState,
    pub polling: bool,
}
