//! `/jobs/{id}/input` (`../shared/reference/online-convert.md` §3, §4.2): remote, upload, base64
//! and cloud inputs added, listed, reordered, patched and removed.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::Value;

use super::api::{answer, control, error, json_status, object, parse_body, Json, S};
use super::edits::{edit, one_part, remove_part, set_status, staged_only, staged_status, with_job};
use super::objects::input_json;
use super::records::OcInput;
use crate::faults::{self};
use crate::state::{now, uuid};

fn filename_of_url(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.path_segments()
                .and_then(|mut s| s.next_back().map(str::to_owned))
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "file".into())
}

/// An input descriptor of a create or `POST /input`.
pub(super) fn parse_input(value: &Value) -> Result<OcInput, String> {
    let kind = value["type"].as_str().unwrap_or("remote").to_owned();
    let source = value["source"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or("an input needs a source")?
        .to_owned();
    let mut input = OcInput {
        id: uuid(),
        kind: kind.clone(),
        source: source.clone(),
        status: "ready".into(),
        filename: value["filename"].as_str().unwrap_or_default().to_owned(),
        bytes: None,
        options: object(&value["options"]),
        created_at: now(),
    };
    match kind.as_str() {
        "remote" => {
            let url = url::Url::parse(&source).map_err(|_| "the source is not a URL")?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err("a remote source must be an http(s) URL".into());
            }
            if input.filename.is_empty() {
                input.filename = filename_of_url(&source);
            }
        }
        "base64" => {
            input.bytes = Some(decode_base64(&source).ok_or("the base64 content does not decode")?);
            if input.filename.is_empty() {
                input.filename = "output".into();
            }
            input.source = String::new();
        }
        // Accepted as the vendor accepts them; the emulator cannot reach cloud storage, so the
        // input fails asynchronously, as a bad cloud descriptor does (code 99).
        "cloud" | "gdrive_picker" | "input_id" | "output" => {}
        other => return Err(format!("unknown input type {other:?}")),
    }
    Ok(input)
}

pub(super) fn decode_base64(text: &str) -> Option<Bytes> {
    let payload = text.rsplit_once("base64,").map_or(text, |(_, d)| d);
    base64::engine::general_purpose::STANDARD
        .decode(payload.trim())
        .ok()
        .map(Bytes::from)
}

pub(super) async fn inputs(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    control!(shared, "oc.poll", uri, headers);
    match with_job(&shared, &id, |job| {
        job.inputs.iter().map(input_json).collect::<Vec<_>>()
    }) {
        Ok(v) => Json(Value::Array(v)).into_response(),
        Err(r) => r,
    }
}

pub(super) async fn add_input(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = control!(shared, "oc.add", uri, headers);
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let many = body.is_array();
    let items: Vec<Value> = match body {
        Value::Array(items) => items,
        one => vec![one],
    };
    let parsed = match items.iter().map(parse_input).collect::<Result<Vec<_>, _>>() {
        Ok(p) => p,
        Err(m) => return error(StatusCode::BAD_REQUEST, 3, &m),
    };
    let outcome = edit(&shared, &id, |job| {
        staged_only(job)?;
        let rendered: Vec<Value> = parsed.iter().map(input_json).collect();
        job.inputs.extend(parsed);
        let status = staged_status(job);
        set_status(job, status);
        Ok(rendered)
    });
    let response = match outcome {
        Ok(mut rendered) if !many => json_status(StatusCode::CREATED, rendered.remove(0)),
        Ok(rendered) => json_status(StatusCode::CREATED, Value::Array(rendered)),
        Err(r) => r,
    };
    faults::after(fault.as_ref(), response)
}

/// `PATCH /jobs/{id}/input`: `[{"id", "options"}]`, e.g. positions and slide durations.
pub(super) async fn reorder(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    control!(shared, "oc.update", uri, headers);
    let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            3,
            "The body must be a list of {id, options}",
        );
    };
    let outcome = edit(&shared, &id, |job| {
        staged_only(job)?;
        for item in &items {
            let Some(input) = job
                .inputs
                .iter_mut()
                .find(|i| Some(i.id.as_str()) == item["id"].as_str())
            else {
                return Err(error(
                    StatusCode::NOT_FOUND,
                    404,
                    "The input does not exist",
                ));
            };
            input.options.extend(object(&item["options"]));
        }
        Ok(job.inputs.iter().map(input_json).collect::<Vec<_>>())
    });
    match outcome {
        Ok(v) => Json(Value::Array(v)).into_response(),
        Err(r) => r,
    }
}

pub(super) async fn one_input(
    State(shared): S,
    Path((id, fid)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    control!(shared, "oc.poll", uri, headers);
    one_part(&shared, &id, "The input does not exist", |job| {
        job.inputs.iter().find(|i| i.id == fid).map(input_json)
    })
}

/// `PATCH /jobs/{id}/input/{fid}`: only `credentials.decrypt_password`, only before the start.
pub(super) async fn patch_input(
    State(shared): S,
    Path((id, fid)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    control!(shared, "oc.update", uri, headers);
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let outcome = edit(&shared, &id, |job| {
        staged_only(job)?;
        let input = job
            .inputs
            .iter()
            .find(|i| i.id == fid)
            .ok_or_else(|| error(StatusCode::NOT_FOUND, 404, "The input does not exist"))?;
        if body.get("credentials").is_none() && body.get("parameters").is_none() {
            return Err(error(StatusCode::BAD_REQUEST, 3, "Nothing to change"));
        }
        Ok(input_json(input))
    });
    answer(outcome)
}

pub(super) async fn delete_input(
    State(shared): S,
    Path((id, fid)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    control!(shared, "oc.update", uri, headers);
    remove_part(&shared, &id, "input", |job| {
        let before = job.inputs.len();
        job.inputs.retain(|i| i.id != fid);
        job.inputs.len() < before
    })
}
