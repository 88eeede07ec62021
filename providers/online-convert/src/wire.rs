//! The vendor's JSON, read tolerantly: unknown fields kept, unknown values kept, `[]` accepted
//! where an object is meant, both spellings where the documentation conflicts, and every id and
//! code as a string or a number.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// An object that the API may send as `[]` when empty (its schema's default).
pub fn object_or_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Object(map) => map,
        _ => Map::new(),
    })
}

/// A string, or anything else turned into its text (codes arrive as numbers or strings).
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => Some(other.to_string()),
    })
}

/// An id or code that arrives as a string or a number (`null` is empty).
fn lenient_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(lenient_string(d)?.unwrap_or_default())
}

/// A list that may be missing or `null`.
fn list_or_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// `status` of a job: `{code, info}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WireStatus {
    /// The code (`completed`, …; an open set).
    #[serde(default, deserialize_with = "lenient_id")]
    pub code: String,
    /// Free text.
    #[serde(default)]
    pub info: String,
}

/// A job.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct WireJob {
    /// The id (a 2xx without one is a protocol error).
    #[serde(default, deserialize_with = "lenient_id")]
    pub id: String,
    /// The per-job token.
    #[serde(default)]
    pub token: Option<String>,
    /// The status.
    #[serde(default)]
    pub status: WireStatus,
    /// Staged (false) or started.
    #[serde(default)]
    pub process: Option<bool>,
    /// Errors.
    #[serde(default, deserialize_with = "list_or_empty")]
    pub errors: Vec<WireMessage>,
    /// Warnings.
    #[serde(default, deserialize_with = "list_or_empty")]
    pub warnings: Vec<WireMessage>,
    /// Inputs.
    #[serde(default, deserialize_with = "list_or_empty")]
    pub input: Vec<WireInput>,
    /// Conversions.
    #[serde(default, deserialize_with = "list_or_empty")]
    pub conversion: Vec<WireConversion>,
    /// Outputs.
    #[serde(default, deserialize_with = "list_or_empty")]
    pub output: Vec<WireOutput>,
    /// The callback URL (`""` = none).
    #[serde(default)]
    pub callback: Option<String>,
    /// The upload host.
    #[serde(default)]
    pub server: Option<String>,
    /// Naive timestamp.
    #[serde(default)]
    pub created_at: Option<String>,
    /// Credits the job used (a number, or digits in a string).
    #[serde(default, deserialize_with = "lenient_string")]
    pub spent: Option<String>,
    /// Naive timestamp.
    #[serde(default)]
    pub modified_at: Option<String>,
}

/// An error or warning of a job.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct WireMessage {
    /// `input` or `conversion`.
    #[serde(default)]
    pub source: Option<String>,
    /// The id concerned (`id_source`, or `idSource` in one documented example).
    #[serde(default, alias = "idSource", deserialize_with = "lenient_string")]
    pub id_source: Option<String>,
    /// The code.
    #[serde(default, deserialize_with = "lenient_string")]
    pub code: Option<String>,
    /// The text.
    #[serde(default)]
    pub message: String,
}

/// An input.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct WireInput {
    /// The id.
    #[serde(default, deserialize_with = "lenient_id")]
    pub id: String,
    /// `remote`, `upload`, … (open set).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// URL, provider or id.
    #[serde(default)]
    pub source: Option<String>,
    /// `ready`, `downloading`, `failed`, … (open set).
    #[serde(default)]
    pub status: Option<String>,
    /// The file name.
    #[serde(default)]
    pub filename: Option<String>,
    /// The size (0 until known).
    #[serde(default)]
    pub size: Option<u64>,
    /// Options.
    #[serde(default, deserialize_with = "object_or_empty")]
    pub options: Map<String, Value>,
    /// Metadata.
    #[serde(default, deserialize_with = "object_or_empty")]
    pub metadata: Map<String, Value>,
}

/// A conversion.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct WireConversion {
    /// The id.
    #[serde(default, deserialize_with = "lenient_id")]
    pub id: String,
    /// The target format.
    #[serde(default)]
    pub target: String,
    /// The category.
    #[serde(default)]
    pub category: Option<String>,
    /// Options (`[]` when empty).
    #[serde(default, deserialize_with = "object_or_empty")]
    pub options: Map<String, Value>,
    /// Metadata.
    #[serde(default, deserialize_with = "object_or_empty")]
    pub metadata: Map<String, Value>,
}

/// An output.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct WireOutput {
    /// The id.
    #[serde(default, deserialize_with = "lenient_id")]
    pub id: String,
    /// The download URL.
    #[serde(default)]
    pub uri: Option<String>,
    /// The file name (`filename`, or `name` on one documentation page).
    #[serde(default, alias = "name")]
    pub filename: Option<String>,
    /// The size.
    #[serde(default)]
    pub size: Option<u64>,
    /// `enabled`, `disabled`, `expired`, `overuse` (open set).
    #[serde(default)]
    pub status: Option<String>,
    /// The media type.
    #[serde(default)]
    pub content_type: Option<String>,
    /// MD5 hex.
    #[serde(default)]
    pub checksum: Option<String>,
}

/// The answer to an upload: an Input, or `{"id": {"job": …, "input": …}}` (a third-party form).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum WireUploadReply {
    /// `{"id": {"job", "input"}}`.
    Nested {
        /// The ids.
        id: NestedIds,
    },
    /// An Input.
    Input(WireInput),
}

/// The nested ids of an upload reply.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct NestedIds {
    /// The job.
    #[serde(default, deserialize_with = "lenient_string")]
    pub job: Option<String>,
    /// The new input.
    #[serde(default, deserialize_with = "lenient_string")]
    pub input: Option<String>,
}

impl WireUploadReply {
    /// The new input's id.
    pub fn input_id(&self) -> Option<&str> {
        match self {
            WireUploadReply::Nested { id } => id.input.as_deref(),
            WireUploadReply::Input(i) => Some(i.id.as_str()),
        }
        .filter(|s| !s.is_empty())
    }
}

/// The HTTP error body: `{code?, message, errors?}`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct WireError {
    /// A code.
    #[serde(default, deserialize_with = "lenient_string")]
    pub code: Option<String>,
    /// The text.
    #[serde(default)]
    pub message: Option<String>,
}

/// An entry of `GET /jobs/{id}/history`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HistoryEntry {
    /// The entry id.
    #[serde(default, deserialize_with = "lenient_id")]
    pub id: String,
    /// The status code at that time.
    #[serde(default, deserialize_with = "lenient_string")]
    pub status: Option<String>,
    /// Free text.
    #[serde(default)]
    pub info: Option<String>,
    /// Naive timestamp.
    #[serde(default)]
    pub created_at: Option<String>,
}

/// An entry of `GET /statuses`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StatusInfo {
    /// The code.
    #[serde(default, deserialize_with = "lenient_id")]
    pub code: String,
    /// What it means.
    #[serde(default)]
    pub info: String,
}

/// An entry of the conversions catalog, `GET /conversions`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CatalogEntry {
    /// The id.
    #[serde(default, deserialize_with = "lenient_id")]
    pub id: String,
    /// The target format.
    #[serde(default)]
    pub target: String,
    /// The category.
    #[serde(default)]
    pub category: String,
    /// A schema per option.
    #[serde(default, deserialize_with = "object_or_empty")]
    pub options: Map<String, Value>,
}
