//! The cassette format: one JSON file per scenario and provider.
//!
//! ```json
//! {
//!   "provenance": {"kind": "transcribed", "source": "https://…/docs/…", "notes": "…"},
//!   "params": {"job_id": "8daae6d1-…"},
//!   "webhook": {"method": "POST", "path": "/hooks", "headers": {}, "body": {"json": {}}},
//!   "interactions": [
//!     {"request":  {"method": "POST", "path": "/v2/jobs", "query": {}, "headers": {"x-oc-api-key": "{{secret:api_key}}"},
//!                   "absent_headers": ["authorization"], "body": {"json": {"process": false}}},
//!      "response": {"status": 201, "headers": {}, "body": {"json": {"id": "…", "server": "{{base_url}}/dl"}}, "delay_ms": 0}}
//!   ]
//! }
//! ```
//! Strings may hold `{{any}}` (matches anything), `{{capture:NAME}}` (matches anything the first
//! time and remembers it; later occurrences must be equal, and responses are filled with it),
//! `{{secret:NAME}}` (a [`fake_secret`](crate::fake_secret), never a real one) and `{{base_url}}`
//! (the mock server). Request bodies are `json` (exact keys, templated strings), `form`
//! (exact keys), `multipart` (part names and file names, in order), `text`, or `any`; a missing
//! body is not checked. Response bodies are `json`, `text`, `base64` or `file` (a path relative
//! to the fixtures directory).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::template::Bindings;

/// Where a cassette's traffic came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// `recorded` (captured from the vendor, secrets scrubbed) or `transcribed` (written from the
    /// vendor's documented wire format).
    pub kind: ProvenanceKind,
    /// The documentation page or the recording session.
    pub source: String,
    /// Anything a maintainer should know (conflicts, assumptions).
    #[serde(default)]
    pub notes: String,
    /// For a recording: when, from where, by which version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded: Option<Recorded>,
}

/// When and how a cassette was recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    /// The day (`YYYY-MM-DD`, UTC).
    pub date: String,
    /// The vendor's base URL the traffic went to.
    pub base_url: String,
    /// The multiconvert-conformance version that recorded it.
    pub crate_version: String,
}

/// How a cassette was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProvenanceKind {
    /// Captured from the vendor with real credentials, secrets scrubbed.
    Recorded,
    /// Written from the vendor's documentation.
    Transcribed,
}

/// One scenario's traffic.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cassette {
    /// Where it came from.
    pub provenance: Provenance,
    /// Values the scenario needs (`job_id` of an existing job, …).
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// An incoming callback, for webhook scenarios.
    #[serde(default)]
    pub webhook: Option<InboundRequest>,
    /// The exchanges, in order.
    pub interactions: Vec<Interaction>,
    /// For a recording: the scenario's normalised outcome when it was recorded (what a replay
    /// and a live check are compared with).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Value>,
}

/// An incoming callback as the vendor would send it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InboundRequest {
    /// The method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The body.
    #[serde(default)]
    pub body: Option<ResponseBody>,
}

/// One request and its answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Interaction {
    /// What the provider must send.
    pub request: ExpectedRequest,
    /// What the server answers.
    pub response: CannedResponse,
}

/// What a request must look like.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExpectedRequest {
    /// The method.
    pub method: String,
    /// The path (templated).
    pub path: String,
    /// Query parameters that must be present (templated values); others are allowed.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// Query parameters that must not be present.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub absent_query: Vec<String>,
    /// Headers that must be present (names case-insensitive, templated values).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Headers that must not be present (a secret that must not travel, say).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub absent_headers: Vec<String>,
    /// The body, when it matters.
    #[serde(default)]
    pub body: Option<RequestBody>,
}

/// How a request body is checked.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestBody {
    /// JSON, compared structurally.
    Json(Value),
    /// `application/x-www-form-urlencoded`, the exact set of fields.
    Form(BTreeMap<String, String>),
    /// `multipart/form-data`, the parts in order.
    Multipart(Vec<Part>),
    /// Text, compared as a template.
    Text(String),
    /// Anything (a binary upload, say); `true` requires a non-empty body.
    Any(bool),
}

/// One expected multipart part.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Part {
    /// The part name.
    pub name: String,
    /// The file name, for a file part.
    #[serde(default)]
    pub filename: Option<String>,
    /// The text value, for a field part.
    #[serde(default)]
    pub text: Option<String>,
}

/// What the mock server answers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CannedResponse {
    /// The status.
    pub status: u16,
    /// Headers (templated values).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The body.
    #[serde(default)]
    pub body: Option<ResponseBody>,
    /// Milliseconds to wait before answering.
    #[serde(default)]
    pub delay_ms: u64,
}

/// A canned body.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseBody {
    /// JSON (templated strings).
    Json(Value),
    /// Text (templated).
    Text(String),
    /// Raw bytes, base64.
    Base64(String),
    /// Raw bytes from a file relative to the fixtures directory.
    File(PathBuf),
}

/// A cassette that could not be loaded.
#[derive(Debug)]
pub struct LoadError(pub String);

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadError {}

impl Cassette {
    /// Reads a cassette file.
    pub fn load(path: &Path) -> Result<Cassette, LoadError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| LoadError(format!("cannot read {}: {e}", path.display())))?;
        serde_json::from_str(&text)
            .map_err(|e| LoadError(format!("{} is not a valid cassette: {e}", path.display())))
    }

    /// A parameter, or a readable failure.
    pub fn param(&self, name: &str) -> Result<&str, String> {
        self.params
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| format!("the cassette has no params.{name}"))
    }
}

/// Renders a canned body to bytes.
pub fn render_body(
    body: &ResponseBody,
    bindings: &Bindings,
    fixtures: &Path,
) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    Ok(match body {
        ResponseBody::Json(v) => serde_json::to_vec(&render_json(v, bindings)).expect("JSON"),
        ResponseBody::Text(t) => bindings.render(t).into_bytes(),
        ResponseBody::Base64(b) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .map_err(|e| format!("bad base64 body: {e}"))?,
        ResponseBody::File(p) => std::fs::read(fixtures.join(p))
            .map_err(|e| format!("cannot read body file {}: {e}", p.display()))?,
    })
}

/// Renders every string in a JSON value.
pub fn render_json(value: &Value, bindings: &Bindings) -> Value {
    match value {
        Value::String(s) => Value::String(bindings.render(s)),
        Value::Array(a) => Value::Array(a.iter().map(|v| render_json(v, bindings)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), render_json(v, bindings)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Structural JSON match: objects need the same keys, arrays the same length, strings match as
/// templates. Returns the JSON path of the first difference.
pub fn json_matches(
    expected: &Value,
    actual: &Value,
    bindings: &mut Bindings,
) -> Result<(), String> {
    fn walk(e: &Value, a: &Value, b: &mut Bindings, path: &str) -> Result<(), String> {
        match (e, a) {
            (Value::String(t), _) if t == "{{any}}" => Ok(()),
            (Value::String(t), Value::String(s)) => {
                if b.matches(t, s) {
                    Ok(())
                } else {
                    Err(format!("{path}: expected {t:?}, got {s:?}"))
                }
            }
            (Value::Object(eo), Value::Object(ao)) => {
                if let Some(k) = eo.keys().find(|k| !ao.contains_key(*k)) {
                    return Err(format!("{path}.{k}: missing"));
                }
                if let Some(k) = ao.keys().find(|k| !eo.contains_key(*k)) {
                    return Err(format!("{path}.{k}: not expected (value {})", ao[k]));
                }
                for (k, ev) in eo {
                    walk(ev, &ao[k], b, &format!("{path}.{k}"))?;
                }
                Ok(())
            }
            (Value::Array(ea), Value::Array(aa)) => {
                if ea.len() != aa.len() {
                    return Err(format!(
                        "{path}: expected {} items, got {}",
                        ea.len(),
                        aa.len()
                    ));
                }
                for (i, (ev, av)) in ea.iter().zip(aa).enumerate() {
                    walk(ev, av, b, &format!("{path}[{i}]"))?;
                }
                Ok(())
            }
            (e, a) if e == a => Ok(()),
            (e, a) => Err(format!("{path}: expected {e}, got {a}")),
        }
    }
    walk(expected, actual, bindings, "$")
}
