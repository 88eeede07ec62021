//! What the emulator remembers of an online-convert job (`../shared/reference/online-convert.md`
//! §4): its inputs, conversions and outputs, with the bytes each holds.

use bytes::Bytes;
use serde_json::{Map, Value};

/// An online-convert input.
#[derive(Clone, Debug)]
pub(crate) struct OcInput {
    pub id: String,
    pub kind: String,
    pub source: String,
    pub status: String,
    pub filename: String,
    pub bytes: Option<Bytes>,
    pub options: Map<String, Value>,
    pub created_at: String,
}

/// An online-convert conversion.
#[derive(Clone, Debug)]
pub(crate) struct OcConversion {
    pub id: String,
    pub target: String,
    pub category: String,
    pub options: Map<String, Value>,
    pub metadata: Map<String, Value>,
    pub output_target: Vec<Value>,
}

/// An online-convert output.
#[derive(Clone, Debug)]
pub(crate) struct OcOutput {
    pub id: String,
    pub conversion: String,
    pub input: String,
    pub filename: String,
    pub bytes: Bytes,
    pub content_type: String,
    pub downloads: u64,
    pub password: Option<String>,
    pub created_at: String,
}

/// An online-convert job.
#[derive(Clone, Debug)]
pub(crate) struct OcJob {
    pub id: String,
    pub token: String,
    pub seq: u64,
    pub status: String,
    pub info: String,
    pub process: bool,
    pub started: bool,
    pub inputs: Vec<OcInput>,
    pub conversions: Vec<OcConversion>,
    pub outputs: Vec<OcOutput>,
    pub errors: Vec<Value>,
    pub warnings: Vec<Value>,
    pub callback: String,
    pub notify_status: bool,
    pub fail_on_input_error: bool,
    pub fail_on_conversion_error: bool,
    pub download_passwords: Vec<String>,
    pub history: Vec<(String, String, String)>,
    pub created_at: String,
    pub modified_at: String,
}
