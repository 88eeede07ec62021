//! Pure translation of the vendor's responses into the model: no I/O here.

use chrono::{DateTime, NaiveDateTime, Utc};
use http::{HeaderMap, StatusCode};
use multiconvert_core::http::status_error;
use multiconvert_core::{
    Checksum, Cost, Error, ErrorKind, Job, JobConversion, JobHandle, JobInput, JobMessage,
    JobStatus, Operation, Output, Result, Severity,
};
use serde_json::Value;

use crate::wire::{WireConversion, WireError, WireInput, WireJob, WireMessage};
use crate::NAME;

/// Maps a `status.code`. Terminal: completed, failed, canceled; every other code, unknown ones
/// included, is non-terminal.
pub fn map_status(code: &str) -> JobStatus {
    match code {
        "pending" => JobStatus::Queued,
        "running" => JobStatus::Processing,
        other => JobStatus::parse(other),
    }
}

/// Parses the vendor's timestamps: naive (`2017-08-15T17:20:55`, taken as UTC), with fractions,
/// or RFC 3339 with an offset.
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .map(|t| t.and_utc())
}

fn protocol(operation: Operation, message: &str, body: &[u8]) -> Error {
    Error::new(ErrorKind::Protocol, NAME, operation, message).with_body(body)
}

/// Parses a job body. A body that is not a job object, or has no id, is a
/// [`Protocol`](ErrorKind::Protocol) error, never an empty job.
pub fn parse_job(body: &[u8], operation: Operation) -> Result<(WireJob, Value)> {
    let raw: Value = serde_json::from_slice(body)
        .map_err(|_| protocol(operation, "the reply is not JSON", body))?;
    if !raw.is_object() {
        return Err(protocol(operation, "the reply is not a job object", body));
    }
    let wire: WireJob = serde_json::from_value(raw.clone())
        .map_err(|e| protocol(operation, &format!("the reply is not a job: {e}"), body))?;
    if wire.id.trim().is_empty() {
        return Err(protocol(operation, "the reply has no job id", body));
    }
    if wire.status.code.trim().is_empty() {
        return Err(protocol(operation, "the reply has no status code", body));
    }
    Ok((wire, raw))
}

/// Checks a job API reply of a finished job: it always lists its outputs (an empty list for a
/// job that wrote to a cloud target). Without the key the reply is not one we can read, and
/// taking it for "no files" would report the job done while losing its results: a
/// [`Protocol`](ErrorKind::Protocol) error. (Callbacks are only hints, confirmed by a poll: they
/// are not held to this.)
pub fn check_outputs_listed(
    wire: &WireJob,
    raw: &Value,
    body: &[u8],
    operation: Operation,
) -> Result<()> {
    if map_status(&wire.status.code) == JobStatus::Completed && raw.get("output").is_none() {
        return Err(protocol(
            operation,
            "the job is reported completed but the reply has no `output` list",
            body,
        ));
    }
    Ok(())
}

fn message(m: &WireMessage, severity: Severity) -> JobMessage {
    let mut out = match severity {
        Severity::Error => JobMessage::error(m.message.clone()),
        Severity::Warning => JobMessage::warning(m.message.clone()),
    };
    if let Some(code) = &m.code {
        out = out.with_code(code.clone());
    }
    if let Some(source) = &m.source {
        out = out.with_source(source.clone(), m.id_source.clone());
    }
    out
}

/// The handle of a wire job.
pub fn handle_of(wire: &WireJob) -> JobHandle {
    let mut handle = JobHandle::new(NAME, wire.id.clone());
    if let Some(token) = wire.token.as_deref().filter(|t| !t.is_empty()) {
        handle = handle.with_token(token);
    }
    if let Some(server) = wire.server.as_deref().filter(|s| !s.is_empty()) {
        handle = handle.with_server(server);
    }
    if let Some(at) = wire.created_at.as_deref().and_then(parse_timestamp) {
        handle.created_at = at;
    }
    handle
}

/// The model's view of an input.
pub fn job_input(wire: &WireInput) -> JobInput {
    let mut input = JobInput::new(wire.id.clone());
    input.kind = wire.kind.clone();
    input.filename = wire.filename.clone().filter(|f| !f.is_empty());
    input.status = wire.status.clone();
    // The vendor reports 0 until it knows.
    input.size = wire.size.filter(|&n| n > 0);
    input
}

/// The model's view of a conversion.
pub fn job_conversion(wire: &WireConversion) -> JobConversion {
    let mut conversion = JobConversion::new(wire.id.clone(), wire.target.clone());
    conversion.category = wire.category.clone().filter(|c| !c.is_empty());
    conversion
}

/// Parses the reply of an endpoint that adds one input or conversion (`T` = [`WireInput`] or
/// [`WireConversion`]); a reply without an id is a [`Protocol`](ErrorKind::Protocol) error.
pub fn parse_added<T: serde::de::DeserializeOwned>(
    body: &[u8],
    operation: Operation,
    id: impl Fn(&T) -> &str,
) -> Result<T> {
    let added: T = serde_json::from_slice(body)
        .map_err(|_| protocol(operation, "the reply is not what was added", body))?;
    if id(&added).trim().is_empty() {
        return Err(protocol(operation, "the reply has no id", body));
    }
    Ok(added)
}

/// The model's job from a wire job and its raw JSON.
pub fn to_job(wire: &WireJob, raw: Value) -> Job {
    let mut job = Job::new(handle_of(wire), map_status(&wire.status.code));
    job.inputs = wire.input.iter().map(job_input).collect();
    job.conversions = wire.conversion.iter().map(job_conversion).collect();
    job.cost = wire
        .spent
        .as_deref()
        .and_then(|s| s.trim().parse().ok())
        .map(|credits| Cost::new(credits, "credits"));
    job.outputs = wire
        .output
        .iter()
        .map(|o| {
            let mut out = Output::new(o.uri.clone().unwrap_or_default());
            if o.uri.as_deref().is_none_or(str::is_empty) {
                out.url = None;
            }
            out.id = Some(o.id.clone()).filter(|s| !s.is_empty());
            out.filename = o.filename.clone();
            out.size = o.size;
            out.content_type = o.content_type.clone();
            out.checksum = o
                .checksum
                .as_deref()
                .filter(|c| c.len() == 32 && c.chars().all(|ch| ch.is_ascii_hexdigit()))
                .map(|c| Checksum::Md5(c.to_ascii_lowercase()));
            out
        })
        .collect();
    job.messages = wire
        .errors
        .iter()
        .map(|m| message(m, Severity::Error))
        .chain(wire.warnings.iter().map(|m| message(m, Severity::Warning)))
        .collect();
    job.raw = Some(raw);
    job
}

/// The one place an HTTP error becomes an [`Error`]: 400/422 invalid input, 401/403
/// unauthenticated, 402 quota, 404 not found, 409 conflict, 429 rate limited (with
/// `Retry-After`), 5xx server; a 204 where a body was due (the create endpoint answers an empty
/// JSON body that way) is invalid input; a 3xx is a protocol error (redirects are never followed
/// with the key). The message comes from the body's `message`, the code from its `code`.
pub fn parse_error(
    operation: Operation,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Error {
    let wire: WireError = serde_json::from_slice(body).unwrap_or_default();
    let kind = match status.as_u16() {
        204 => ErrorKind::InvalidInput,
        300..=399 => ErrorKind::Protocol,
        s => ErrorKind::from_http_status(s),
    };
    let message = wire
        .message
        .filter(|m| !m.trim().is_empty())
        .map(|m| multiconvert_core::redact::truncate(&m, 500))
        .or_else(|| match status.as_u16() {
            204 => Some(
                "the server created no job (204 No Content): it found no usable request body"
                    .into(),
            ),
            300..=399 => Some("unexpected redirect".into()),
            _ => None,
        });
    let mut error = status_error(NAME, operation, kind, status, headers, body, message);
    if let Some(code) = wire.code {
        error = error.with_provider_code(code);
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_every_documented_form() {
        for t in [
            "2017-08-15T17:20:55",
            "2017-08-15T17:20:55.123",
            "2017-08-15T17:20:55Z",
            "2017-08-15T19:20:55+02:00",
            "2017-08-15 17:20:55",
        ] {
            let parsed = parse_timestamp(t).unwrap();
            assert_eq!(parsed.timestamp(), 1502817655, "{t}");
        }
        assert!(parse_timestamp("yesterday").is_none());
    }

    #[test]
    fn statuses_form_an_open_set() {
        assert!(map_status("completed").is_terminal());
        assert!(map_status("canceled").is_terminal());
        assert_eq!(map_status("pending"), JobStatus::Queued);
        assert_eq!(
            map_status("exploded"),
            JobStatus::Unknown("exploded".into())
        );
        assert!(!map_status("exploded").is_terminal());
    }
}
