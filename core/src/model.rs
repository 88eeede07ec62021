//! The vendor-neutral model: what an application asks for and what it gets back.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::io::AsyncRead;
use url::Url;

use crate::cost::Cost;
use crate::redact::{redact_json, redact_query};
use crate::secret::Secret;

pub use crate::handle::JobHandle;
pub use crate::reader::ReaderSource;
pub use crate::status::JobStatus;

/// A free-form JSON object: conversion options, cloud parameters, vendor extras.
pub type JsonMap = Map<String, Value>;

/// Everything needed to start one conversion job: one or more inputs, one or more conversions.
///
/// ```
/// use multiconvert_core::{Conversion, Input, JobRequest};
/// let request = JobRequest::new(
///     Input::remote("https://example.com/photo.png".parse().unwrap()),
///     Conversion::to("jpg").option("quality", 80),
/// )
/// .callback("https://app.example.com/hooks/convert".parse().unwrap());
/// assert_eq!(request.conversions[0].target, "jpg");
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct JobRequest {
    /// The files to convert.
    pub inputs: Vec<Input>,
    /// What to convert them to.
    pub conversions: Vec<Conversion>,
    /// Where the vendor should call back when the job changes.
    pub callback: Option<Url>,
    /// Ask for a callback on every status change, not only at the end.
    pub notify_status: bool,
    /// Whether an input error fails the whole job (vendor default when `None`).
    pub fail_on_input_error: Option<bool>,
    /// Whether a conversion error fails the whole job (vendor default when `None`).
    pub fail_on_conversion_error: Option<bool>,
    /// A caller-chosen key that makes submitting this request idempotent where the vendor allows.
    pub idempotency_key: Option<String>,
    /// Vendor parameters the model does not name, passed through as-is.
    pub extra: JsonMap,
    /// Signs the callback URL per job, so the receiver can tell genuine callbacks from forged
    /// ones (see [`CallbackSigner`](crate::CallbackSigner)).
    pub callback_signer: Option<crate::CallbackSigner>,
    /// Told about every uploaded chunk, for progress bars.
    pub upload_progress: Option<crate::progress::Progress>,
    /// How long the caller expects the conversion to take, a hint: a provider that can hold a
    /// request open until the result (ConvertAPI's semi-async convert) does so for short jobs
    /// and submits long ones asynchronously. `None`: the provider's default.
    pub expected_duration: Option<std::time::Duration>,
}

impl JobRequest {
    /// A request with one input and one conversion.
    pub fn new(input: Input, conversion: Conversion) -> Self {
        JobRequest {
            inputs: vec![input],
            conversions: vec![conversion],
            ..JobRequest::default()
        }
    }
    /// Adds an input.
    pub fn input(mut self, input: Input) -> Self {
        self.inputs.push(input);
        self
    }
    /// Adds a conversion.
    pub fn conversion(mut self, conversion: Conversion) -> Self {
        self.conversions.push(conversion);
        self
    }
    /// Sets the callback URL.
    pub fn callback(mut self, url: Url) -> Self {
        self.callback = Some(url);
        self
    }
    /// Asks for a callback on every status change.
    pub fn notify_status(mut self, notify: bool) -> Self {
        self.notify_status = notify;
        self
    }
    /// Whether an input error fails the whole job (`false`: it becomes a warning and the other
    /// inputs are still converted, where the vendor allows).
    pub fn fail_on_input_error(mut self, fail: bool) -> Self {
        self.fail_on_input_error = Some(fail);
        self
    }
    /// Whether a conversion error fails the whole job (`false`: it becomes a warning).
    pub fn fail_on_conversion_error(mut self, fail: bool) -> Self {
        self.fail_on_conversion_error = Some(fail);
        self
    }
    /// Tells `progress` about every uploaded chunk (a progress bar).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    /// use multiconvert_core::upload::{Progress, ProgressEvent};
    /// use multiconvert_core::{Conversion, Input, JobRequest};
    /// let sent = Arc::new(AtomicU64::new(0));
    /// let counter = sent.clone();
    /// let request = JobRequest::new(Input::path("photo.png"), Conversion::to("jpg"))
    ///     .fail_on_input_error(false)
    ///     .upload_progress(Progress::new(move |event| match event {
    ///         ProgressEvent::Restart => counter.store(0, Ordering::Relaxed),
    ///         ProgressEvent::Advance(n) => { counter.fetch_add(n, Ordering::Relaxed); }
    ///         _ => {}
    ///     }));
    /// assert_eq!(request.fail_on_input_error, Some(false));
    /// assert!(request.upload_progress.is_some());
    /// ```
    pub fn upload_progress(mut self, progress: crate::progress::Progress) -> Self {
        self.upload_progress = Some(progress);
        self
    }
    /// Sets the idempotency key.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }
    /// Sets how long the conversion is expected to take (see
    /// [`expected_duration`](Self::expected_duration)).
    pub fn expected_duration(mut self, duration: std::time::Duration) -> Self {
        self.expected_duration = Some(duration);
        self
    }
    /// Sets a vendor parameter the model does not name.
    pub fn extra(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }
    /// Signs the callback URL with `signer` once the job id is known.
    pub fn sign_callback(mut self, signer: crate::CallbackSigner) -> Self {
        self.callback_signer = Some(signer);
        self
    }
    /// The callback URL for job `job_id`: signed when a signer is set. Providers call this once
    /// the id is known (before it is, use [`needs_job_id_for_callback`](Self::needs_job_id_for_callback)).
    pub fn callback_for(&self, job_id: &str) -> Option<Url> {
        let url = self.callback.as_ref()?;
        Some(match &self.callback_signer {
            Some(signer) => signer.sign(url, job_id),
            None => url.clone(),
        })
    }
    /// True when the callback URL depends on the job id (a signer is set).
    pub fn needs_job_id_for_callback(&self) -> bool {
        self.callback.is_some() && self.callback_signer.is_some()
    }
    /// Every (source, target) format pair the job converts whose source is known, from the
    /// conversion's `source_format` or the input's extension. An unknown source is left to the
    /// provider (it may sniff the bytes).
    pub fn format_pairs(&self) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        for conversion in &self.conversions {
            for input in &self.inputs {
                if let Some(source) = conversion
                    .source_format
                    .clone()
                    .or_else(|| input.extension())
                {
                    pairs.push((source, conversion.target.clone()));
                }
            }
        }
        pairs
    }
    /// True when every input can be sent again (no one-shot reader): only then may a router
    /// resubmit the request elsewhere.
    pub fn is_replayable(&self) -> bool {
        self.inputs.iter().all(Input::is_replayable)
    }
}

/// One input file, wherever it comes from.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Input {
    /// Where the bytes are.
    pub source: InputSource,
    /// The file name to present to the vendor (defaults to the path's or URL's last segment).
    pub filename: Option<String>,
    /// A password that opens the file (encrypted PDF, zip).
    pub password: Option<Secret>,
}

impl Input {
    fn with(source: InputSource) -> Self {
        Input {
            source,
            filename: None,
            password: None,
        }
    }
    /// A file the vendor fetches itself.
    pub fn remote(url: Url) -> Self {
        Input::with(InputSource::Remote(url))
    }
    /// A local file, streamed from disk (reopened on each attempt, so it can be retried).
    pub fn path(path: impl Into<PathBuf>) -> Self {
        Input::with(InputSource::Path(path.into()))
    }
    /// Bytes in memory.
    pub fn bytes(bytes: impl Into<Bytes>, filename: impl Into<String>) -> Self {
        Input::with(InputSource::Bytes(bytes.into())).filename(filename)
    }
    /// A one-shot async reader of known length, streamed once. It cannot be retried or replayed.
    pub fn reader(
        reader: impl AsyncRead + Send + Unpin + 'static,
        length: u64,
        filename: impl Into<String>,
    ) -> Self {
        Input::with(InputSource::Reader(ReaderSource::new(reader, length))).filename(filename)
    }
    /// File content already encoded as base64 (or a `data:` URL).
    pub fn base64(data: impl Into<String>, filename: impl Into<String>) -> Self {
        Input::with(InputSource::Base64(data.into())).filename(filename)
    }
    /// A file in cloud storage, read by the vendor with the given credentials.
    pub fn cloud(location: CloudLocation) -> Self {
        Input::with(InputSource::Cloud(location))
    }
    /// A file already stored at the vendor (ConvertAPI FileId, online-convert input id).
    pub fn file_id(id: impl Into<String>) -> Self {
        Input::with(InputSource::FileId(id.into()))
    }
    /// Sets the filename.
    pub fn filename(mut self, name: impl Into<String>) -> Self {
        self.filename = Some(name.into());
        self
    }
    /// Sets the password that opens the file.
    pub fn password(mut self, password: impl Into<Secret>) -> Self {
        self.password = Some(password.into());
        self
    }
    /// The kind of source, for capability checks.
    pub fn kind(&self) -> InputKind {
        match self.source {
            InputSource::Remote(_) => InputKind::Remote,
            InputSource::Path(_) | InputSource::Bytes(_) | InputSource::Reader(_) => {
                InputKind::Upload
            }
            InputSource::Base64(_) => InputKind::Base64,
            InputSource::Cloud(_) => InputKind::Cloud,
            InputSource::FileId(_) => InputKind::FileId,
        }
    }
    /// False only for a one-shot reader.
    pub fn is_replayable(&self) -> bool {
        !matches!(self.source, InputSource::Reader(_))
    }
    /// The filename to present: the explicit one, else the last path or URL segment.
    pub fn effective_filename(&self) -> Option<String> {
        if let Some(name) = &self.filename {
            return Some(name.clone());
        }
        match &self.source {
            InputSource::Path(p) => p.file_name().map(|n| n.to_string_lossy().into_owned()),
            InputSource::Remote(u) => u
                .path_segments()
                .and_then(|mut s| s.next_back())
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            _ => None,
        }
    }
    /// The lower-cased extension of [`effective_filename`](Self::effective_filename).
    pub fn extension(&self) -> Option<String> {
        let name = self.effective_filename()?;
        let (_, ext) = name.rsplit_once('.')?;
        (!ext.is_empty()).then(|| ext.to_ascii_lowercase())
    }
}

/// How an input reaches the vendor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum InputKind {
    /// A URL the vendor fetches.
    Remote,
    /// Bytes we upload (path, memory or reader).
    Upload,
    /// Inline base64.
    Base64,
    /// Cloud storage.
    Cloud,
    /// A file already stored at the vendor.
    FileId,
}

/// Where an input's bytes are.
#[derive(Clone)]
#[non_exhaustive]
pub enum InputSource {
    /// A URL the vendor fetches.
    Remote(Url),
    /// A local file.
    Path(PathBuf),
    /// Bytes in memory.
    Bytes(Bytes),
    /// A one-shot reader of known length.
    Reader(ReaderSource),
    /// Base64 content or a `data:` URL.
    Base64(String),
    /// Cloud storage.
    Cloud(CloudLocation),
    /// A vendor file id.
    FileId(String),
}

impl fmt::Debug for InputSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // A URL's query may carry a presigned signature.
            InputSource::Remote(u) => write!(f, "Remote({})", redact_query(u.as_str())),
            InputSource::Path(p) => f.debug_tuple("Path").field(p).finish(),
            InputSource::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            InputSource::Reader(r) => write!(f, "Reader({} bytes)", r.length),
            InputSource::Base64(s) => write!(f, "Base64({} chars)", s.len()),
            InputSource::Cloud(c) => f.debug_tuple("Cloud").field(c).finish(),
            InputSource::FileId(id) => f.debug_tuple("FileId").field(id).finish(),
        }
    }
}

/// A place in cloud storage: an input to read or an output target to write.
///
/// ```
/// use multiconvert_core::CloudLocation;
/// let s3 = CloudLocation::new("amazons3")
///     .parameter("bucket", "reports")
///     .parameter("file", "2026/q3.pdf")
///     .credential("accesskeyid", "AKIA…")
///     .credential("secretaccesskey", "…");
/// assert!(!format!("{s3:?}").contains("AKIA"));
/// ```
#[derive(Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct CloudLocation {
    /// The storage provider as the vendor names it (`amazons3`, `azure`, `ftp`, …).
    pub provider: String,
    /// Where the file is: bucket, container, host, path, region.
    pub parameters: JsonMap,
    /// How to get in. Never printed.
    pub credentials: Secret<JsonMap>,
}

impl CloudLocation {
    /// An empty location at `provider`.
    pub fn new(provider: impl Into<String>) -> Self {
        CloudLocation {
            provider: provider.into(),
            ..CloudLocation::default()
        }
    }
    /// Sets a parameter.
    pub fn parameter(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.parameters.insert(key.into(), value.into());
        self
    }
    /// Sets a credential.
    pub fn credential(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        let mut creds = self.credentials.expose().clone();
        creds.insert(key.into(), value.into());
        self.credentials = Secret::new(creds);
        self
    }
}

impl fmt::Debug for CloudLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudLocation")
            .field("provider", &self.provider)
            .field(
                "parameters",
                &redact_json(&Value::Object(self.parameters.clone())),
            )
            .field("credentials", &self.credentials)
            .finish()
    }
}

/// One conversion to apply to the job's inputs.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Conversion {
    /// The source format, when it cannot be told from the input (`None` = from the extension).
    pub source_format: Option<String>,
    /// The target format (`pdf`, `png`, …).
    pub target: String,
    /// The vendor's category (`image`, `document`, …), when it needs one.
    pub category: Option<String>,
    /// Converter options, passed through to the vendor.
    pub options: JsonMap,
    /// Where the vendor should store the outputs instead of (or as well as) its own host.
    pub output_targets: Vec<CloudLocation>,
}

impl Conversion {
    /// A conversion to `target`.
    pub fn to(target: impl Into<String>) -> Self {
        Conversion {
            target: target.into().to_ascii_lowercase(),
            ..Conversion::default()
        }
    }
    /// Sets the source format.
    pub fn from(mut self, source: impl Into<String>) -> Self {
        self.source_format = Some(source.into().to_ascii_lowercase());
        self
    }
    /// Sets the category.
    pub fn category(mut self, category: impl Into<String>) -> Self {
        self.category = Some(category.into());
        self
    }
    /// Sets an option.
    pub fn option(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.options.insert(key.into(), value.into());
        self
    }
    /// Adds an output target.
    pub fn output_target(mut self, target: CloudLocation) -> Self {
        self.output_targets.push(target);
        self
    }
}

/// A job as the vendor last reported it.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct Job {
    /// The job's handle.
    pub handle: JobHandle,
    /// Its status.
    pub status: JobStatus,
    /// The job's inputs as the vendor knows them (empty where the vendor does not report them).
    pub inputs: Vec<JobInput>,
    /// The job's conversions as the vendor knows them (empty where the vendor does not report
    /// them).
    pub conversions: Vec<JobConversion>,
    /// The files produced so far.
    pub outputs: Vec<Output>,
    /// Errors and warnings the vendor reported.
    pub messages: Vec<JobMessage>,
    /// What the vendor said the job cost, in its own unit (ConvertAPI's `ConversionCost`,
    /// online-convert's `spent` credits, CloudConvert's tasks' credits), when it said.
    pub cost: Option<Cost>,
    /// The vendor's raw reply, for what the model does not name. `Debug` shows it redacted.
    pub raw: Option<Value>,
}

impl Job {
    /// A job with no inputs, conversions, outputs or messages.
    pub fn new(handle: JobHandle, status: JobStatus) -> Self {
        Job {
            handle,
            status,
            inputs: Vec::new(),
            conversions: Vec::new(),
            outputs: Vec::new(),
            messages: Vec::new(),
            cost: None,
            raw: None,
        }
    }
    /// The error messages.
    pub fn errors(&self) -> impl Iterator<Item = &JobMessage> {
        self.messages
            .iter()
            .filter(|m| m.severity == Severity::Error)
    }
    /// True when the job failed and every error is the vendor's own (source
    /// [`VENDOR_SOURCE`]): the same input may well convert elsewhere.
    pub fn failed_on_vendor_side(&self) -> bool {
        self.status == JobStatus::Failed
            && self.errors().next().is_some()
            && self
                .errors()
                .all(|m| m.source.as_deref() == Some(VENDOR_SOURCE))
    }
}

/// The [`JobMessage::source`] of a failure on the vendor's side (an internal error, a conversion
/// timeout), as opposed to one caused by the input.
pub const VENDOR_SOURCE: &str = "vendor";

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("handle", &self.handle)
            .field("status", &self.status)
            .field("inputs", &self.inputs)
            .field("conversions", &self.conversions)
            .field("outputs", &self.outputs)
            .field("messages", &self.messages)
            .field("cost", &self.cost)
            .field("raw", &self.raw.as_ref().map(redact_json))
            .finish()
    }
}

/// One input of a job, as the vendor reports it: what the staged-job endpoints (reorder, set a
/// password) take its id for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobInput {
    /// The vendor's id for the input.
    pub id: String,
    /// How it reached the vendor, in the vendor's words (`remote`, `upload`, `cloud`, …).
    pub kind: Option<String>,
    /// Its file name, when known.
    pub filename: Option<String>,
    /// Its state in the vendor's words (`ready`, `downloading`, `failed`, …; an open set).
    pub status: Option<String>,
    /// Its size in bytes, once known.
    pub size: Option<u64>,
}

impl JobInput {
    /// An input with id `id`.
    pub fn new(id: impl Into<String>) -> Self {
        JobInput {
            id: id.into(),
            ..JobInput::default()
        }
    }
}

/// One conversion of a job, as the vendor reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobConversion {
    /// The vendor's id for the conversion.
    pub id: String,
    /// The target format.
    pub target: String,
    /// The vendor's category, when it has one.
    pub category: Option<String>,
    /// Its state in the vendor's words, when the vendor reports one.
    pub status: Option<String>,
}

impl JobConversion {
    /// A conversion with id `id` to `target`.
    pub fn new(id: impl Into<String>, target: impl Into<String>) -> Self {
        JobConversion {
            id: id.into(),
            target: target.into(),
            ..JobConversion::default()
        }
    }
}

/// How serious a job message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The job or part of it failed.
    Error,
    /// Something to know; the job went on.
    Warning,
}

/// An error or warning the vendor attached to a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobMessage {
    /// Error or warning.
    pub severity: Severity,
    /// What it is about (`input`, `conversion`, …), when the vendor says.
    pub source: Option<String>,
    /// The id of the input or conversion concerned.
    pub source_id: Option<String>,
    /// The vendor's code, kept raw.
    pub code: Option<String>,
    /// The vendor's text.
    pub text: String,
}

impl JobMessage {
    /// An error message.
    pub fn error(text: impl Into<String>) -> Self {
        JobMessage {
            severity: Severity::Error,
            source: None,
            source_id: None,
            code: None,
            text: text.into(),
        }
    }
    /// A warning message.
    pub fn warning(text: impl Into<String>) -> Self {
        JobMessage {
            severity: Severity::Warning,
            ..JobMessage::error(text)
        }
    }
    /// Sets the code.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }
    /// Sets what the message is about.
    pub fn with_source(mut self, source: impl Into<String>, id: Option<String>) -> Self {
        self.source = Some(source.into());
        self.source_id = id;
        self
    }
}

/// A checksum the vendor published for an output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "algorithm", content = "hex", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Checksum {
    /// MD5, lower-case hex.
    Md5(String),
}

/// One produced file.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Output {
    /// The vendor's id for the file.
    pub id: Option<String>,
    /// The vendor's file name (untrusted: [`crate::download::safe_filename`] before using it).
    pub filename: Option<String>,
    /// Where to fetch it.
    pub url: Option<String>,
    /// Its size in bytes, when known.
    pub size: Option<u64>,
    /// Its media type, when known.
    pub content_type: Option<String>,
    /// Its checksum, when the vendor gives one.
    pub checksum: Option<Checksum>,
    /// The provider that serves it, when a router must know (set by
    /// [`Failover`](crate::failover::Failover)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

impl Output {
    /// An output at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Output {
            id: None,
            filename: None,
            url: Some(url.into()),
            size: None,
            content_type: None,
            checksum: None,
            provider: None,
        }
    }
    /// An output with no URL (served by the provider's own `download`).
    pub fn stored(id: impl Into<String>) -> Self {
        Output {
            id: Some(id.into()),
            url: None,
            ..Output::new("")
        }
    }
    /// Sets the file name.
    pub fn with_filename(mut self, name: impl Into<String>) -> Self {
        self.filename = Some(name.into());
        self
    }
    /// Sets the size.
    pub fn with_size(mut self, size: u64) -> Self {
        self.size = Some(size);
        self
    }
    /// Sets the media type.
    pub fn with_content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }
    /// Sets the checksum.
    pub fn with_checksum(mut self, checksum: Checksum) -> Self {
        self.checksum = Some(checksum);
        self
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Output")
            .field("id", &self.id)
            .field("filename", &self.filename)
            .field("url", &self.url.as_deref().map(redact_query))
            .field("size", &self.size)
            .field("content_type", &self.content_type)
            .field("checksum", &self.checksum)
            .field("provider", &self.provider)
            .finish()
    }
}

/// A raw incoming callback, as an HTTP framework received it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WebhookRequest {
    /// `GET`, `POST`, …
    pub method: http::Method,
    /// The request target: path and query (`/hooks/convertapi?JobId=…`).
    pub uri: String,
    /// The headers.
    pub headers: http::HeaderMap,
    /// The exact body bytes (signatures are computed over these, never over re-serialised JSON).
    pub body: Bytes,
}

impl WebhookRequest {
    /// A request from its parts.
    pub fn new(
        method: http::Method,
        uri: impl Into<String>,
        headers: http::HeaderMap,
        body: impl Into<Bytes>,
    ) -> Self {
        WebhookRequest {
            method,
            uri: uri.into(),
            headers,
            body: body.into(),
        }
    }
    /// The decoded query parameters.
    pub fn query(&self) -> Vec<(String, String)> {
        match self.uri.split_once('?') {
            Some((_, q)) => url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect(),
            None => Vec::new(),
        }
    }
    /// The first value of query parameter `name`.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What a webhook says happened. It is a hint: [`crate::ProviderExt::confirm`] polls the vendor
/// before anything acts on it, verified or not.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct WebhookEvent {
    /// The provider that sent it.
    pub provider: String,
    /// The job it is about.
    pub job_id: String,
    /// The status the callback claims, when it carries one.
    pub status: Option<JobStatus>,
    /// True only when a signature over the exact body was checked.
    pub verified: bool,
    /// A value that identifies this delivery, for dropping duplicates.
    pub dedupe_key: String,
    /// What the callback reveals about where the job lives (a vendor route, say): copied into
    /// the [`handle`](Self::handle) that confirms it, as [`JobHandle::meta`].
    pub meta: BTreeMap<String, String>,
}

impl WebhookEvent {
    /// An unverified event for `job_id`.
    pub fn unverified(provider: impl Into<String>, job_id: impl Into<String>) -> Self {
        let job_id = job_id.into();
        WebhookEvent {
            provider: provider.into(),
            dedupe_key: job_id.clone(),
            job_id,
            status: None,
            verified: false,
            meta: BTreeMap::new(),
        }
    }
    /// Records a fact the callback reveals about the job (see [`meta`](Self::meta)).
    pub fn with_meta(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.meta.insert(key.into(), value.into());
        self
    }
    /// The handle to confirm the event with: the provider, the job id and what the callback
    /// revealed (so a job is polled where it lives, not where the provider's configuration
    /// points).
    ///
    /// ```
    /// use multiconvert_core::WebhookEvent;
    /// let event = WebhookEvent::unverified("convertapi", "d3bd2056-4330-4cf3-9b18-483a2412dd6b")
    ///     .with_meta("route", "legacy");
    /// let handle = event.handle();
    /// assert_eq!(handle.id, event.job_id);
    /// assert_eq!(handle.meta["route"], "legacy");
    /// ```
    pub fn handle(&self) -> JobHandle {
        let mut handle = JobHandle::new(self.provider.clone(), self.job_id.clone());
        handle.meta = self.meta.clone();
        handle
    }
}
