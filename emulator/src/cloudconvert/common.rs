//! What every route shares (`../shared/reference/cloudconvert.md` §1 auth, §5 errors): the bearer
//! key, JSON bodies with the rate-limit header, error bodies, and the storage host's S3-style
//! errors.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::faults::{self, Fault};
use crate::query;
use crate::state::Shared;

pub(super) type S = State<Arc<Shared>>;

pub(super) fn json_status(status: StatusCode, value: Value) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::HeaderName::from_static("x-ratelimit-limit"), "500"),
        ],
        value.to_string(),
    )
        .into_response()
}

/// The vendor's error body: `{"message", "code"}`.
/// The answer to a request past the account's limit: a `429`; its body and `Retry-After` are
/// unverified (CloudConvert's API is Laravel's, whose throttle answers like this).
pub(crate) fn throttled() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::RETRY_AFTER, "1"),
        ],
        r#"{"message":"Too Many Attempts.","code":"TOO_MANY_REQUESTS"}"#,
    )
        .into_response()
}

pub(super) fn error(status: StatusCode, code: &str, message: &str) -> Response {
    json_status(status, json!({"message": message, "code": code}))
}

/// Laravel's validation answer: 422 `INVALID_DATA` with the reasons per field.
pub(super) fn invalid(field: &str, problem: &str) -> Response {
    json_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"message": "The given data was invalid.", "code": "INVALID_DATA",
               "errors": {field: [problem]}}),
    )
}

/// `Authorization: Bearer <key>`, the configured key when there is one.
pub(super) fn authorize(
    shared: &Shared,
    op: &str,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<(), Response> {
    if query(uri).iter().any(|(k, _)| {
        matches!(
            k.to_ascii_lowercase().as_str(),
            "api_key" | "access_token" | "token"
        )
    }) {
        shared.violation(op, "secret_in_query", "a key or token in the query string");
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .filter(|k| !k.trim().is_empty());
    let accepted = match (&shared.config.cloudconvert_key, bearer) {
        (_, None) => false,
        (Some(key), Some(given)) => key == given,
        (None, Some(_)) => true,
    };
    if accepted {
        Ok(())
    } else {
        Err(json_status(
            StatusCode::UNAUTHORIZED,
            json!({"message": "Unauthenticated."}),
        ))
    }
}

/// Counts `op`, applies a fault that replaces the answer, checks the key.
pub(super) async fn enter(
    shared: &Shared,
    op: &str,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Option<Fault>, Response> {
    let fault = shared.enter(op);
    if let Some(response) = faults::before(fault.as_ref(), "cc").await {
        return Err(response);
    }
    authorize(shared, op, uri, headers)?;
    Ok(fault)
}

pub(super) fn now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S+00:00")
        .to_string()
}

pub(super) fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "NOT_FOUND", "Job not found")
}

pub(super) fn terminal(status: &str) -> bool {
    status == "finished" || status == "error"
}

/// S3's error answer.
pub(super) fn s3_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/xml")],
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"),
    )
        .into_response()
}
