//! `/statuses` and `/conversions` (`../shared/reference/online-convert.md` §3, §6): the status
//! codes and the catalog of conversions with their options.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::api::{control, Json, S};
use super::conversions::category_of;
use super::objects::info;
use crate::query;

pub(super) async fn statuses(State(shared): S, uri: Uri, headers: HeaderMap) -> Response {
    control!(shared, "oc.list", uri, headers);
    let codes = [
        "incomplete",
        "ready",
        "downloading",
        "queued",
        "processing",
        "completed",
        "failed",
        "canceled",
    ];
    Json(Value::Array(
        codes
            .iter()
            .map(|c| json!({"code": c, "info": info(c)}))
            .collect(),
    ))
    .into_response()
}

pub(super) async fn catalog(State(shared): S, uri: Uri, headers: HeaderMap) -> Response {
    control!(shared, "oc.list", uri, headers);
    let params = query(&uri);
    let wanted = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let page: usize = wanted("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    if page > 1 {
        return StatusCode::NO_CONTENT.into_response();
    }
    let entries: Vec<Value> = shared
        .engine
        .targets()
        .into_iter()
        .filter(|t| wanted("target").is_none_or(|w| &w == t))
        .filter(|t| wanted("category").is_none_or(|c| c == category_of(t)))
        .map(|t| {
            let category = category_of(&t);
            let mut options = json!({});
            if category == "image" {
                options = json!({
                    "width": {"type": "integer", "minimum": 1, "maximum": 16384},
                    "height": {"type": "integer", "minimum": 1, "maximum": 16384},
                });
            }
            if t == "jpg" {
                options["quality"] =
                    json!({"type": "integer", "minimum": 1, "maximum": 100, "default": 85});
            }
            json!({"id": format!("{category}-{t}"), "target": t, "category": category, "options": options})
        })
        .collect();
    Json(Value::Array(entries)).into_response()
}
