//! The storage host's export files (`../shared/reference/cloudconvert.md` §3 `export/url`):
//! downloads without the key.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::common::{s3_error, S};
use crate::faults::{self};

pub(super) async fn download(
    State(shared): S,
    Path((task_id, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let op = "cc.download";
    let fault = shared.enter(op);
    if let Some(response) = faults::before(fault.as_ref(), "cc").await {
        return response;
    }
    if headers.contains_key(header::AUTHORIZATION) {
        shared.violation(
            op,
            "account_key_on_storage_host",
            "an Authorization header sent with a download",
        );
    }
    let found = {
        let inner = shared.lock();
        inner.cc_jobs.values().find_map(|job| {
            job.tasks
                .iter()
                .find(|t| t.id == task_id && t.operation == "export/url" && t.status == "finished")
                .and_then(|t| t.files.iter().find(|f| f.filename == name).cloned())
        })
    };
    let Some(file) = found else {
        return s3_error(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        );
    };
    let response = (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, file.content_type.clone()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"{}\"",
                    file.filename.replace('"', "")
                ),
            ),
        ],
        file.bytes,
    )
        .into_response();
    faults::after(fault.as_ref(), response)
}
