//! `POST /upload` (`../shared/reference/convertapi.md` §5): a raw or multipart body stored as a
//! file id for later conversions.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde_json::json;

use super::api::{authorize, base, error, extension, json_status, S};
use super::records::CaFile;
use crate::faults::{self};
use crate::query;
use crate::state::simple_id;

/// The file name of a raw upload: `filename*=UTF-8''…`, else `filename="…"`, else `?filename=`.
fn upload_name(uri: &Uri, headers: &HeaderMap) -> Option<String> {
    let disposition = headers
        .get(header::CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut plain = None;
    for part in disposition.split(';').map(str::trim) {
        if let Some(encoded) = part.strip_prefix("filename*=") {
            let encoded = encoded.split_once("''").map_or(encoded, |(_, rest)| rest);
            let decoded: String = url::form_urlencoded::parse(format!("n={encoded}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            if !decoded.is_empty() {
                return Some(decoded);
            }
        } else if let Some(name) = part.strip_prefix("filename=") {
            plain = Some(name.trim_matches('"').to_owned());
        }
    }
    plain.filter(|n| !n.is_empty()).or_else(|| {
        query(uri)
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("filename"))
            .map(|(_, v)| v)
    })
}

pub(super) async fn upload(
    State(shared): S,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let op = "ca.upload";
    let fault = shared.enter(op);
    if let Some(r) = faults::before(fault.as_ref(), "ca").await {
        return r;
    }
    if let Err(r) = authorize(&shared, op, &uri, &headers) {
        return r;
    }
    let Some(name) = upload_name(&uri, &headers) else {
        return error(
            StatusCode::BAD_REQUEST,
            4001,
            "Content-Disposition header with a file name is required.",
        );
    };
    let file = CaFile {
        id: simple_id(),
        name: name.clone(),
        bytes: body,
    };
    let reply = json!({"FileId": file.id, "FileName": name, "FileExt": extension(&name),
        "FileSize": file.bytes.len(), "Url": format!("{}/d/{}", base(&shared), file.id)});
    shared.lock().ca_files.insert(file.id.clone(), file);
    faults::after(fault.as_ref(), json_status(StatusCode::OK, reply))
}
