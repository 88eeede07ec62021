//! Pure translation of the model into ConvertAPI requests: no I/O here.

use multiconvert_core::{Error, ErrorKind, Input, InputSource, JobRequest, Operation, Result};
use serde_json::Value;

use crate::config::AsyncRoute;
use crate::NAME;

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidInput, NAME, Operation::Submit, message)
}

/// A fresh client JobId in the route's format: 32 `[a-z0-9]` on the current route, a hyphenated
/// RFC 4122 UUID on the legacy one.
pub fn new_job_id(route: AsyncRoute) -> String {
    let id = uuid::Uuid::new_v4();
    match route {
        AsyncRoute::Current => id.simple().to_string(),
        AsyncRoute::Legacy => id.hyphenated().to_string(),
    }
}

/// The client JobId for a request: derived from its idempotency key when it has one (the same
/// key always gives the same JobId, so a submission journaled before a crash is found again by
/// polling it), else fresh. A key that already has the route's format is used as it is; any
/// other is hashed (SHA-256) into it: 32 `[a-z0-9]` on the current route, an RFC 4122 UUID
/// (version 4 and variant bits set) on the legacy route and for semi-async.
///
/// ```
/// use multiconvert_convertapi::request::{job_id_for, is_valid_job_id};
/// use multiconvert_convertapi::AsyncRoute;
/// let a = job_id_for(AsyncRoute::Current, Some("batch:in/report.docx:pdf"));
/// assert_eq!(a, job_id_for(AsyncRoute::Current, Some("batch:in/report.docx:pdf")));
/// assert!(is_valid_job_id(&a) && a.len() == 32);
/// let legacy = job_id_for(AsyncRoute::Legacy, Some("batch:in/report.docx:pdf"));
/// assert!(uuid::Uuid::parse_str(&legacy).is_ok() && legacy.len() == 36);
/// assert_ne!(job_id_for(AsyncRoute::Current, None), job_id_for(AsyncRoute::Current, None));
/// ```
pub fn job_id_for(route: AsyncRoute, key: Option<&str>) -> String {
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return new_job_id(route);
    };
    if route_of_job_id(key) == Some(route) {
        return key.to_owned();
    }
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(key.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
    match route {
        AsyncRoute::Current => id.simple().to_string(),
        AsyncRoute::Legacy => id.hyphenated().to_string(),
    }
}

/// The handle meta key that records a job's async route.
pub const ROUTE_META: &str = "route";

/// True for a JobId of either documented format (a UUID, or 32 `[a-z0-9]`).
pub fn is_valid_job_id(id: &str) -> bool {
    route_of_job_id(id).is_some()
}

/// The route a JobId of a documented format belongs to: a hyphenated UUID is the legacy
/// route's (and semi-async's), 32 `[a-z0-9]` the current route's; `None` for anything else.
pub fn route_of_job_id(id: &str) -> Option<AsyncRoute> {
    let simple = id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if simple {
        Some(AsyncRoute::Current)
    } else if id.len() == 36 && uuid::Uuid::try_parse(id).is_ok() {
        Some(AsyncRoute::Legacy)
    } else {
        None
    }
}

/// The source format of a request: the conversion's, else the first input's extension; a web
/// page URL (no extension, or `.htm`/`.html`/`.php`/`.asp(x)`) converts from `web`.
pub fn source_format(request: &JobRequest) -> Result<String> {
    let conversion = request
        .conversions
        .first()
        .ok_or_else(|| invalid("a job needs a conversion"))?;
    if let Some(from) = conversion
        .source_format
        .as_deref()
        .filter(|f| !f.is_empty())
    {
        return Ok(from.to_ascii_lowercase());
    }
    let input = request
        .inputs
        .first()
        .ok_or_else(|| invalid("a job needs an input"))?;
    let ext = input.extension();
    if let InputSource::Remote(_) = input.source {
        if ext
            .as_deref()
            .is_none_or(|e| matches!(e, "htm" | "html" | "php" | "asp" | "aspx" | "jsp"))
        {
            return Ok("web".into());
        }
    }
    ext.ok_or_else(|| {
        invalid(
            "the source format is unknown: set it on the conversion or give the file an extension",
        )
    })
}

fn segment_ok(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'_'))
}

/// The path segments of the convert endpoint; `asynchronous` selects the route's async form.
pub fn convert_segments(
    route: AsyncRoute,
    from: &str,
    to: &str,
    asynchronous: bool,
) -> Result<Vec<String>> {
    if !segment_ok(from) || !segment_ok(to) {
        return Err(invalid(format!(
            "{from:?} to {to:?} is not a valid format pair"
        )));
    }
    let mut segments = Vec::new();
    if asynchronous && route == AsyncRoute::Current {
        segments.push("async".to_owned());
    }
    segments.extend([
        "convert".to_owned(),
        from.to_owned(),
        "to".to_owned(),
        to.to_owned(),
    ]);
    Ok(segments)
}

/// The path segments of a job's poll and delete endpoint.
pub fn job_segments(route: AsyncRoute, job_id: &str) -> Vec<String> {
    match route {
        AsyncRoute::Current => vec!["async".into(), "job".into(), job_id.into()],
        AsyncRoute::Legacy => vec!["job".into(), job_id.into()],
    }
}

/// Parameter names the client controls; a caller's options may not set them.
const RESERVED: &[&str] = &[
    "async",
    "jobid",
    "storefile",
    "file",
    "files",
    "url",
    "webhook",
    "secret",
    "token",
    "apikey",
    "auth",
    "timeout",
];

/// True when a caller option would collide with a client-controlled parameter.
pub fn is_reserved(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    RESERVED.contains(&lower.as_str()) || lower.starts_with("files[")
}

fn option_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What one input becomes: a `File`/`Files[i]` value (URL or FileId), a web page `Url`, or a
/// file part sent inline in a multipart request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileValue {
    /// A URL or a FileId.
    File(String),
    /// A web page (`from` = `web`).
    Url(String),
    /// The bytes themselves, as a multipart file part (see [`inline_parts`]).
    Inline,
}

fn file_param(count: usize, index: usize) -> String {
    if count == 1 {
        "File".to_owned()
    } else {
        format!("Files[{index}]")
    }
}

/// The multipart part names of inline inputs, with the input each carries.
pub fn inline_parts(files: &[FileValue]) -> Vec<(String, usize)> {
    files
        .iter()
        .enumerate()
        .filter(|(_, f)| matches!(f, FileValue::Inline))
        .map(|(i, _)| (file_param(files.len(), i), i))
        .collect()
}

/// The text fields of a convert request. `files` holds one value per input, in order; inline
/// inputs get no field here (they travel as the file parts [`inline_parts`] names).
pub fn form_fields(
    request: &JobRequest,
    files: &[FileValue],
    job_id: &str,
    timeout_secs: u64,
) -> Result<Vec<(String, String)>> {
    let conversion = request
        .conversions
        .first()
        .ok_or_else(|| invalid("a job needs a conversion"))?;
    let mut fields = Vec::new();
    if files.is_empty() {
        return Err(invalid("a job needs an input"));
    }
    for (i, f) in files.iter().enumerate() {
        match f {
            FileValue::File(v) => fields.push((file_param(files.len(), i), v.clone())),
            FileValue::Url(v) if files.len() == 1 => fields.push(("Url".to_owned(), v.clone())),
            FileValue::Url(_) => return Err(invalid("a web page cannot be one of several inputs")),
            // Sent as a file part by the caller: see `inline_parts`.
            FileValue::Inline => {}
        }
    }
    fields.push(("StoreFile".into(), "true".into()));
    fields.push(("Timeout".into(), timeout_secs.clamp(10, 1200).to_string()));
    fields.push(("JobId".into(), job_id.to_owned()));
    if let Some(cb) = request.callback_for(job_id) {
        if !matches!(cb.scheme(), "http" | "https") {
            return Err(invalid("the callback must be an http(s) URL"));
        }
        fields.push(("WebHook".into(), cb.to_string()));
    }
    if let Some(password) = request.inputs.iter().find_map(|i| i.password.as_ref()) {
        fields.push(("Password".into(), password.expose().clone()));
    }
    for (k, v) in conversion.options.iter().chain(request.extra.iter()) {
        if is_reserved(k) {
            return Err(invalid(format!(
                "option {k:?} is set by the client itself and cannot be passed"
            )));
        }
        fields.push((k.clone(), option_text(v)));
    }
    Ok(fields)
}

/// The `Content-Disposition` of a raw upload: an ASCII fallback name plus the RFC 5987 form.
pub fn content_disposition(filename: &str) -> String {
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let ascii = if ascii.trim().is_empty() {
        "file".to_owned()
    } else {
        ascii
    };
    let encoded: String = url::form_urlencoded::byte_serialize(filename.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// The file name to present for an uploaded input.
pub fn upload_filename(input: &Input) -> String {
    input
        .effective_filename()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "file".into())
}

/// Checks that a request can run: at least one input and exactly one conversion.
pub fn check_complete(request: &JobRequest) -> Result<()> {
    if request.inputs.is_empty() {
        return Err(invalid("a job needs at least one input"));
    }
    match request.conversions.len() {
        0 => Err(invalid("a job needs a conversion")),
        1 => Ok(()),
        _ => Err(Error::new(
            ErrorKind::Unsupported,
            NAME,
            Operation::Submit,
            "ConvertAPI runs one conversion per job",
        )),
    }
}
