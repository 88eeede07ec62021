//! `/jobs/{id}/conversions` (`../shared/reference/online-convert.md` §3, §4.3): conversions added,
//! listed, patched and removed.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::api::{answer, control, error, json_status, object, parse_body, Json, S};
use super::edits::{edit, one_part, remove_part, set_status, staged_only, staged_status, with_job};
use super::objects::conversion_json;
use super::records::OcConversion;
use crate::faults::{self};
use crate::state::{uuid, Shared};

/// The vendor's category of a target: raster formats are `image`, the rest `document`.
pub(super) fn category_of(target: &str) -> &'static str {
    if multiconvert_local::convert::format_of(target).is_some() {
        "image"
    } else {
        "document"
    }
}

pub(super) fn parse_conversion(shared: &Shared, value: &Value) -> Result<OcConversion, String> {
    let target = value["target"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or("a conversion needs a target")?
        .to_ascii_lowercase();
    if !shared.engine.targets().contains(&target) {
        return Err(format!("there is no conversion to {target}"));
    }
    let category = value["category"]
        .as_str()
        .map_or_else(|| category_of(&target).to_owned(), str::to_owned);
    Ok(OcConversion {
        id: uuid(),
        target,
        category,
        options: object(&value["options"]),
        metadata: object(&value["metadata"]),
        output_target: value["output_target"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    })
}

pub(super) async fn conversions(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    control!(shared, "oc.poll", uri, headers);
    match with_job(&shared, &id, |job| {
        job.conversions
            .iter()
            .map(conversion_json)
            .collect::<Vec<_>>()
    }) {
        Ok(v) => Json(Value::Array(v)).into_response(),
        Err(r) => r,
    }
}

pub(super) async fn add_conversion(
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
    let conversion = match parse_conversion(&shared, &body) {
        Ok(c) => c,
        Err(m) => return error(StatusCode::BAD_REQUEST, 3, &m),
    };
    let outcome = edit(&shared, &id, |job| {
        staged_only(job)?;
        let rendered = conversion_json(&conversion);
        job.conversions.push(conversion);
        let status = staged_status(job);
        set_status(job, status);
        Ok(rendered)
    });
    let response = match outcome {
        Ok(v) => json_status(StatusCode::CREATED, v),
        Err(r) => r,
    };
    faults::after(fault.as_ref(), response)
}

pub(super) async fn one_conversion(
    State(shared): S,
    Path((id, cid)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    control!(shared, "oc.poll", uri, headers);
    one_part(&shared, &id, "The conversion does not exist", |job| {
        job.conversions
            .iter()
            .find(|c| c.id == cid)
            .map(conversion_json)
    })
}

/// `PATCH /jobs/{id}/conversions/{cid}`: `{"options", "metadata"}`.
pub(super) async fn patch_conversion(
    State(shared): S,
    Path((id, cid)): Path<(String, String)>,
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
        let c = job
            .conversions
            .iter_mut()
            .find(|c| c.id == cid)
            .ok_or_else(|| error(StatusCode::NOT_FOUND, 404, "The conversion does not exist"))?;
        if body.get("options").is_none() && body.get("metadata").is_none() {
            return Err(error(StatusCode::BAD_REQUEST, 3, "Nothing to change"));
        }
        c.options.extend(object(&body["options"]));
        c.metadata.extend(object(&body["metadata"]));
        Ok(conversion_json(c))
    });
    answer(outcome)
}

pub(super) async fn delete_conversion(
    State(shared): S,
    Path((id, cid)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    control!(shared, "oc.update", uri, headers);
    remove_part(&shared, &id, "conversion", |job| {
        let before = job.conversions.len();
        job.conversions.retain(|c| c.id != cid);
        job.conversions.len() < before
    })
}
