//! `POST /convert/{from}/to/{to}` (`../shared/reference/convertapi.md` §3, §7): parameters from a
//! form, JSON or query; the conversion itself; sync, semi-async (a client UUID `JobId`) and async
//! submits on both routes (`?Async=true` and `/async/`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use serde_json::{json, Value};

use super::api::{
    authorize, base, error, extension, invalid_parameter, is_current_id, is_uuid, json_status, S,
};
use super::callbacks::call_back;
use super::records::{CaFile, CaJob, CaRoute, CaState};
use crate::faults::{self, Fault};
use crate::state::{simple_id, Shared};
use crate::{query, MAX_BODY};

/// A convert request's parameters and inline files, from the query, a url-encoded form or a
/// multipart form.
struct Params {
    fields: Vec<(String, String)>,
    files: Vec<(String, String, Bytes)>,
}

impl Params {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

async fn params(shared: &Arc<Shared>, request: Request) -> Result<Params, Response> {
    let mut fields = query(request.uri());
    let mut files = Vec::new();
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        let mut multipart = Multipart::from_request(request, shared)
            .await
            .map_err(|_| {
                error(
                    StatusCode::BAD_REQUEST,
                    4002,
                    "The multipart body is malformed.",
                )
            })?;
        while let Some(field) = multipart.next_field().await.map_err(|_| {
            error(
                StatusCode::BAD_REQUEST,
                4002,
                "The multipart body is malformed.",
            )
        })? {
            let name = field.name().unwrap_or_default().to_owned();
            let filename = field.file_name().map(str::to_owned);
            let bytes = field.bytes().await.map_err(|_| {
                error(
                    StatusCode::BAD_REQUEST,
                    4002,
                    "The multipart body broke off.",
                )
            })?;
            match filename {
                Some(filename) => files.push((name, filename, bytes)),
                None => fields.push((name, String::from_utf8_lossy(&bytes).into_owned())),
            }
        }
    } else {
        let body = axum::body::to_bytes(request.into_body(), MAX_BODY)
            .await
            .map_err(|_| {
                error(
                    StatusCode::BAD_REQUEST,
                    4002,
                    "The body is too large or broke off.",
                )
            })?;
        fields.extend(url::form_urlencoded::parse(&body).into_owned());
    }
    Ok(Params { fields, files })
}

/// One input of a convert request: its name and bytes.
async fn input(shared: &Shared, value: &str) -> Result<(String, Bytes), Response> {
    if value.starts_with("http://") || value.starts_with("https://") {
        let fetched = async {
            let response = shared.http.get(value).send().await.ok()?;
            if !response.status().is_success() {
                return None;
            }
            response.bytes().await.ok().filter(|b| b.len() <= MAX_BODY)
        }
        .await;
        let name = url::Url::parse(value)
            .ok()
            .and_then(|u| {
                u.path_segments()
                    .and_then(|mut s| s.next_back().map(str::to_owned))
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "file".into());
        return fetched.map(|bytes| (name, bytes)).ok_or_else(|| {
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                5008,
                "Unable to access the file.",
            )
        });
    }
    match shared.lock().ca_files.get(value) {
        Some(file) => Ok((file.name.clone(), file.bytes.clone())),
        None => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            5009,
            "The FileId is not valid.",
        )),
    }
}

/// Runs a conversion to completion: the result body, or the vendor's failure (status, body).
async fn run(
    shared: &Arc<Shared>,
    from: &str,
    to: &str,
    params: &Params,
    hostile: bool,
) -> Result<Value, (StatusCode, Value)> {
    // Conversions run, whatever asked for them: a duplicate job shows here.
    shared.count("ca.conversions");
    let failure = |r: Response| async move {
        let status = r.status();
        let body = axum::body::to_bytes(r.into_body(), 1 << 16)
            .await
            .unwrap_or_default();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    };
    let (name, bytes) = if let Some((_, name, bytes)) = params
        .files
        .iter()
        .find(|(field, _, _)| field.eq_ignore_ascii_case("file") || field.starts_with("Files["))
    {
        (name.clone(), bytes.clone())
    } else {
        let value = params
            .get("File")
            .or_else(|| params.get("Files[0]"))
            .or_else(|| params.get("Url"));
        let Some(value) = value else {
            return Err(failure(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                50010,
                "Neither Url nor FileId is set.",
            ))
            .await);
        };
        match input(shared, value).await {
            Ok(input) => input,
            Err(r) => return Err(failure(r).await),
        }
    };
    let source_ext = extension(&name);
    if from != "*"
        && from != "any"
        && from != "web"
        && !source_ext.is_empty()
        && source_ext != from
        && !(from == "jpg" && source_ext == "jpeg")
    {
        return Err(failure(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            4150,
            "The file type is not supported by this converter.",
        ))
        .await);
    }
    tokio::time::sleep(shared.config.work).await;
    let store = !params
        .get("StoreFile")
        .is_some_and(|v| v.eq_ignore_ascii_case("false"));
    let options: serde_json::Map<String, Value> = params
        .fields
        .iter()
        .filter_map(|(k, v)| match k.to_ascii_lowercase().as_str() {
            "quality" | "width" | "height" => {
                Some((k.to_ascii_lowercase(), Value::String(v.clone())))
            }
            _ => None,
        })
        .collect();
    let filename = if source_ext.is_empty() {
        format!("{name}.{from}")
    } else {
        name
    };
    let produced = shared
        .engine
        .convert(bytes, &filename, to, &options)
        .await
        .map_err(|refusal| {
            let (status, code) = match refusal {
                crate::engine::Refusal::Unsupported(_) => {
                    (StatusCode::UNSUPPORTED_MEDIA_TYPE, 4150)
                }
                // The vendor's input-caused codes: 5002 damaged, 5003 password-protected.
                crate::engine::Refusal::Input(_) => (StatusCode::INTERNAL_SERVER_ERROR, 5002),
                crate::engine::Refusal::Protected(_) => (StatusCode::INTERNAL_SERVER_ERROR, 5003),
            };
            (status, json!({"Code": code, "Message": refusal.message()}))
        })?;
    let mut files = Vec::new();
    for file in produced {
        let name = if hostile {
            format!("../../evil.{to}")
        } else {
            params
                .get("FileName")
                .map(|n| format!("{n}.{to}"))
                .unwrap_or(file.filename)
        };
        let mut entry = json!({"FileName": name, "FileExt": to, "FileSize": file.bytes.len()});
        if store {
            let id = simple_id();
            let encoded: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
            entry["FileId"] = json!(id);
            entry["Url"] = json!(format!("{}/d/{}/{}", base(shared), id, encoded));
            shared.lock().ca_files.insert(
                id.clone(),
                CaFile {
                    id,
                    name,
                    bytes: file.bytes,
                },
            );
        } else {
            entry["FileData"] =
                json!(base64::engine::general_purpose::STANDARD.encode(&file.bytes));
        }
        files.push(entry);
    }
    Ok(json!({"ConversionCost": 1, "Files": files}))
}

fn check_common(params: &Params) -> Result<(), Response> {
    if let Some(timeout) = params.get("Timeout") {
        match timeout.parse::<u64>() {
            Ok(t) if (10..=1200).contains(&t) => {}
            _ => {
                return Err(invalid_parameter(
                    "Timeout",
                    "The field Timeout must be between 10 and 1200.",
                ))
            }
        }
    }
    Ok(())
}

/// `POST /convert/{from}/to/{to}`: synchronous (semi-async when it carries a UUID JobId), or the
/// legacy async submit with `?Async=true`.
pub(super) async fn convert_legacy(
    State(shared): S,
    Path((from, to)): Path<(String, String)>,
    request: Request,
) -> Response {
    let asynchronous = query(request.uri())
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("async") && v.eq_ignore_ascii_case("true"));
    let op = if asynchronous {
        "ca.submit"
    } else {
        "ca.convert"
    };
    submit(shared, op, from, to, CaRoute::Legacy, asynchronous, request).await
}

/// `POST /async/convert/{from}/to/{to}`: the current async submit.
pub(super) async fn convert_current(
    State(shared): S,
    Path((from, to)): Path<(String, String)>,
    request: Request,
) -> Response {
    submit(
        shared,
        "ca.submit",
        from,
        to,
        CaRoute::Current,
        true,
        request,
    )
    .await
}

async fn submit(
    shared: Arc<Shared>,
    op: &'static str,
    from: String,
    to: String,
    route: CaRoute,
    asynchronous: bool,
    request: Request,
) -> Response {
    let fault = shared.enter(op);
    if let Some(r) = faults::before(fault.as_ref(), "ca").await {
        faults::drain(request.into_body()).await;
        return r;
    }
    if let Err(r) = authorize(&shared, op, request.uri(), request.headers()) {
        return r;
    }
    let (from, to) = (from.to_ascii_lowercase(), to.to_ascii_lowercase());
    if !shared
        .engine
        .supports(if from == "*" { "png" } else { &from }, &to)
    {
        return error(
            StatusCode::NOT_FOUND,
            4040,
            &format!("No converter from {from} to {to}."),
        );
    }
    let params = match params(&shared, request).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Err(r) = check_common(&params) {
        return r;
    }
    let job_id = params.get("JobId").map(str::to_owned);
    let id_ok = |id: &str| match route {
        CaRoute::Current => is_current_id(id),
        CaRoute::Legacy => is_uuid(id),
    };
    if let Some(id) = job_id.as_deref().filter(|id| !id_ok(id)) {
        shared.violation(
            op,
            "job_id_format",
            format!("JobId {id:?} does not have this route's format"),
        );
        let wanted = match route {
            CaRoute::Current => "32 lowercase letters and digits",
            CaRoute::Legacy => "an RFC 4122 UUID",
        };
        return invalid_parameter("JobId", &format!("The JobId must be {wanted}."));
    }
    if job_id
        .as_ref()
        .is_some_and(|id| shared.lock().ca_jobs.contains_key(id))
    {
        return invalid_parameter("JobId", "A job with this JobId exists already.");
    }
    let hostile = fault == Some(Fault::HostileFilename) || shared.result_fault(op).is_some();
    if !asynchronous {
        let outcome = run(&shared, &from, &to, &params, hostile).await;
        // Semi-async: the result is kept under the client's JobId for a poll to fetch.
        if let Some(id) = job_id {
            let state = match &outcome {
                Ok(result) => CaState::Done(result.clone()),
                Err((status, body)) => CaState::Failed(status.as_u16(), body.clone()),
            };
            let mut inner = shared.lock();
            inner.finished(&id);
            inner.ca_jobs.insert(
                id,
                CaJob {
                    route: CaRoute::Legacy,
                    state,
                    polling: false,
                },
            );
        }
        let response = match outcome {
            Ok(result) => json_status(StatusCode::OK, result),
            Err((status, body)) => json_status(status, body),
        };
        return faults::after(fault.as_ref(), response);
    }
    let id = job_id.unwrap_or_else(|| match route {
        CaRoute::Current => simple_id(),
        CaRoute::Legacy => uuid::Uuid::new_v4().to_string(),
    });
    shared.lock().ca_jobs.insert(
        id.clone(),
        CaJob {
            route,
            state: CaState::Running,
            polling: false,
        },
    );
    let webhook = params.get("WebHook").map(str::to_owned);
    let worker = shared.clone();
    let job = id.clone();
    tokio::spawn(async move {
        let outcome = run(&worker, &from, &to, &params, hostile).await;
        {
            let mut inner = worker.lock();
            let Some(entry) = inner.ca_jobs.get_mut(&job) else {
                return;
            };
            entry.state = match outcome {
                Ok(result) => CaState::Done(result),
                Err((status, body)) => CaState::Failed(status.as_u16(), body),
            };
            inner.finished(&job);
        }
        if let Some(url) = webhook {
            call_back(&worker, &url, &job, route).await;
        }
    });
    faults::after(
        fault.as_ref(),
        json_status(StatusCode::OK, json!({"JobId": id})),
    )
}
