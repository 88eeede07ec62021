//! Output downloads (`../shared/reference/online-convert.md` §4.4): the output URI, without
//! credentials, optionally as base64.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use super::api::{api_key, error, job_token, S};
use crate::faults::{self};
use crate::query;

pub(super) async fn download(
    State(shared): S,
    Path((oid, _name)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let op = "oc.download";
    let fault = shared.enter(op);
    if let Some(r) = faults::before(fault.as_ref(), "oc").await {
        return r;
    }
    if api_key(&headers).is_some() || job_token(&headers).is_some() {
        shared.violation(
            op,
            "secret_on_download_host",
            "a key or job token was sent with a download",
        );
    }
    let found = {
        let mut inner = shared.lock();
        inner
            .oc_jobs
            .values_mut()
            .flat_map(|j| j.outputs.iter_mut())
            .find(|o| o.id == oid)
            .map(|o| {
                o.downloads += 1;
                (o.bytes.clone(), o.content_type.clone(), o.password.clone())
            })
    };
    let Some((bytes, content_type, password)) = found else {
        return error(StatusCode::NOT_FOUND, 404, "The file does not exist");
    };
    if let Some(expected) = password {
        let given = headers
            .get("x-api2convert-download-password")
            .and_then(|v| v.to_str().ok());
        if given != Some(expected.as_str()) {
            return error(
                StatusCode::UNAUTHORIZED,
                401,
                "The download password is missing or wrong",
            );
        }
    }
    let base64 = query(&uri)
        .iter()
        .any(|(k, v)| k == "encoding" && v == "base64");
    let response = if base64 {
        base64::engine::general_purpose::STANDARD
            .encode(&bytes)
            .into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type)], bytes).into_response()
    };
    faults::after(fault.as_ref(), response)
}
