//! Faults to inject, per operation, by count or probability, reproducible from a seed.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// The operations faults attach to. `*` matches every one.
pub const OPERATIONS: &[&str] = &[
    "oc.create",
    "oc.add",
    "oc.start",
    "oc.update",
    "oc.upload",
    "oc.poll",
    "oc.list",
    "oc.download",
    "oc.delete",
    "oc.callback",
    "ca.upload",
    "ca.submit",
    "ca.convert",
    "ca.poll",
    "ca.download",
    "ca.delete",
    "ca.webhook",
    "cc.create",
    "cc.list",
    "cc.poll",
    "cc.wait",
    "cc.upload",
    "cc.download",
    "cc.delete",
    "cc.callback",
];

/// What goes wrong.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Answer `status` before doing anything (429 and 503 carry `Retry-After` when given).
    Status {
        /// The HTTP status.
        status: u16,
        /// `Retry-After` seconds.
        #[serde(default)]
        retry_after: Option<u64>,
    },
    /// Do the operation (create the job, start it…), then answer `status`: the client cannot
    /// tell whether it happened.
    AfterCommit {
        /// The HTTP status (a 5xx).
        status: u16,
    },
    /// Do the operation, send the headers and half the body, then drop the connection.
    Reset,
    /// Wait this long before answering (or, for a callback, before delivering it).
    Slow {
        /// The delay.
        delay_ms: u64,
    },
    /// Do the operation and answer 200 with a body that is not JSON.
    Garbage,
    /// Name produced files `../../evil.<ext>` (applies when a job's results are made).
    HostileFilename,
    /// ConvertAPI: answer a poll 503, as when another poll of the job is in flight.
    Busy,
    /// Deliver the callback twice.
    Duplicate,
    /// Deliver, besides the genuine callback, a forged one (bad signature, unknown job).
    Forged,
    /// Refuse as the vendor does once the account's credits are used up (online-convert: 402;
    /// ConvertAPI: 401 with `Code` 4014; CloudConvert: 402 `CREDITS_EXCEEDED`).
    Quota,
    /// Contract drift: do the operation, then rename the JSON key `from` to `to` wherever it
    /// occurs in the answer.
    RenameField {
        /// The documented key.
        from: String,
        /// The key the drifted vendor sends instead.
        to: String,
    },
    /// Contract drift: do the operation, then answer the string value `from` as `to` wherever it
    /// occurs (a status the client has never seen, say).
    ReplaceValue {
        /// The documented value.
        from: String,
        /// The value the drifted vendor sends instead.
        to: String,
    },
    /// Contract drift: do the operation, then answer with `status` instead of the documented
    /// one, the body unchanged.
    Restatus {
        /// The status sent instead.
        status: u16,
    },
}

/// A fault and when it fires.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// The operation (see [`OPERATIONS`]) or `*`.
    pub operation: String,
    /// What goes wrong.
    pub fault: Fault,
    /// How many times it fires (default 1; with a probability, unlimited unless set).
    #[serde(default)]
    pub count: Option<u32>,
    /// The chance that it fires on each matching request (default: always, while `count` lasts).
    #[serde(default)]
    pub probability: Option<f64>,
}

impl FaultSpec {
    /// A fault that fires once on `operation`.
    pub fn once(operation: impl Into<String>, fault: Fault) -> Self {
        FaultSpec {
            operation: operation.into(),
            fault,
            count: None,
            probability: None,
        }
    }

    /// Checks the operation name and the numbers.
    pub fn check(&self) -> Result<(), String> {
        if self.operation != "*" && !OPERATIONS.contains(&self.operation.as_str()) {
            return Err(format!(
                "unknown operation {:?}; one of {} or *",
                self.operation,
                OPERATIONS.join(", ")
            ));
        }
        if let Some(p) = self.probability {
            if !(0.0..=1.0).contains(&p) {
                return Err("probability must be between 0 and 1".into());
            }
        }
        match self.fault {
            Fault::Status { status, .. } | Fault::AfterCommit { status }
                if StatusCode::from_u16(status).is_err() || status < 400 =>
            {
                Err(format!("{status} is not an error status"))
            }
            Fault::Restatus { status } if StatusCode::from_u16(status).is_err() => {
                Err(format!("{status} is not an HTTP status"))
            }
            _ => Ok(()),
        }
    }
}

/// An injected fault still armed.
#[derive(Clone, Debug)]
pub(crate) struct Armed {
    pub spec: FaultSpec,
    pub remaining: Option<u32>,
}

impl Armed {
    pub fn new(spec: FaultSpec) -> Self {
        let remaining = match (spec.count, spec.probability) {
            (Some(n), _) => Some(n),
            (None, Some(_)) => None,
            (None, None) => Some(1),
        };
        Armed { spec, remaining }
    }
}

/// Reads a request's body to its end and drops it.
///
/// A fault answered before the body is read must not race the client still writing it: the
/// server closing a connection with unread bytes sends a reset, which reaches the client as a
/// transport error instead of the answer, at random. A vendor's front end reads the upload first.
pub(crate) async fn drain(body: Body) {
    let _ = axum::body::to_bytes(body, crate::MAX_BODY).await;
}

/// The answer a fault gives before the operation runs, if it replaces it. `vendor` is the
/// operation's prefix (`oc`, `ca`).
pub(crate) async fn before(fault: Option<&Fault>, vendor: &str) -> Option<Response> {
    match fault? {
        Fault::Quota if vendor == "oc" => Some(
            (
                StatusCode::PAYMENT_REQUIRED,
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"code":402,"message":"You have no credits left."}"#,
            )
                .into_response(),
        ),
        Fault::Quota if vendor == "cc" => Some(
            (
                StatusCode::PAYMENT_REQUIRED,
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"message":"Your account has run out of conversion minutes","code":"CREDITS_EXCEEDED"}"#,
            )
                .into_response(),
        ),
        Fault::Quota => Some(
            (
                StatusCode::UNAUTHORIZED,
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"Code":4014,"Message":"Your balance is zero."}"#,
            )
                .into_response(),
        ),
        Fault::Status {
            status,
            retry_after,
        } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let mut response = (
                status,
                [(header::CONTENT_TYPE, "application/json")],
                format!(
                    r#"{{"message":"injected fault: {}","Message":"injected fault","Code":{}}}"#,
                    status.as_u16(),
                    status.as_u16() * 10
                ),
            )
                .into_response();
            if let Some(after) = retry_after {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_str(&after.to_string()).expect("digits"),
                );
            }
            Some(response)
        }
        Fault::Slow { delay_ms } => {
            tokio::time::sleep(Duration::from_millis(*delay_ms)).await;
            None
        }
        _ => None,
    }
}

/// The answer a fault makes of the operation's own answer.
pub(crate) fn after(fault: Option<&Fault>, response: Response) -> Response {
    match fault {
        Some(Fault::AfterCommit { status }) => (
            StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "<html>injected fault after commit</html>",
        )
            .into_response(),
        Some(Fault::Garbage) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{\"id\": <garbage",
        )
            .into_response(),
        Some(Fault::Reset) => cut(response),
        Some(Fault::Restatus { status }) => {
            let (mut parts, body) = response.into_parts();
            parts.status = StatusCode::from_u16(*status).unwrap_or(parts.status);
            Response::from_parts(parts, body)
        }
        Some(Fault::RenameField { from, to }) => {
            let (from, to) = (from.clone(), to.clone());
            rewrite(response, move |v| rename(v, &from, &to))
        }
        Some(Fault::ReplaceValue { from, to }) => {
            let (from, to) = (from.clone(), to.clone());
            rewrite(response, move |v| replace(v, &from, &to))
        }
        _ => response,
    }
}

fn rename(value: &mut serde_json::Value, from: &str, to: &str) {
    match value {
        serde_json::Value::Object(o) => {
            if let Some(v) = o.remove(from) {
                o.insert(to.to_owned(), v);
            }
            o.values_mut().for_each(|v| rename(v, from, to));
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|v| rename(v, from, to)),
        _ => {}
    }
}

fn replace(value: &mut serde_json::Value, from: &str, to: &str) {
    match value {
        serde_json::Value::String(s) if s == from => *s = to.to_owned(),
        serde_json::Value::Object(o) => o.values_mut().for_each(|v| replace(v, from, to)),
        serde_json::Value::Array(a) => a.iter_mut().for_each(|v| replace(v, from, to)),
        _ => {}
    }
}

/// The response with its JSON body passed through `edit` (a body that is not JSON unchanged).
fn rewrite(
    response: Response,
    edit: impl FnOnce(&mut serde_json::Value) + Send + 'static,
) -> Response {
    let (mut parts, body) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    let stream = futures_util::stream::once(async move {
        let bytes = axum::body::to_bytes(body, 64 << 20)
            .await
            .unwrap_or_default();
        Ok::<_, std::io::Error>(match serde_json::from_slice(&bytes) {
            Ok(mut json) => {
                edit(&mut json);
                Bytes::from(serde_json::to_vec(&json).unwrap_or_default())
            }
            Err(_) => bytes,
        })
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

/// The response with its headers and half its body, then a broken connection.
fn cut(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let stream = async_stream(body);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from_stream(stream))
}

fn async_stream(
    body: Body,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    futures_util::stream::once(async move {
        let bytes = axum::body::to_bytes(body, 64 << 20)
            .await
            .unwrap_or_default();
        Ok::<_, std::io::Error>(bytes.slice(..bytes.len() / 2))
    })
    .chain(futures_util::stream::once(async {
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected reset",
        ))
    }))
}

use futures_util::StreamExt as _;
