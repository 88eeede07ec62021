//! Pure translation of the model into the vendor's requests: no I/O here.

use multiconvert_core::{
    CloudLocation, Conversion, Error, ErrorKind, Input, InputSource, JobRequest, Operation, Result,
    Secret,
};
use serde_json::{json, Map, Value};

use crate::cloud::GDRIVE_PICKER;
use crate::NAME;

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidInput, NAME, Operation::Submit, message)
}

/// True when the input's bytes must be uploaded to the job's server.
pub fn needs_upload(input: &Input) -> bool {
    matches!(
        input.source,
        InputSource::Path(_) | InputSource::Bytes(_) | InputSource::Reader(_)
    )
}

/// The JSON of a cloud input or output target.
pub fn cloud_json(location: &CloudLocation) -> Value {
    let mut v = json!({
        "type": location.provider,
        "parameters": location.parameters,
        "credentials": location.credentials.expose(),
    });
    if location.credentials.expose().is_empty() {
        v.as_object_mut().map(|o| o.remove("credentials"));
    }
    v
}

/// The JSON of an input that needs no upload; `None` for one that does.
pub fn input_json(input: &Input) -> Result<Option<Value>> {
    let mut v = match &input.source {
        InputSource::Path(_) | InputSource::Bytes(_) | InputSource::Reader(_) => return Ok(None),
        InputSource::Remote(url) => json!({"type": "remote", "source": url.as_str()}),
        InputSource::Base64(data) => json!({"type": "base64", "source": data}),
        InputSource::FileId(id) => json!({"type": "input_id", "source": id}),
        InputSource::Cloud(location) if location.provider == GDRIVE_PICKER => {
            let file_id = location
                .parameters
                .get("file_id")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("a gdrive_picker input needs a file_id"))?;
            json!({"type": GDRIVE_PICKER, "source": file_id, "credentials": location.credentials.expose()})
        }
        InputSource::Cloud(location) => {
            if location.provider.is_empty() {
                return Err(invalid("a cloud input needs a provider"));
            }
            let mut v = cloud_json(location);
            v["source"] = Value::String(location.provider.clone());
            v["type"] = Value::String("cloud".into());
            v
        }
        _ => {
            return Err(invalid(
                "this input kind is not supported by online-convert",
            ))
        }
    };
    if let Some(name) = &input.filename {
        v["filename"] = Value::String(name.clone());
    }
    if let Some(password) = &input.password {
        let credentials = v
            .as_object_mut()
            .expect("object")
            .entry("credentials")
            .or_insert_with(|| Value::Object(Map::new()));
        credentials["decrypt_password"] = Value::String(password.expose().clone());
    }
    Ok(Some(v))
}

/// The category online-convert files a target under, for the common targets; the API needs
/// one to pick a converter when the caller gives none.
pub fn category_for(target: &str) -> Option<&'static str> {
    Some(match target.to_ascii_lowercase().as_str() {
        "png" | "jpg" | "jpeg" | "gif" | "bmp" | "tif" | "tiff" | "webp" | "ico" | "svg"
        | "heic" | "avif" | "eps" | "psd" | "tga" => "image",
        "pdf" | "doc" | "docx" | "odt" | "rtf" | "txt" | "html" | "xls" | "xlsx" | "ppt"
        | "pptx" | "odp" | "ods" => "document",
        "mp3" | "wav" | "flac" | "ogg" | "aac" | "m4a" | "wma" | "opus" => "audio",
        "mp4" | "avi" | "mkv" | "mov" | "webm" | "wmv" | "flv" => "video",
        "epub" | "mobi" | "azw3" | "fb2" => "ebook",
        "zip" | "7z" | "tar" | "rar" => "archive",
        _ => return None,
    })
}

/// The JSON of a conversion; without a category, the target's usual one is sent.
pub fn conversion_json(conversion: &Conversion) -> Result<Value> {
    if conversion.target.trim().is_empty() {
        return Err(invalid("a conversion needs a target format"));
    }
    let mut v = json!({"target": conversion.target, "options": conversion.options});
    let category = conversion
        .category
        .as_deref()
        .or_else(|| category_for(&conversion.target));
    if let Some(category) = category {
        v["category"] = Value::String(category.to_owned());
    }
    if !conversion.output_targets.is_empty() {
        v["output_target"] = conversion
            .output_targets
            .iter()
            .map(cloud_json)
            .collect::<Vec<_>>()
            .into();
    }
    Ok(v)
}

/// The body of `POST /jobs`: every input that needs no upload, every conversion, the callback
/// settings and the caller's extras. `process` false creates the job staged.
/// Inputs and conversions may be empty for a staged job completed step by step.
pub fn job_body(request: &JobRequest, process: bool) -> Result<Value> {
    let inputs = request
        .inputs
        .iter()
        .filter_map(|i| input_json(i).transpose())
        .collect::<Result<Vec<_>>>()?;
    let conversions = request
        .conversions
        .iter()
        .map(conversion_json)
        .collect::<Result<Vec<_>>>()?;
    let mut body = Map::new();
    for (k, v) in &request.extra {
        body.insert(k.clone(), v.clone());
    }
    body.insert("process".into(), process.into());
    // The vendor refuses an empty `conversion` array: a job completed step by step is created
    // without one (and without an empty `input` array, which says nothing either).
    if !inputs.is_empty() {
        body.insert("input".into(), inputs.into());
    }
    if !conversions.is_empty() {
        body.insert("conversion".into(), conversions.into());
    }
    if let Some(callback) = &request.callback {
        if !matches!(callback.scheme(), "http" | "https") {
            return Err(invalid("the callback must be an http(s) URL"));
        }
        // A signed callback names the job, so it is set when the job is started.
        if !request.needs_job_id_for_callback() {
            body.insert("callback".into(), callback.as_str().into());
        }
        body.insert("notify_status".into(), request.notify_status.into());
    }
    if let Some(v) = request.fail_on_input_error {
        body.insert("fail_on_input_error".into(), v.into());
    }
    if let Some(v) = request.fail_on_conversion_error {
        body.insert("fail_on_conversion_error".into(), v.into());
    }
    Ok(Value::Object(body))
}

/// A file name fit for a multipart header: `"`, CR, LF and NUL removed; `file` when nothing is left.
pub fn multipart_filename(name: Option<&str>) -> String {
    let cleaned: String = name
        .unwrap_or_default()
        .chars()
        .filter(|c| !matches!(c, '"' | '\r' | '\n' | '\0'))
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        "file".into()
    } else {
        cleaned.to_owned()
    }
}

/// A media type for a file name, from its extension.
pub fn content_type_for(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "bmp" => "image/bmp",
        "tif" | "tiff" => "image/tiff",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "html" | "htm" => "text/html",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "mp3" => "audio/mpeg",
        "mp4" => "video/mp4",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}

/// One entry of a reordering of a job's inputs (`PATCH /jobs/{id}/input`).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct InputOrder {
    /// The input.
    pub input_id: String,
    /// Its new 1-based position.
    pub position: u32,
    /// Seconds the input is shown in a slideshow (0.1–120).
    pub slide_duration: Option<f64>,
    /// How the input is fitted (`resize_handling`, passed through).
    pub resize_handling: Option<String>,
}

impl InputOrder {
    /// `input_id` at `position`.
    pub fn new(input_id: impl Into<String>, position: u32) -> Self {
        InputOrder {
            input_id: input_id.into(),
            position,
            slide_duration: None,
            resize_handling: None,
        }
    }
    /// Sets the slide duration in seconds.
    pub fn slide_duration(mut self, seconds: f64) -> Self {
        self.slide_duration = Some(seconds);
        self
    }
    /// Sets the resize handling.
    pub fn resize_handling(mut self, handling: impl Into<String>) -> Self {
        self.resize_handling = Some(handling.into());
        self
    }
}

fn refuse(op: &'static str, message: String) -> Error {
    Error::new(ErrorKind::InvalidInput, NAME, Operation::Other(op), message)
}

/// Checks that a request can run as submitted: at least one input and one conversion.
pub fn check_complete(request: &JobRequest) -> Result<()> {
    if request.inputs.is_empty() {
        return Err(invalid("a job needs at least one input"));
    }
    if request.conversions.is_empty() {
        return Err(invalid("a job needs at least one conversion"));
    }
    Ok(())
}

/// Checks a reordering without a request: positions from 1 and unique, durations 0.1–120 s.
pub fn check_order(orders: &[InputOrder]) -> Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for o in orders {
        if o.input_id.trim().is_empty() {
            return Err(refuse("reorder_inputs", "an input id is empty".into()));
        }
        if o.position == 0 {
            return Err(refuse(
                "reorder_inputs",
                format!("position 0 of input {}: positions start at 1", o.input_id),
            ));
        }
        if !seen.insert(o.position) {
            return Err(refuse(
                "reorder_inputs",
                format!("position {} is given twice", o.position),
            ));
        }
        if let Some(d) = o.slide_duration {
            if !(0.1..=120.0).contains(&d) {
                return Err(refuse(
                    "reorder_inputs",
                    format!(
                        "slide_duration {d} of input {} is outside 0.1–120 s",
                        o.input_id
                    ),
                ));
            }
        }
        if o.resize_handling
            .as_deref()
            .is_some_and(|r| r.trim().is_empty())
        {
            return Err(refuse("reorder_inputs", "resize_handling is empty".into()));
        }
    }
    Ok(())
}

/// Checks positions against the job's input count.
pub fn check_positions(orders: &[InputOrder], input_count: usize) -> Result<()> {
    match orders.iter().find(|o| o.position as usize > input_count) {
        Some(o) => Err(refuse(
            "reorder_inputs",
            format!(
                "position {} of input {} is beyond the job's {input_count} input(s)",
                o.position, o.input_id
            ),
        )),
        None => Ok(()),
    }
}

/// The body of `PATCH /jobs/{id}/input`.
pub fn order_body(orders: &[InputOrder]) -> Value {
    orders
        .iter()
        .map(|o| {
            let mut options = json!({"position": o.position});
            if let Some(d) = o.slide_duration {
                options["slide_duration"] = d.into();
            }
            if let Some(r) = &o.resize_handling {
                options["resize_handling"] = r.clone().into();
            }
            json!({"id": o.input_id, "options": options})
        })
        .collect::<Vec<_>>()
        .into()
}

/// A change to a job's settings, `PATCH /jobs/{id}` without starting it (see
/// [`OnlineConvert::update_job`](crate::OnlineConvert::update_job)). Only the fields set are sent.
///
/// ```
/// use multiconvert_online_convert::request::{update_body, JobUpdate};
/// let update = JobUpdate::new()
///     .callback("https://app.example.com/hooks/oc".parse().unwrap())
///     .notify_status(true)
///     .download_password("s3cret");
/// assert!(!format!("{update:?}").contains("s3cret"));
/// let body = update_body(&update).unwrap();
/// assert_eq!(body["notify_status"], true);
/// assert!(body.get("process").is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct JobUpdate {
    /// Where to call back.
    pub callback: Option<url::Url>,
    /// Call back on every status change, not only at the end.
    pub notify_status: Option<bool>,
    /// Whether an input error fails the job.
    pub fail_on_input_error: Option<bool>,
    /// Whether a conversion error fails the job.
    pub fail_on_conversion_error: Option<bool>,
    /// Passwords that protect the job's downloads (replacing any set before).
    pub download_passwords: Option<Vec<Secret>>,
}

impl JobUpdate {
    /// An empty update.
    pub fn new() -> Self {
        JobUpdate::default()
    }
    /// Sets the callback URL.
    pub fn callback(mut self, url: url::Url) -> Self {
        self.callback = Some(url);
        self
    }
    /// Sets whether every status change calls back.
    pub fn notify_status(mut self, notify: bool) -> Self {
        self.notify_status = Some(notify);
        self
    }
    /// Sets whether an input error fails the job.
    pub fn fail_on_input_error(mut self, fail: bool) -> Self {
        self.fail_on_input_error = Some(fail);
        self
    }
    /// Sets whether a conversion error fails the job.
    pub fn fail_on_conversion_error(mut self, fail: bool) -> Self {
        self.fail_on_conversion_error = Some(fail);
        self
    }
    /// Adds a download password.
    pub fn download_password(mut self, password: impl Into<Secret>) -> Self {
        self.download_passwords
            .get_or_insert_with(Vec::new)
            .push(password.into());
        self
    }
}

/// The body of `PATCH /jobs/{id}` for `update`: the fields set, never `process`. An update that
/// sets nothing, or a callback that is not http(s), is refused.
pub fn update_body(update: &JobUpdate) -> Result<Value> {
    let op = "update_job";
    let mut body = Map::new();
    if let Some(callback) = &update.callback {
        if !matches!(callback.scheme(), "http" | "https") {
            return Err(refuse(op, "the callback must be an http(s) URL".into()));
        }
        body.insert("callback".into(), callback.as_str().into());
    }
    let flags = [
        ("notify_status", update.notify_status),
        ("fail_on_input_error", update.fail_on_input_error),
        ("fail_on_conversion_error", update.fail_on_conversion_error),
    ];
    for (name, value) in flags {
        if let Some(v) = value {
            body.insert(name.into(), v.into());
        }
    }
    if let Some(passwords) = &update.download_passwords {
        let passwords: Vec<Value> = passwords
            .iter()
            .map(|p| Value::String(p.expose().clone()))
            .collect();
        body.insert("download_passwords".into(), passwords.into());
    }
    if body.is_empty() {
        return Err(refuse(op, "nothing to change".into()));
    }
    Ok(Value::Object(body))
}
