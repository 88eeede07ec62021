//! The vendor's JSON, read tolerantly (both documentation generations).

use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::collections::BTreeMap;

fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => Some(other.to_string()),
    })
}

/// A conversion result: `{ConversionCost | ConversionTime, Files}`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct WireResult {
    /// What the conversion cost (newer docs).
    #[serde(default, rename = "ConversionCost", deserialize_with = "lenient_u64")]
    pub conversion_cost: Option<u64>,
    /// Seconds charged (2021 docs): accepted as the cost.
    #[serde(default, rename = "ConversionTime", deserialize_with = "lenient_u64")]
    pub conversion_time: Option<u64>,
    /// One entry per output file.
    #[serde(rename = "Files")]
    pub files: Vec<WireFile>,
}

/// One output file.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct WireFile {
    /// The server's name for it (untrusted).
    #[serde(default, rename = "FileName")]
    pub file_name: Option<String>,
    /// Its extension.
    #[serde(default, rename = "FileExt")]
    pub file_ext: Option<String>,
    /// Its size.
    #[serde(default, rename = "FileSize", deserialize_with = "lenient_u64")]
    pub file_size: Option<u64>,
    /// Its stored id (with `StoreFile=true`).
    #[serde(default, rename = "FileId")]
    pub file_id: Option<String>,
    /// Where to fetch it (with `StoreFile=true`).
    #[serde(default, rename = "Url")]
    pub url: Option<String>,
    /// The content inline, base64 (with `StoreFile=false`).
    #[serde(default, rename = "FileData")]
    pub file_data: Option<String>,
}

/// An error body: `{Code, Message, InvalidParameters?}`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct WireError {
    /// The code (advisory: meanings differ across documentation generations).
    #[serde(default, rename = "Code", deserialize_with = "lenient_string")]
    pub code: Option<String>,
    /// The text.
    #[serde(default, rename = "Message")]
    pub message: Option<String>,
    /// Per-parameter validation messages.
    #[serde(default, rename = "InvalidParameters")]
    pub invalid_parameters: Option<BTreeMap<String, Value>>,
}

/// The answer to an async submit.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct WireJobId {
    /// The job id.
    #[serde(default, rename = "JobId")]
    pub job_id: Option<String>,
}

/// The answer to `POST /upload`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct WireUpload {
    /// The stored file's id.
    #[serde(default, rename = "FileId")]
    pub file_id: Option<String>,
    /// Its name.
    #[serde(default, rename = "FileName")]
    pub file_name: Option<String>,
}
