//! Pure translation of ConvertAPI's responses into the model: no I/O here.

use http::{HeaderMap, StatusCode};
use multiconvert_core::http::status_error;
use multiconvert_core::{
    Cost, Error, ErrorKind, Job, JobHandle, JobMessage, JobStatus, Operation, Output, Result,
};
use serde_json::Value;

use crate::wire::{WireError, WireJobId, WireResult};
use crate::NAME;

fn protocol(operation: Operation, message: &str, body: &[u8]) -> Error {
    Error::new(ErrorKind::Protocol, NAME, operation, message).with_body(body)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("json"))
}

/// The retry loop's view of a submit answer: 429 and 503 are throttling ("retry after a few
/// seconds": the request was refused, so resending is as safe as after a 429), and so is a 502
/// carrying ConvertAPI's JSON error (the throttle status of old docs); a gateway 500/502/504
/// without JSON is a transient server failure. Anything else is the answer.
pub fn classify_submit(status: StatusCode, headers: &HeaderMap) -> Option<ErrorKind> {
    match status.as_u16() {
        429 | 503 => Some(ErrorKind::RateLimited),
        502 if is_json(headers) => Some(ErrorKind::RateLimited),
        500 | 502 | 504 if !is_json(headers) => Some(ErrorKind::Transport),
        _ => None,
    }
}

/// The retry loop's view of a poll answer: 503 (another poll in flight) and a 5xx with
/// ConvertAPI's JSON (a failed conversion) are answers, handled by the provider; a gateway 5xx
/// without JSON is transient.
pub fn classify_poll(status: StatusCode, headers: &HeaderMap) -> Option<ErrorKind> {
    match status.as_u16() {
        429 => Some(ErrorKind::RateLimited),
        500 | 502 | 504 if !is_json(headers) => Some(ErrorKind::Transport),
        _ => None,
    }
}

/// Outputs of a conversion result. Every file needs a `Url` or `FileData`; inline data becomes a
/// `data:` URL that the provider's `download` decodes.
pub fn parse_result(body: &[u8], operation: Operation) -> Result<Vec<Output>> {
    let result: WireResult = serde_json::from_slice(body)
        .map_err(|_| protocol(operation, "the reply is not a conversion result", body))?;
    if result.files.is_empty() {
        return Err(protocol(
            operation,
            "the conversion result has no files",
            body,
        ));
    }
    result
        .files
        .into_iter()
        .map(|f| {
            let url = match (f.url.filter(|u| !u.is_empty()), f.file_data) {
                (Some(url), _) => url,
                (None, Some(data)) => format!("data:application/octet-stream;base64,{data}"),
                (None, None) => {
                    return Err(protocol(
                        operation,
                        "a result file has neither Url nor FileData",
                        body,
                    ))
                }
            };
            let mut out = Output::new(url);
            out.id = f.file_id;
            out.size = f.file_size;
            out.filename = f
                .file_name
                .or_else(|| f.file_ext.map(|e| format!("output.{e}")));
            Ok(out)
        })
        .collect()
}

/// What an async submit answered.
#[derive(Clone, Debug, PartialEq)]
pub enum SubmitAnswer {
    /// The job was accepted under this id.
    Accepted(String),
    /// The conversion already ran and this is its result (the legacy route's `Async=true` is now
    /// answered synchronously): the raw reply, read with [`completed_job`].
    Completed(Vec<u8>),
}

/// A completed job from a conversion result: its outputs, its cost (`ConversionCost`, or the
/// older `ConversionTime`) and the raw reply.
pub fn completed_job(handle: &JobHandle, body: &[u8], operation: Operation) -> Result<Job> {
    let mut job = Job::new(handle.clone(), JobStatus::Completed);
    job.outputs = parse_result(body, operation)?;
    job.raw = serde_json::from_slice(body).ok();
    job.cost = serde_json::from_slice::<WireResult>(body)
        .ok()
        .and_then(|r| {
            r.conversion_cost
                .map(|n| Cost::new(n, "conversions"))
                .or_else(|| r.conversion_time.map(|n| Cost::new(n, "seconds")))
        });
    Ok(job)
}

/// Parses a successful submit answer.
pub fn parse_submit(body: &[u8]) -> Result<SubmitAnswer> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| protocol(Operation::Submit, "the reply is not JSON", body))?;
    if value.get("Files").is_some() {
        // Checked now, so a malformed result is an error of the submit itself.
        parse_result(body, Operation::Submit)?;
        return Ok(SubmitAnswer::Completed(body.to_vec()));
    }
    let id: WireJobId = serde_json::from_value(value)
        .map_err(|_| protocol(Operation::Submit, "the reply has no JobId", body))?;
    id.job_id
        .filter(|s| !s.is_empty())
        .map(SubmitAnswer::Accepted)
        .ok_or_else(|| protocol(Operation::Submit, "the reply has no JobId", body))
}

/// A poll answer, as the model sees it.
pub fn parse_poll(
    handle: &JobHandle,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Job> {
    let op = Operation::Poll;
    match status.as_u16() {
        200 => {
            if !is_json(headers) && !body.starts_with(b"{") {
                return Err(protocol(
                    op,
                    "the result is not JSON (StoreFile must be true)",
                    body,
                ));
            }
            completed_job(handle, body, op)
        }
        202 => Ok(Job::new(handle.clone(), JobStatus::Processing)),
        // Another poll of this job is in flight: busy, not an error; the caller polls again.
        503 => Ok(Job::new(handle.clone(), JobStatus::Processing)),
        500..=599 => match serde_json::from_slice::<WireError>(body) {
            Ok(error) if error.code.is_some() || error.message.is_some() => {
                let mut job = Job::new(handle.clone(), JobStatus::Failed);
                // 5000 (timeout), 5001 (failed) and 50050 (unexpected) are ConvertAPI's own
                // failures; the other 5xxx codes are caused by the input.
                let source = match error.code.as_deref() {
                    Some("5000" | "5001" | "50050") => multiconvert_core::VENDOR_SOURCE,
                    _ => "conversion",
                };
                let mut message = JobMessage::error(
                    error
                        .message
                        .clone()
                        .unwrap_or_else(|| "the conversion failed".into()),
                )
                .with_source(source, None);
                if let Some(code) = error.code {
                    message = message.with_code(code);
                }
                job.messages.push(message);
                job.raw = serde_json::from_slice(body).ok();
                Ok(job)
            }
            _ => Err(parse_error(op, status, headers, body)),
        },
        _ => Err(parse_error(op, status, headers, body)),
    }
}

/// The one place an HTTP error becomes an [`Error`], keyed on the HTTP status first (codes are
/// advisory where the documentation generations conflict): 400 invalid input (with the invalid
/// parameters), 401 unauthenticated but code 4014 (balance exhausted) quota, 404 not found (on a
/// submit: no such converter, unsupported), 415 unsupported, 429 and 503 (and a 502 with ConvertAPI's JSON) rate limited; another 5xx is a
/// server fault ([`Transport`](ErrorKind::Transport)) — except on a poll, where a 5xx with
/// `{Code, Message}` is the failed conversion of a job that exists.
pub fn parse_error(
    operation: Operation,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Error {
    let wire: Option<WireError> = serde_json::from_slice(body).ok();
    let has_json = wire
        .as_ref()
        .is_some_and(|w| w.code.is_some() || w.message.is_some());
    let wire = wire.unwrap_or_default();
    let code = wire.code.clone();
    let kind = match status.as_u16() {
        400 | 422 => ErrorKind::InvalidInput,
        401 | 403 if code.as_deref() == Some("4014") => ErrorKind::QuotaExhausted,
        401 | 403 => ErrorKind::Unauthenticated,
        402 => ErrorKind::QuotaExhausted,
        // The only resource a convert request names is the converter, `/convert/{from}/to/{to}`:
        // a 404 there means this vendor has no such conversion.
        404 if operation == Operation::Submit => ErrorKind::Unsupported,
        404 | 410 => ErrorKind::NotFound,
        415 => ErrorKind::Unsupported,
        429 | 503 => ErrorKind::RateLimited,
        502 if has_json => ErrorKind::RateLimited,
        // Only a poll asks about a conversion that exists: its 5xx with ConvertAPI's JSON is that
        // conversion's failure. On submit, upload or delete the same answer is a server fault.
        500..=599 if has_json && operation == Operation::Poll => ErrorKind::ConversionFailed,
        300..=399 => ErrorKind::Protocol,
        s => ErrorKind::from_http_status(s),
    };
    let mut message = wire
        .message
        .filter(|m| !m.trim().is_empty())
        .map(|m| multiconvert_core::redact::truncate(&m, 500));
    if let Some(params) = wire.invalid_parameters.filter(|p| !p.is_empty()) {
        let detail = params
            .iter()
            .map(|(name, problems)| {
                let text = match problems {
                    Value::Array(items) => items
                        .iter()
                        .map(|i| {
                            i.as_str()
                                .map(str::to_owned)
                                .unwrap_or_else(|| i.to_string())
                        })
                        .collect::<Vec<_>>()
                        .join(" "),
                    other => other.to_string(),
                };
                format!("{name}: {text}")
            })
            .collect::<Vec<_>>()
            .join("; ");
        let detail = multiconvert_core::redact::truncate(&detail, 500);
        message = Some(match message {
            Some(m) => format!("{m} ({detail})"),
            None => detail,
        });
    }
    if message.is_none() && (300..400).contains(&status.as_u16()) {
        message = Some("unexpected redirect".into());
    }
    let mut error = status_error(NAME, operation, kind, status, headers, body, message);
    if let Some(code) = code {
        error = error.with_provider_code(code);
    }
    error
}
