//! `/jobs` (`../shared/reference/online-convert.md` §3, §4.1): create (in one call, or staged with
//! `process: false`), read, list by status and page, `PATCH` (settings, `process: true`), delete,
//! history.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::api::{
    answer, authorize, bool_field, control, error, json_status, parse_body, Json, PAGE, S,
};
use super::conversions::parse_conversion;
use super::edits::{edit, set_status, staged_status, with_job};
use super::inputs::parse_input;
use super::objects::{info, job_json};
use super::processing::begin;
use super::records::OcJob;
use crate::faults::{self};
use crate::query;
use crate::state::{now, uuid};

fn apply_settings(job: &mut OcJob, body: &Value) -> Result<(), Response> {
    if let Some(cb) = body.get("callback") {
        let cb = cb.as_str().unwrap_or_default();
        if !cb.is_empty() && !cb.starts_with("http://") && !cb.starts_with("https://") {
            return Err(error(
                StatusCode::BAD_REQUEST,
                3,
                "The callback must be an http(s) URL",
            ));
        }
        job.callback = cb.to_owned();
    }
    if let Some(v) = bool_field(body, "notify_status") {
        job.notify_status = v;
    }
    if let Some(v) = bool_field(body, "fail_on_input_error") {
        job.fail_on_input_error = v;
    }
    if let Some(v) = bool_field(body, "fail_on_conversion_error") {
        job.fail_on_conversion_error = v;
    }
    if let Some(list) = body.get("download_passwords").and_then(Value::as_array) {
        job.download_passwords = list
            .iter()
            .filter_map(|p| p.as_str().map(str::to_owned))
            .collect();
    }
    Ok(())
}

pub(super) async fn create(
    State(shared): S,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let op = "oc.create";
    let fault = shared.enter(op);
    if let Some(r) = faults::before(fault.as_ref(), "oc").await {
        return r;
    }
    if let Err(r) = authorize(&shared, op, &uri, &headers) {
        return r;
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        // As the vendor: a 204 where a job was due.
        return StatusCode::NO_CONTENT.into_response();
    }
    let body = match parse_body(&body) {
        Ok(b) if b.is_object() => b,
        Ok(_) => return error(StatusCode::BAD_REQUEST, 2, "The body must be a job object"),
        Err(r) => return r,
    };
    if body
        .get("conversion")
        .is_some_and(|c| c.as_array().is_some_and(Vec::is_empty))
    {
        return error(StatusCode::BAD_REQUEST, 3, "The conversion list is empty");
    }
    let inputs = match body["input"]
        .as_array()
        .map(|a| a.iter().map(parse_input).collect::<Result<Vec<_>, _>>())
        .transpose()
    {
        Ok(i) => i.unwrap_or_default(),
        Err(m) => return error(StatusCode::BAD_REQUEST, 3, &m),
    };
    let conversions = match body["conversion"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| parse_conversion(&shared, c))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
    {
        Ok(c) => c.unwrap_or_default(),
        Err(m) => return error(StatusCode::BAD_REQUEST, 3, &m),
    };
    let process = bool_field(&body, "process").unwrap_or(true);
    let created = now();
    let mut job = OcJob {
        id: uuid(),
        token: crate::state::simple_id(),
        seq: shared.next_seq(),
        status: String::new(),
        info: String::new(),
        process,
        started: false,
        inputs,
        conversions,
        outputs: Vec::new(),
        errors: Vec::new(),
        warnings: Vec::new(),
        callback: String::new(),
        notify_status: false,
        fail_on_input_error: true,
        fail_on_conversion_error: true,
        download_passwords: Vec::new(),
        history: Vec::new(),
        created_at: created.clone(),
        modified_at: created,
    };
    if let Err(r) = apply_settings(&mut job, &body) {
        return r;
    }
    let status = staged_status(&job);
    set_status(&mut job, status);
    let start = process && status == "ready";
    if process && status != "ready" {
        // A job created to run needs its inputs and conversions now.
        return error(
            StatusCode::BAD_REQUEST,
            3,
            "A job to process needs an input and a conversion",
        );
    }
    let id = job.id.clone();
    shared.lock().oc_jobs.insert(id.clone(), job);
    if start {
        begin(&shared, &id, fault.as_ref());
    }
    let snapshot = shared.lock().oc_jobs.get(&id).map(|j| job_json(&shared, j));
    let response = json_status(StatusCode::CREATED, snapshot.unwrap_or(Value::Null));
    faults::after(fault.as_ref(), response)
}

pub(super) async fn read(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let op = "oc.poll";
    let fault = shared.enter(op);
    if let Some(r) = faults::before(fault.as_ref(), "oc").await {
        return r;
    }
    if let Err(r) = authorize(&shared, op, &uri, &headers) {
        return r;
    }
    shared.polled(&id);
    let response = answer(with_job(&shared, &id, |job| job_json(&shared, job)));
    faults::after(fault.as_ref(), response)
}

pub(super) async fn update(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let starting = bool_field(&body, "process") == Some(true);
    let op = if starting { "oc.start" } else { "oc.update" };
    let fault = shared.enter(op);
    if let Some(r) = faults::before(fault.as_ref(), "oc").await {
        return r;
    }
    if let Err(r) = authorize(&shared, op, &uri, &headers) {
        return r;
    }
    let outcome = edit(&shared, &id, |job| {
        if starting && job.started {
            return Err(error(
                StatusCode::CONFLICT,
                409,
                "The job is already processing.",
            ));
        }
        if starting && staged_status(job) != "ready" {
            return Err(error(
                StatusCode::BAD_REQUEST,
                3,
                "The job needs an input and a conversion",
            ));
        }
        apply_settings(job, &body)
    });
    if let Err(r) = outcome {
        return r;
    }
    if starting {
        begin(&shared, &id, fault.as_ref());
    }
    let response = answer(with_job(&shared, &id, |job| job_json(&shared, job)));
    faults::after(fault.as_ref(), response)
}

pub(super) async fn delete(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let op = "oc.delete";
    let fault = shared.enter(op);
    if let Some(r) = faults::before(fault.as_ref(), "oc").await {
        return r;
    }
    if let Err(r) = authorize(&shared, op, &uri, &headers) {
        return r;
    }
    // Cancels a running job too; the record goes with it.
    let response = match shared.lock().oc_jobs.remove(&id) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => error(StatusCode::NOT_FOUND, 404, "The job does not exist"),
    };
    faults::after(fault.as_ref(), response)
}

pub(super) async fn list(State(shared): S, uri: Uri, headers: HeaderMap) -> Response {
    let op = "oc.list";
    let fault = shared.enter(op);
    if let Some(r) = faults::before(fault.as_ref(), "oc").await {
        return r;
    }
    if let Err(r) = authorize(&shared, op, &uri, &headers) {
        return r;
    }
    let params = query(&uri);
    let status = params
        .iter()
        .find(|(k, _)| k == "status")
        .map(|(_, v)| v.clone());
    let page: usize = params
        .iter()
        .find(|(k, _)| k == "page")
        .and_then(|(_, v)| v.parse().ok())
        .filter(|&p| p >= 1)
        .unwrap_or(1);
    let (rows, total) = {
        let inner = shared.lock();
        let mut jobs: Vec<&OcJob> = inner
            .oc_jobs
            .values()
            .filter(|j| status.as_deref().is_none_or(|s| j.status == s))
            .collect();
        jobs.sort_by_key(|j| j.seq);
        let total = jobs.len();
        let rows: Vec<Value> = jobs
            .iter()
            .skip((page - 1) * PAGE)
            .take(PAGE)
            .map(|j| job_json(&shared, j))
            .collect();
        (rows, total)
    };
    let count = HeaderValue::from_str(&total.to_string()).expect("digits");
    let mut response = if rows.is_empty() {
        StatusCode::NO_CONTENT.into_response()
    } else {
        Json(Value::Array(rows)).into_response()
    };
    response.headers_mut().insert("x-count", count);
    faults::after(fault.as_ref(), response)
}

pub(super) async fn history(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    control!(shared, "oc.poll", uri, headers);
    match with_job(&shared, &id, |job| {
        job.history
            .iter()
            .map(|(hid, status, at)| json!({"id": hid, "status": status, "info": info(status), "created_at": at}))
            .collect::<Vec<_>>()
    }) {
        Ok(v) => Json(Value::Array(v)).into_response(),
        Err(r) => r,
    }
}
