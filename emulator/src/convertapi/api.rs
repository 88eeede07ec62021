//! What every route shares (`../shared/reference/convertapi.md` §2 authentication, §4 errors): the
//! secret or token in a header or the query, JSON bodies and error bodies, JobId and file-name
//! checks.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::query;
use crate::state::Shared;

pub(super) type S = State<Arc<Shared>>;

pub(super) fn json_status(status: StatusCode, value: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

/// The vendor's error body: `{"Code", "Message"}`.
/// The answer to a request past the account's limit: ConvertAPI documents a `503` "Retry is
/// available after a few seconds", without `Retry-After`.
pub(crate) fn throttled() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"Message":"Retry is available after a few seconds."}"#,
    )
        .into_response()
}

pub(super) fn error(status: StatusCode, code: u32, message: &str) -> Response {
    json_status(status, json!({"Code": code, "Message": message}))
}

pub(super) fn invalid_parameter(name: &str, problem: &str) -> Response {
    json_status(
        StatusCode::BAD_REQUEST,
        json!({"Code": 4000, "Message": "Parameter validation error.",
               "InvalidParameters": {name: [problem]}}),
    )
}

const QUERY_SECRETS: &[&str] = &["secret", "token", "auth", "apikey"];

/// Bearer (the current form) or a query secret (the legacy one, accepted but counted: a secret
/// in a URL ends up in logs).
pub(super) fn authorize(
    shared: &Shared,
    op: &str,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<(), Response> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let in_query = query(uri)
        .into_iter()
        .find(|(k, _)| QUERY_SECRETS.contains(&k.to_ascii_lowercase().as_str()))
        .map(|(_, v)| v);
    if in_query.is_some() {
        shared.violation(
            op,
            "secret_in_query",
            "a secret or token in the query string",
        );
    }
    let refused = match bearer.or(in_query).filter(|s| !s.is_empty()) {
        None => Err(error(
            StatusCode::UNAUTHORIZED,
            4013,
            "User credentials not set, secret or token must be passed.",
        )),
        Some(given) => match &shared.config.convertapi_secret {
            Some(expected) if *expected != given => Err(error(
                StatusCode::UNAUTHORIZED,
                4010,
                "Invalid user credentials.",
            )),
            _ => Ok(()),
        },
    };
    if refused.is_err() {
        // Counted apart from the operation, so a test can tell refusals from requests served.
        shared.count("ca.unauthenticated");
    }
    refused
}

pub(super) fn is_current_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

pub(super) fn is_uuid(id: &str) -> bool {
    id.len() == 36 && uuid::Uuid::try_parse(id).is_ok()
}

pub(super) fn base(shared: &Shared) -> &str {
    shared.ca_base.get().map_or("", String::as_str)
}

pub(super) fn extension(name: &str) -> String {
    name.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default()
}
