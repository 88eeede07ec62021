//! Pure translation of CloudConvert's answers into the model: no I/O here.

use http::{HeaderMap, StatusCode};
use multiconvert_core::http::status_error;
use multiconvert_core::{
    Checksum, Cost, Error, ErrorKind, Job, JobConversion, JobHandle, JobInput, JobMessage,
    JobStatus, Operation, Output, Result,
};
use serde_json::Value;

use crate::wire::{Envelope, WireError, WireJob, WireTask};
use crate::NAME;

fn protocol(operation: Operation, message: &str, body: &[u8]) -> Error {
    Error::new(ErrorKind::Protocol, NAME, operation, message).with_body(body)
}

/// A job or task status in the model. `waiting` (the job was created, an upload may be
/// outstanding) and `queued` are queued; `null` is the docs' `job.created`.
pub fn status(code: Option<&str>) -> JobStatus {
    match code {
        None | Some("waiting") | Some("queued") => JobStatus::Queued,
        Some("processing") => JobStatus::Processing,
        Some("finished") => JobStatus::Completed,
        Some("error") => JobStatus::Failed,
        Some(other) => JobStatus::Unknown(other.to_owned()),
    }
}

/// Parses `{"data": Job}`; the job and the raw JSON.
pub fn parse_job(body: &[u8], operation: Operation) -> Result<(WireJob, Value)> {
    let raw: Value = serde_json::from_slice(body)
        .map_err(|_| protocol(operation, "the reply is not JSON", body))?;
    // From the bytes, not from `raw`: an upload form's fields must keep their order, which
    // serde_json's own map does not.
    let envelope: Envelope<WireJob> = serde_json::from_slice(body)
        .map_err(|_| protocol(operation, "the reply is not a job", body))?;
    if envelope.data.id.is_empty() {
        return Err(protocol(operation, "the job in the reply has no id", body));
    }
    Ok((envelope.data, raw))
}

/// Parses `{"data": [Job…]}` (a page of `GET /jobs`).
pub fn parse_jobs(body: &[u8], operation: Operation) -> Result<Vec<WireJob>> {
    serde_json::from_slice::<Envelope<Vec<WireJob>>>(body)
        .map(|e| e.data)
        .map_err(|_| protocol(operation, "the reply is not a list of jobs", body))
}

fn task_label(task: &WireTask) -> String {
    task.name.clone().unwrap_or_else(|| task.id.clone())
}

/// The format a convert task produces: its payload's `output_format`, else its first result's
/// extension.
fn target_of(task: &WireTask) -> String {
    task.payload
        .as_ref()
        .and_then(|p| p.get("output_format"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            task.result
                .as_ref()
                .and_then(|r| r.files.first())
                .and_then(|f| f.filename.as_deref())
                .and_then(|n| n.rsplit_once('.'))
                .map(|(_, ext)| ext.to_ascii_lowercase())
        })
        .unwrap_or_default()
}

/// A job in the model: import tasks as its inputs, convert tasks as its conversions, the
/// `export/url` tasks' files as its outputs, every failed task as an error message (its code,
/// its message, its name), the tasks' credits as its cost.
///
/// A job that says it finished but whose export tasks list no downloadable file is a protocol
/// error: "finished with nothing to fetch" would otherwise pass as a job without outputs.
pub fn to_job(wire: &WireJob, raw: Value, operation: Operation) -> Result<Job> {
    let handle = JobHandle::new(NAME, wire.id.clone());
    let mut job = Job::new(handle, status(wire.status.as_deref()));
    let mut cost = None::<u64>;
    for task in &wire.tasks {
        if let Some(credits) = task.credits {
            cost = Some(cost.unwrap_or(0).saturating_add(credits));
        }
        let op = task.operation.as_str();
        if op.starts_with("import/") {
            let mut input = JobInput::new(task.id.clone());
            input.kind = Some(op.to_owned());
            input.status = task.status.clone();
            let file = task.result.as_ref().and_then(|r| r.files.first());
            input.filename = file.and_then(|f| f.filename.clone());
            input.size = file.and_then(|f| f.size);
            job.inputs.push(input);
        } else if op == "convert" || op == "optimize" || op == "merge" || op == "archive" {
            let mut conversion = JobConversion::new(task.id.clone(), target_of(task));
            conversion.category = Some(op.to_owned());
            conversion.status = task.status.clone();
            job.conversions.push(conversion);
        } else if op == "export/url" {
            for file in task.result.iter().flat_map(|r| &r.files) {
                let Some(url) = file.url.as_deref().filter(|u| !u.is_empty()) else {
                    continue;
                };
                let mut output = Output::new(url);
                output.filename = file.filename.clone();
                output.size = file.size;
                if let Some(md5) = file.md5.as_deref().filter(|m| m.len() == 32) {
                    output.checksum = Some(Checksum::Md5(md5.to_ascii_lowercase()));
                }
                job.outputs.push(output);
            }
        }
        if task.status.as_deref() == Some("error") {
            job.messages.push(
                JobMessage::error(
                    task.message
                        .clone()
                        .unwrap_or_else(|| format!("task {} failed", task_label(task))),
                )
                .with_code(task.code.clone().unwrap_or_else(|| "TASK_FAILED".into()))
                .with_source("task", Some(task_label(task))),
            );
        }
    }
    if job.status == JobStatus::Failed && job.messages.is_empty() {
        job.messages
            .push(JobMessage::error("the job ended in error").with_code("JOB_FAILED"));
    }
    if job.status == JobStatus::Completed && job.outputs.is_empty() {
        return Err(protocol(
            operation,
            "the job finished but no export task lists a file to download",
            raw.to_string().as_bytes(),
        ));
    }
    job.cost = cost.map(|credits| Cost::new(credits, "credits"));
    job.raw = Some(raw);
    Ok(job)
}

/// The retry loop's view of an answer: 429 is throttling; a 5xx is transient (CloudFront's 502
/// with S3's JSON body included); anything else is the answer.
pub fn classify(status: StatusCode, _headers: &HeaderMap) -> Option<ErrorKind> {
    match status.as_u16() {
        429 => Some(ErrorKind::RateLimited),
        500..=599 => Some(ErrorKind::Transport),
        _ => None,
    }
}

/// An error answer in the model. 400 and 422 (both seen for `INVALID_DATA`) are invalid input,
/// except `INVALID_CONVERSION_TYPE` (unsupported); 402 (`CREDITS_EXCEEDED`) is an exhausted
/// quota; the vendor's `code` is kept as the provider code.
pub fn parse_error(
    operation: Operation,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Error {
    let wire: WireError = serde_json::from_slice(body).unwrap_or_default();
    let kind = match (status.as_u16(), wire.code.as_deref()) {
        (_, Some("INVALID_CONVERSION_TYPE")) => ErrorKind::Unsupported,
        (_, Some("CREDITS_EXCEEDED")) => ErrorKind::QuotaExhausted,
        (300..=399, _) => ErrorKind::Protocol,
        (s, _) => ErrorKind::from_http_status(s),
    };
    let mut message = wire
        .message
        .filter(|m| !m.trim().is_empty())
        .map(|m| multiconvert_core::redact::truncate(&m, 500));
    // Laravel's per-field reasons say what "the given data was invalid" means.
    if let (Some(text), Some(Value::Object(fields))) = (&mut message, &wire.errors) {
        let reasons: Vec<String> = fields
            .iter()
            .flat_map(|(field, why)| {
                why.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(move |w| format!("{field}: {w}"))
            })
            .take(5)
            .collect();
        if !reasons.is_empty() {
            *text = multiconvert_core::redact::truncate(
                &format!("{text} ({})", reasons.join("; ")),
                800,
            );
        }
    }
    let mut error = status_error(NAME, operation, kind, status, headers, body, message);
    if let Some(code) = wire.code.filter(|c| !c.is_empty()) {
        error = error.with_provider_code(multiconvert_core::redact::truncate(&code, 64));
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The job of the Ruby SDK's recorded sandbox exchange (reference §2, §3), trimmed.
    const FINISHED: &str = r#"{"data":{"id":"cd82535b-0614-4b23-bbba-b24ab0e892f7","tag":"t1","status":"finished",
      "created_at":"2020-12-17T05:33:52+00:00","tasks":[
      {"id":"a1","name":"import-1","operation":"import/upload","status":"finished","credits":0,
       "result":{"files":[{"filename":"input.pdf","md5":"00112233445566778899aabbccddeeff"}]}},
      {"id":"c1","name":"convert-1-1","operation":"convert","status":"finished","credits":1,
       "payload":{"output_format":"png"},"result":{"files":[{"filename":"input.png"}]}},
      {"id":"e1","name":"export","operation":"export/url","status":"finished","credits":0,
       "result":{"files":[{"filename":"input.png","size":172570,
         "url":"https://storage.cloudconvert.com/tasks-sandbox/e1/input.png?Expires=1&Signature=x"}]}}]}}"#;

    #[test]
    fn a_finished_job_maps_tasks_to_inputs_conversions_and_outputs() {
        let (wire, raw) = parse_job(FINISHED.as_bytes(), Operation::Poll).unwrap();
        let job = to_job(&wire, raw, Operation::Poll).unwrap();
        assert_eq!(job.status, JobStatus::Completed);
        assert_eq!(job.inputs[0].kind.as_deref(), Some("import/upload"));
        assert_eq!(job.inputs[0].filename.as_deref(), Some("input.pdf"));
        assert_eq!(job.conversions[0].target, "png");
        assert_eq!(job.outputs.len(), 1);
        assert_eq!(job.outputs[0].size, Some(172570));
        assert_eq!(job.cost, Some(Cost::new(1, "credits")));
    }

    #[test]
    fn failed_tasks_become_messages_with_their_code_and_name() {
        let body = br#"{"data":{"id":"j","status":"error","tasks":[
          {"id":"a","name":"import-1","operation":"import/url","status":"error",
           "code":"SANDBOX_FILE_NOT_ALLOWED","message":"The file x is not whitelisted for sandbox use"},
          {"id":"c","name":"convert-1-1","operation":"convert","status":"error",
           "code":"INPUT_TASK_FAILED","message":"Input task has failed"},
          {"id":"e","name":"export","operation":"export/url","status":"error","code":"INPUT_TASK_FAILED"}]}}"#;
        let (wire, raw) = parse_job(body, Operation::Poll).unwrap();
        let job = to_job(&wire, raw, Operation::Poll).unwrap();
        assert_eq!(job.status, JobStatus::Failed);
        let first = job.errors().next().unwrap();
        assert_eq!(first.code.as_deref(), Some("SANDBOX_FILE_NOT_ALLOWED"));
        assert_eq!(first.source_id.as_deref(), Some("import-1"));
        assert_eq!(job.messages.len(), 3);
    }

    #[test]
    fn a_finished_job_without_a_file_to_fetch_is_a_protocol_error() {
        let body = br#"{"data":{"id":"j","status":"finished","tasks":[
          {"id":"e","name":"export","operation":"export/url","status":"finished","result":{"files":[]}}]}}"#;
        let (wire, raw) = parse_job(body, Operation::Poll).unwrap();
        assert_eq!(
            to_job(&wire, raw, Operation::Poll).unwrap_err().kind(),
            ErrorKind::Protocol
        );
    }

    #[test]
    fn statuses_in_both_shapes() {
        assert_eq!(status(None), JobStatus::Queued);
        assert_eq!(status(Some("waiting")), JobStatus::Queued);
        assert_eq!(status(Some("error")), JobStatus::Failed);
        assert!(!status(Some("paused")).is_terminal());
    }

    #[test]
    fn error_answers_by_status_and_code() {
        let h = HeaderMap::new();
        let e = parse_error(
            Operation::Submit,
            StatusCode::PAYMENT_REQUIRED,
            &h,
            br#"{"message":"Your account has run out of conversion minutes","code":"CREDITS_EXCEEDED"}"#,
        );
        assert_eq!(e.kind(), ErrorKind::QuotaExhausted);
        assert_eq!(e.provider_code(), Some("CREDITS_EXCEEDED"));
        for status in [StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY] {
            let e = parse_error(
                Operation::Submit,
                status,
                &h,
                br#"{"message":"The given data was invalid.","code":"INVALID_DATA","errors":{"url":["The url format is invalid."]}}"#,
            );
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{status}");
            assert!(
                e.message().contains("url: The url format is invalid."),
                "{e}"
            );
        }
        let e = parse_error(
            Operation::Submit,
            StatusCode::UNPROCESSABLE_ENTITY,
            &h,
            br#"{"message":"This conversion type is not supported","code":"INVALID_CONVERSION_TYPE"}"#,
        );
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        let e = parse_error(
            Operation::Poll,
            StatusCode::UNAUTHORIZED,
            &h,
            br#"{"message":"Unauthenticated."}"#,
        );
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    }
}
