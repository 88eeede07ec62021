//! What every route shares (`../shared/reference/online-convert.md` §2 headers, §4.6 error body, §7
//! status codes): authentication by `X-Oc-Api-Key` or job token, JSON bodies and errors.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::query;
use crate::state::Shared;

/// The job server's path below the base: uploads and downloads live there.
pub(super) const SERVER: &str = "dl/web1";

/// Jobs per page of `GET /jobs`.
pub(super) const PAGE: usize = 50;

pub(super) type S = State<Arc<Shared>>;

pub(super) struct Json(pub(super) Value);

impl IntoResponse for Json {
    fn into_response(self) -> Response {
        (
            [(header::CONTENT_TYPE, "application/json")],
            self.0.to_string(),
        )
            .into_response()
    }
}

pub(super) fn json_status(status: StatusCode, value: Value) -> Response {
    (status, Json(value)).into_response()
}

/// A rendered object as a 200, or the refusal made on the way.
pub(super) fn answer(outcome: Result<Value, Response>) -> Response {
    match outcome {
        Ok(v) => Json(v).into_response(),
        Err(r) => r,
    }
}

/// The answer to a request past the account's limit: online-convert documents a `429` ("back
/// off and retry"; its `Retry-After` is unverified).
pub(crate) fn throttled() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::RETRY_AFTER, "1"),
        ],
        r#"{"code":429,"message":"Too many requests: back off and retry."}"#,
    )
        .into_response()
}

/// The vendor's error body: `{"code", "message"}`.
pub(super) fn error(status: StatusCode, code: u32, message: &str) -> Response {
    json_status(status, json!({"code": code, "message": message}))
}

pub(super) fn api_key(headers: &HeaderMap) -> Option<&str> {
    ["x-oc-api-key", "x-api2convert-api-key"]
        .iter()
        .find_map(|name| headers.get(*name))
        .and_then(|v| v.to_str().ok())
}

pub(super) fn job_token(headers: &HeaderMap) -> Option<&str> {
    ["x-oc-token", "x-api2convert-token"]
        .iter()
        .find_map(|name| headers.get(*name))
        .and_then(|v| v.to_str().ok())
}

/// The control plane takes the account key (either header family), never in the query.
pub(super) fn authorize(
    shared: &Shared,
    op: &str,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<(), Response> {
    if query(uri)
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("key") || k.eq_ignore_ascii_case("api_key"))
    {
        shared.violation(op, "secret_in_query", "an API key in the query string");
    }
    let refused = match api_key(headers) {
        None | Some("") => Err(error(
            StatusCode::UNAUTHORIZED,
            401,
            "Authentication required: send the API key in X-Oc-Api-Key",
        )),
        Some(key) => match &shared.config.online_convert_key {
            Some(expected) if expected != key => Err(error(
                StatusCode::UNAUTHORIZED,
                401,
                "The API key is not valid",
            )),
            _ => Ok(()),
        },
    };
    if refused.is_err() {
        // Counted apart from the operation, so a test can tell refusals from requests served.
        shared.count("oc.unauthenticated");
    }
    refused
}

pub(super) fn server(shared: &Shared) -> String {
    format!(
        "{}/{SERVER}",
        shared.oc_base.get().map_or("", String::as_str)
    )
}

pub(super) fn parse_body(body: &[u8]) -> Result<Value, Response> {
    serde_json::from_slice(body)
        .map_err(|_| error(StatusCode::BAD_REQUEST, 2, "The JSON body is malformed"))
}

pub(super) fn object(value: &Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

pub(super) fn bool_field(body: &Value, name: &str) -> Option<bool> {
    body.get(name).and_then(Value::as_bool)
}

macro_rules! control {
    ($shared:ident, $op:expr, $uri:ident, $headers:ident) => {{
        let fault = $shared.enter($op);
        if let Some(r) = $crate::faults::before(fault.as_ref(), "oc").await {
            return r;
        }
        if let Err(r) = $crate::online_convert::api::authorize(&$shared, $op, &$uri, &$headers) {
            return r;
        }
        fault
    }};
}

pub(super) use control;
