//! What the emulator remembers of a CloudConvert job (`../shared/reference/cloudconvert.md` §2,
//! §3): its tasks in the create body's order, and the files they hold.

use bytes::Bytes;
use serde_json::Value;

/// A file a CloudConvert task holds: an import's input or a conversion's result.
#[derive(Clone, Debug)]
pub(crate) struct CcFile {
    pub filename: String,
    pub bytes: Bytes,
    pub content_type: String,
}

/// A task of a CloudConvert job.
#[derive(Clone, Debug)]
pub(crate) struct CcTask {
    pub id: String,
    pub name: String,
    pub operation: String,
    pub status: String,
    pub message: Option<String>,
    pub code: Option<String>,
    pub credits: Option<u64>,
    /// The task as the create body gave it.
    pub payload: Value,
    /// The names of the tasks it takes its files from.
    pub inputs: Vec<String>,
    pub files: Vec<CcFile>,
    /// An `import/upload` task's form, until its file arrives.
    pub form: Option<Value>,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
}

/// A CloudConvert job: its tasks in the create body's order.
#[derive(Clone, Debug)]
pub(crate) struct CcJob {
    pub id: String,
    pub tag: Option<String>,
    pub status: String,
    pub webhook_url: Option<String>,
    pub seq: u64,
    pub created_at: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub tasks: Vec<CcTask>,
}
