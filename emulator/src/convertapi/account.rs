//! Account and metadata (`../shared/reference/convertapi.md` §6): `/info/canconvert` and `/user`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde_json::json;

use super::api::{authorize, error, json_status, S};

pub(super) async fn can_convert(
    State(shared): S,
    Path((from, to)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    shared.count("ca.info");
    if let Err(r) = authorize(&shared, "ca.info", &uri, &headers) {
        return r;
    }
    if shared
        .engine
        .supports(&from.to_ascii_lowercase(), &to.to_ascii_lowercase())
    {
        json_status(
            StatusCode::OK,
            json!({"SourceFormat": from, "DestinationFormat": to}),
        )
    } else {
        error(StatusCode::NOT_FOUND, 4040, "No such conversion.")
    }
}

/// `GET /user` takes only the secret (no token), in the header.
pub(super) async fn user(State(shared): S, uri: Uri, headers: HeaderMap) -> Response {
    shared.count("ca.user");
    if let Err(r) = authorize(&shared, "ca.user", &uri, &headers) {
        return r;
    }
    let consumed = shared
        .lock()
        .counters
        .iter()
        .filter(|(k, _)| *k == "ca.submit" || *k == "ca.convert")
        .map(|(_, v)| *v)
        .sum::<u64>();
    json_status(
        StatusCode::OK,
        json!({"ApiKey": 1, "Active": true, "FullName": "multiconvert emulator", "Email": "emulator@localhost",
               "ConversionsTotal": 1_000_000, "ConversionsConsumed": consumed, "Status": "Active"}),
    )
}
