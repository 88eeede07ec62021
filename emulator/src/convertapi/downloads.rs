//! Stored results under `/d/` (`../shared/reference/convertapi.md` §3 `StoreFile`): downloads with
//! or without the file name, and DELETE of a file.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::api::{authorize, error, S};
use crate::faults::{self};
use crate::state::Shared;

pub(super) async fn download(State(shared): S, Path(id): Path<String>) -> Response {
    serve_file(shared, id).await
}

pub(super) async fn download_named(
    State(shared): S,
    Path((id, _name)): Path<(String, String)>,
) -> Response {
    serve_file(shared, id).await
}

async fn serve_file(shared: Arc<Shared>, id: String) -> Response {
    let op = "ca.download";
    let fault = shared.enter(op);
    if let Some(r) = faults::before(fault.as_ref(), "ca").await {
        return r;
    }
    let file = shared.lock().ca_files.get(&id).cloned();
    let response = match file {
        Some(file) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!(
                        "attachment; filename=\"{}\"",
                        file.name.replace(['"', '\r', '\n'], "_")
                    ),
                ),
            ],
            file.bytes,
        )
            .into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            4040,
            "The file does not exist or expired.",
        ),
    };
    faults::after(fault.as_ref(), response)
}

pub(super) async fn delete_file(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let op = "ca.delete";
    let fault = shared.enter(op);
    if let Some(r) = faults::before(fault.as_ref(), "ca").await {
        return r;
    }
    if let Err(r) = authorize(&shared, op, &uri, &headers) {
        return r;
    }
    let removed = shared.lock().ca_files.remove(&id).is_some();
    let response = if removed {
        StatusCode::OK.into_response()
    } else {
        error(
            StatusCode::NOT_FOUND,
            4040,
            "The file does not exist or expired.",
        )
    };
    faults::after(fault.as_ref(), response)
}
