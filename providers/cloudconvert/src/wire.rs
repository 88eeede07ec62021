//! CloudConvert's JSON, as the API sends it. Every field the model does not need is left out;
//! every field that may be missing or `null` (the docs' `job.created` event has a `null` status)
//! is optional.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// `{"data": …}`, the envelope of every answer.
#[derive(Clone, Debug, Deserialize)]
pub struct Envelope<T> {
    /// What the answer holds.
    pub data: T,
}

/// A job.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireJob {
    /// Its id (a UUID).
    pub id: String,
    /// The tag it was created with.
    pub tag: Option<String>,
    /// `waiting`, `processing`, `finished`, `error` (or `null`).
    pub status: Option<String>,
    /// When it was created.
    pub created_at: Option<String>,
    /// Its tasks, in the order the API lists them.
    pub tasks: Vec<WireTask>,
}

/// A task of a job.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireTask {
    /// Its id.
    pub id: String,
    /// Its name in the job.
    pub name: Option<String>,
    /// `import/upload`, `convert`, `export/url`, …
    pub operation: String,
    /// `waiting`, `processing`, `finished`, `error` (a `queued` is typed by one SDK).
    pub status: Option<String>,
    /// A message (`Waiting for file upload`, or why it failed).
    pub message: Option<String>,
    /// The error code of a failed task (`INPUT_TASK_FAILED`, …).
    pub code: Option<String>,
    /// What it cost, once finished.
    pub credits: Option<u64>,
    /// What it was asked (sent by the API with `include=payload`, and by older versions always).
    pub payload: Option<Value>,
    /// What it produced: an upload form, or files.
    pub result: Option<WireResult>,
}

/// A task's result.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireResult {
    /// Where an `import/upload` task takes its file.
    pub form: Option<WireForm>,
    /// The files it produced (an `export/url` task's carry URLs).
    pub files: Vec<WireFile>,
}

/// An upload form: POST `parameters` in their order, then the file as `file`.
#[derive(Clone, Debug, Deserialize)]
pub struct WireForm {
    /// Where to POST.
    pub url: String,
    /// The fields, in the order the API lists them.
    #[serde(default)]
    pub parameters: OrderedFields,
}

/// A file a task produced.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireFile {
    /// Its name.
    pub filename: Option<String>,
    /// Its size in bytes.
    pub size: Option<u64>,
    /// Where to fetch it (export tasks only; no key needed).
    pub url: Option<String>,
    /// Its MD5, where given.
    pub md5: Option<String>,
}

/// An error answer: `{"message", "code", "errors"}`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireError {
    /// What went wrong.
    pub message: Option<String>,
    /// `INVALID_DATA`, `CREDITS_EXCEEDED`, …
    pub code: Option<String>,
    /// Per field, what is wrong with it.
    pub errors: Option<Value>,
}

/// A webhook's body: `{"event": "job.finished", "job": {…}}`.
#[derive(Clone, Debug, Deserialize)]
pub struct WireEvent {
    /// `job.created`, `job.finished`, `job.failed`.
    pub event: String,
    /// The job as it stood.
    pub job: WireJob,
}

/// A JSON object's fields in document order, every value as text (numbers in decimal): what an
/// upload form must send in the order it was given. (serde_json's map sorts its keys.)
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderedFields(pub Vec<(String, String)>);

impl<'de> Deserialize<'de> for OrderedFields {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = OrderedFields;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of form fields")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedFields, A::Error> {
                let mut fields = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    let text = match value {
                        Value::String(s) => s,
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        Value::Null => continue,
                        other => {
                            return Err(serde::de::Error::custom(format!(
                                "form field {key} is not a plain value: {other}"
                            )))
                        }
                    };
                    fields.push((key, text));
                }
                Ok(OrderedFields(fields))
            }
            fn visit_unit<E>(self) -> Result<OrderedFields, E> {
                Ok(OrderedFields::default())
            }
        }
        d.deserialize_any(Fields)
    }
}
