//! `/jobs/{id}/output` (`../shared/reference/online-convert.md` §3, §4.4): outputs listed and
//! renamed or given a download password.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::api::{answer, control, error, parse_body, Json, S};
use super::edits::{edit, one_part, with_job};
use super::objects::output_json;
use super::records::OcOutput;
use crate::query;

pub(super) async fn outputs(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    control!(shared, "oc.poll", uri, headers);
    let params = query(&uri);
    let wanted = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let (conversion, input) = (wanted("conversion_id"), wanted("input_id"));
    match with_job(&shared, &id, |job| {
        job.outputs
            .iter()
            .filter(|o| conversion.as_ref().is_none_or(|c| &o.conversion == c))
            .filter(|o| input.as_ref().is_none_or(|i| &o.input == i))
            .map(|o| output_json(&shared, o))
            .collect::<Vec<_>>()
    }) {
        Ok(v) => Json(Value::Array(v)).into_response(),
        Err(r) => r,
    }
}

fn change_output(output: &mut OcOutput, body: &Value) -> Result<(), Response> {
    if let Some(name) = body.get("filename") {
        let name = name.as_str().unwrap_or_default();
        if name.trim().is_empty() || name.contains(['/', '\\', '\0']) {
            return Err(error(
                StatusCode::BAD_REQUEST,
                3,
                "The file name must be a plain name",
            ));
        }
        output.filename = name.to_owned();
    }
    if let Some(pw) = body.get("download_password").and_then(Value::as_str) {
        output.password = Some(pw.to_owned()).filter(|p| !p.is_empty());
    }
    Ok(())
}

/// `PATCH /jobs/{id}/output`: the same change to every output.
pub(super) async fn patch_outputs(
    State(shared): S,
    Path(id): Path<String>,
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
        for output in job.outputs.iter_mut() {
            change_output(output, &body)?;
        }
        Ok(job
            .outputs
            .iter()
            .map(|o| output_json(&shared, o))
            .collect::<Vec<_>>())
    });
    match outcome {
        Ok(v) => Json(Value::Array(v)).into_response(),
        Err(r) => r,
    }
}

pub(super) async fn one_output(
    State(shared): S,
    Path((id, oid)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    control!(shared, "oc.poll", uri, headers);
    one_part(&shared, &id, "The output does not exist", |job| {
        job.outputs
            .iter()
            .find(|o| o.id == oid)
            .map(|o| output_json(&shared, o))
    })
}

/// `PATCH /jobs/{id}/output/{oid}`: `{"filename", "download_password"}`.
pub(super) async fn patch_output(
    State(shared): S,
    Path((id, oid)): Path<(String, String)>,
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
        let output = job
            .outputs
            .iter_mut()
            .find(|o| o.id == oid)
            .ok_or_else(|| error(StatusCode::NOT_FOUND, 404, "The output does not exist"))?;
        change_output(output, &body)?;
        Ok(output_json(&shared, output))
    });
    answer(outcome)
}
