//! The online-convert / api2convert v2 job API, as `../shared/reference/online-convert.md`
//! describes it: control plane under `/v2` with the account key, a per-job upload server with the
//! job token, downloads without credentials, callbacks with an optional `X-Oc-Signature`.
//!
//! Laid out as the reference is: [`router`] is its §3 table of endpoints; each resource's routes
//! live in the module named for it (`jobs`, `inputs`, `conversions`, `outputs`, `catalog` for
//! `/statuses` and `/conversions`), §5's upload server in `uploads`, §4.4's output URIs in
//! `downloads`, §9's callbacks in `callbacks`. `objects` renders §4's objects, `api` holds §2's
//! headers and §4.6's error body, `edits` changes a job under the lock, `processing` plays a job
//! from `incomplete` to its end, `records` is what the emulator remembers of a job.

mod api;
mod callbacks;
mod catalog;
mod conversions;
mod downloads;
mod edits;
mod inputs;
mod jobs;
mod objects;
mod outputs;
mod processing;

pub(crate) mod records;
mod uploads;

pub(crate) use api::throttled;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;

use crate::state::Shared;
use api::{error, Json, SERVER};
use catalog::{catalog, statuses};
use conversions::{
    add_conversion, conversions, delete_conversion, one_conversion, patch_conversion,
};
use downloads::download;
use inputs::{add_input, delete_input, inputs, one_input, patch_input, reorder};
use jobs::{create, delete, history, list, read, update};
use outputs::{one_output, outputs, patch_output, patch_outputs};
use uploads::{upload_base64, upload_file};

/// The routes, relative to the base (`/v2`).
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/jobs", post(create).get(list))
        .route("/jobs/{id}", get(read).patch(update).delete(delete))
        .route(
            "/jobs/{id}/input",
            get(inputs).post(add_input).patch(reorder),
        )
        .route(
            "/jobs/{id}/input/{fid}",
            get(one_input).patch(patch_input).delete(delete_input),
        )
        .route(
            "/jobs/{id}/conversions",
            get(conversions).post(add_conversion),
        )
        .route(
            "/jobs/{id}/conversions/{cid}",
            get(one_conversion)
                .patch(patch_conversion)
                .delete(delete_conversion),
        )
        .route("/jobs/{id}/output", get(outputs).patch(patch_outputs))
        .route(
            "/jobs/{id}/output/{oid}",
            get(one_output).patch(patch_output),
        )
        .route("/jobs/{id}/history", get(history))
        .route("/statuses", get(statuses))
        .route("/conversions", get(catalog))
        .route(&format!("/{SERVER}/upload-file/{{id}}"), post(upload_file))
        .route(
            &format!("/{SERVER}/upload-base64/{{id}}"),
            post(upload_base64),
        )
        .route(
            &format!("/{SERVER}/download-file/{{oid}}/{{name}}"),
            get(download),
        )
        .route(
            "/schema",
            get(|| async { Json(json!({"openapi": "3.0.0"})) }),
        )
        .fallback(|| async { error(StatusCode::NOT_FOUND, 404, "Not found") })
        .with_state(shared)
}
