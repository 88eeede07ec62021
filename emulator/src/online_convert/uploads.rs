//! The per-job upload server (`../shared/reference/online-convert.md` §5): `upload-file`
//! (multipart) and `upload-base64`, authorised by the job token or the account key.

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value};

use super::api::{api_key, error, job_token, json_status, parse_body, S};
use super::edits::{edit, set_status, staged_only, staged_status, with_job};
use super::inputs::decode_base64;
use super::objects::input_json;
use super::records::OcInput;
use crate::faults::{self};
use crate::state::{now, uuid, Shared};

/// The upload server takes the job token and never the account key.
fn upload_auth(shared: &Shared, op: &str, id: &str, headers: &HeaderMap) -> Result<(), Response> {
    if api_key(headers).is_some() {
        shared.violation(
            op,
            "account_key_on_upload_host",
            "the account API key was sent to the job's upload server",
        );
        return Err(error(
            StatusCode::UNAUTHORIZED,
            401,
            "The upload server takes the job token, never the account key",
        ));
    }
    let token = with_job(shared, id, |job| job.token.clone())?;
    match job_token(headers) {
        Some(t) if t == token => Ok(()),
        _ => Err(error(
            StatusCode::UNAUTHORIZED,
            401,
            "The job token is missing or wrong",
        )),
    }
}

fn add_uploaded(
    shared: &Shared,
    op: &str,
    id: &str,
    headers: &HeaderMap,
    files: Vec<(String, Bytes)>,
) -> Response {
    if let Err(r) = upload_auth(shared, op, id, headers) {
        return r;
    }
    let outcome = edit(shared, id, |job| {
        staged_only(job)?;
        let added: Vec<Value> = files
            .into_iter()
            .map(|(filename, bytes)| {
                let input = OcInput {
                    id: uuid(),
                    kind: "upload".into(),
                    source: filename.clone(),
                    status: "ready".into(),
                    filename,
                    bytes: Some(bytes),
                    options: Map::new(),
                    created_at: now(),
                };
                let rendered = input_json(&input);
                job.inputs.push(input);
                rendered
            })
            .collect();
        let status = staged_status(job);
        set_status(job, status);
        Ok(added)
    });
    match outcome {
        Ok(mut added) if added.len() == 1 => json_status(StatusCode::CREATED, added.remove(0)),
        Ok(added) => json_status(StatusCode::CREATED, Value::Array(added)),
        Err(r) => r,
    }
}

pub(super) async fn upload_file(
    State(shared): S,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    let op = "oc.upload";
    let fault = shared.enter(op);
    if let Some(r) = faults::before(fault.as_ref(), "oc").await {
        faults::drain(request.into_body()).await;
        return r;
    }
    let headers = request.headers().clone();
    let Ok(mut multipart) = Multipart::from_request(request, &()).await else {
        return error(
            StatusCode::BAD_REQUEST,
            3,
            "The upload must be multipart/form-data",
        );
    };
    let mut file = None;
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) if field.name() == Some("file") => {
                let name = field.file_name().unwrap_or("file").to_owned();
                match field.bytes().await {
                    Ok(bytes) => file = Some((name, bytes)),
                    Err(_) => {
                        return error(StatusCode::BAD_REQUEST, 3, "The upload body broke off")
                    }
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    3,
                    "The multipart body is malformed",
                )
            }
        }
    }
    let Some(file) = file else {
        return error(StatusCode::BAD_REQUEST, 3, "The upload has no `file` part");
    };
    let response = add_uploaded(&shared, op, &id, &headers, vec![file]);
    faults::after(fault.as_ref(), response)
}

pub(super) async fn upload_base64(
    State(shared): S,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let op = "oc.upload";
    let fault = shared.enter(op);
    if let Some(r) = faults::before(fault.as_ref(), "oc").await {
        return r;
    }
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let items: Vec<Value> = match body {
        Value::Array(items) => items,
        one => vec![one],
    };
    let mut files = Vec::new();
    for item in &items {
        let Some(bytes) = item["content"].as_str().and_then(decode_base64) else {
            return error(StatusCode::BAD_REQUEST, 3, "The content is not base64");
        };
        files.push((
            item["filename"].as_str().unwrap_or("output").to_owned(),
            bytes,
        ));
    }
    let response = add_uploaded(&shared, op, &id, &headers, files);
    faults::after(fault.as_ref(), response)
}
