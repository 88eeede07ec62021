//! `/users/me` (`../shared/reference/cloudconvert.md` §1): the account behind the key, with its
//! credits.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde_json::json;

use super::common::{authorize, json_status, S};

pub(super) async fn me(State(shared): S, uri: Uri, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&shared, "cc.user", &uri, &headers) {
        return r;
    }
    json_status(
        StatusCode::OK,
        json!({"data": {"id": 1, "username": "emulator", "email": "emulator@localhost", "credits": 1000,
                        "created_at": "2020-12-17T05:33:52+00:00"}}),
    )
}
