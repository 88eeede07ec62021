//! ConvertAPI v2, as `../shared/reference/convertapi.md` describes it: raw uploads, the sync
//! convert (semi-async with a client UUID JobId), both async routes with their own JobId
//! formats, polls answering 200/202/404/503/5xx, both WebHook shapes, stored results under `/d/`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::faults::{self, Fault};
use crate::state::{simple_id, CaFile, CaJob, CaRoute, CaState, Shared};
use crate::{query, MAX_BODY};

type S = State<Arc<Shared>>;

/// The routes, at the root of the ConvertAPI base URL.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/upload", post(upload))
        .route("/convert/{from}/to/{to}", post(convert_legacy))
        .route("/async/convert/{from}/to/{to}", post(convert_current))
        .route("/job/{id}", get(poll_legacy).delete(delete_legacy))
        .route("/async/job/{id}", get(poll_current).delete(delete_current))
        .route("/d/{id}", get(download).delete(delete_file))
        .route("/d/{id}/{name}", get(download_named))
        .route("/info/canconvert/{from}/to/{to}", get(can_convert))
        .route("/user", get(user))
        .fallback(|| async { error(StatusCode::NOT_FOUND, 4040, "Not found") })
        .with_state(shared)
}

fn json_status(status: StatusCode, value: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

/// The vendor's error body: `{"Code", "Message"}`.
fn error(status: StatusCode, code: u32, message: &str) -> Response {
    json_status(status, json!({"Code": code, "Message": message}))
}

fn invalid_parameter(name: &str, problem: &str) -> Response {
    json_status(
        StatusCode::BAD_REQUEST,
        json!({"Code": 4000, "Message": "Parameter validation error.",
               "InvalidParameters": {name: [problem]}}),
    )
}

const QUERY_SECRETS: &[&str] = &["secret", "token", "auth", "apikey"];

/// Bearer (the current form) or a query secret (the legacy one, accepted but counted: a secret
/// in a URL ends up in logs).
fn authorize(shared: &Shared, op: &str, uri: &Uri, headers: &HeaderMap) -> Result<(), Response> {
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

fn is_current_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn is_uuid(id: &str) -> bool {
    id.len() == 36 && uuid::Uuid::try_parse(id).is_ok()
}

fn base(shared: &Shared) -> &str {
    shared.ca_base.get().map_or("", String::as_str)
}

fn extension(name: &str) -> String {
    name.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default()
}

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

async fn upload(State(shared): S, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
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
async fn convert_legacy(
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
async fn convert_current(
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

/// The WebHook: legacy `GET <url>?JobId=`, current `POST <url>` `{"JobId"}`; unsigned.
async fn call_back(shared: &Shared, url: &str, job: &str, route: CaRoute) {
    let fault = shared.enter("ca.webhook");
    if let Some(Fault::Slow { delay_ms }) = fault {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    }
    let send = |id: String| async move {
        let request = match route {
            CaRoute::Legacy => {
                let sep = if url.contains('?') { '&' } else { '?' };
                shared.http.get(format!("{url}{sep}JobId={id}"))
            }
            CaRoute::Current => shared
                .http
                .post(url)
                .header(header::CONTENT_TYPE, "application/json")
                .body(json!({"JobId": id}).to_string()),
        };
        let _ = request.timeout(Duration::from_secs(10)).send().await;
    };
    send(job.to_owned()).await;
    match fault {
        Some(Fault::Duplicate) => send(job.to_owned()).await,
        Some(Fault::Forged) => {
            let forged = match route {
                CaRoute::Current => simple_id(),
                CaRoute::Legacy => uuid::Uuid::new_v4().to_string(),
            };
            send(forged).await;
        }
        _ => {}
    }
}

async fn poll_legacy(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    poll(shared, id, CaRoute::Legacy, uri, headers).await
}

async fn poll_current(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    poll(shared, id, CaRoute::Current, uri, headers).await
}

/// Clears a job's in-flight poll mark when the poll ends, however it ends.
struct PollGuard<'a> {
    shared: &'a Shared,
    id: String,
}

impl Drop for PollGuard<'_> {
    fn drop(&mut self) {
        if let Some(job) = self.shared.lock().ca_jobs.get_mut(&self.id) {
            job.polling = false;
        }
    }
}

async fn poll(
    shared: Arc<Shared>,
    id: String,
    route: CaRoute,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let op = "ca.poll";
    let fault = shared.enter(op);
    if let Err(r) = authorize(&shared, op, &uri, &headers) {
        return r;
    }
    shared.polled(&id);
    if fault == Some(Fault::Busy) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let state = {
        let mut inner = shared.lock();
        match inner.ca_jobs.get_mut(&id) {
            None => None,
            Some(job) if job.route != route => Some(Err(job.route)),
            Some(job) if job.polling => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
            Some(job) => {
                job.polling = true;
                Some(Ok(job.state.clone()))
            }
        }
    };
    let state = match state {
        None => {
            return error(
                StatusCode::NOT_FOUND,
                4040,
                "The job does not exist or expired.",
            )
        }
        Some(Err(lives_on)) => {
            shared.violation(
                op,
                "wrong_route",
                format!("job {id} lives on the {lives_on:?} route"),
            );
            return error(
                StatusCode::NOT_FOUND,
                4040,
                "The job does not exist or expired.",
            );
        }
        Some(Ok(state)) => state,
    };
    let _guard = PollGuard {
        shared: &shared,
        id,
    };
    if let Some(r) = faults::before(fault.as_ref(), "ca").await {
        return r;
    }
    let response = match state {
        CaState::Running => StatusCode::ACCEPTED.into_response(),
        CaState::Done(result) => json_status(StatusCode::OK, result),
        CaState::Failed(status, body) => json_status(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body,
        ),
    };
    faults::after(fault.as_ref(), response)
}

async fn delete_legacy(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    delete_job(shared, id, CaRoute::Legacy, uri, headers).await
}

async fn delete_current(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    delete_job(shared, id, CaRoute::Current, uri, headers).await
}

async fn delete_job(
    shared: Arc<Shared>,
    id: String,
    route: CaRoute,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let op = "ca.delete";
    let fault = shared.enter(op);
    if let Some(r) = faults::before(fault.as_ref(), "ca").await {
        return r;
    }
    if let Err(r) = authorize(&shared, op, &uri, &headers) {
        return r;
    }
    let removed = {
        let mut inner = shared.lock();
        match inner.ca_jobs.get(&id) {
            Some(job) if job.route == route => inner.ca_jobs.remove(&id).is_some(),
            Some(_) => {
                drop(inner);
                shared.violation(
                    op,
                    "wrong_route",
                    format!("job {id} lives on the other route"),
                );
                false
            }
            None => false,
        }
    };
    let response = if removed {
        StatusCode::OK.into_response()
    } else {
        error(
            StatusCode::NOT_FOUND,
            4040,
            "The job does not exist or was deleted.",
        )
    };
    faults::after(fault.as_ref(), response)
}

async fn download(State(shared): S, Path(id): Path<String>) -> Response {
    serve_file(shared, id).await
}

async fn download_named(State(shared): S, Path((id, _name)): Path<(String, String)>) -> Response {
    serve_file(shared, id).await
}

async fn serve_file(shared: Arc<Shared>, id: String) -> Response {
    let op = "ca.download";
    let fault = shared.enter(op);
    if let Some(r) = faults::before(fault.as_ref(), "ca").await {
        return r;
    }
    let file = shared.lock().ca_files.get(&id).cloned();
    let response = match file {
        Some(file) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!(
                        "attachment; filename=\"{}\"",
                        file.name.replace(['"', '\r', '\n'], "_")
                    ),
                ),
            ],
            file.bytes,
        )
            .into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            4040,
            "The file does not exist or expired.",
        ),
    };
    faults::after(fault.as_ref(), response)
}

async fn delete_file(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let op = "ca.delete";
    let fault = shared.enter(op);
    if let Some(r) = faults::before(fault.as_ref(), "ca").await {
        return r;
    }
    if let Err(r) = authorize(&shared, op, &uri, &headers) {
        return r;
    }
    let removed = shared.lock().ca_files.remove(&id).is_some();
    let response = if removed {
        StatusCode::OK.into_response()
    } else {
        error(
            StatusCode::NOT_FOUND,
            4040,
            "The file does not exist or expired.",
        )
    };
    faults::after(fault.as_ref(), response)
}

async fn can_convert(
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
async fn user(State(shared): S, uri: Uri, headers: HeaderMap) -> Response {
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
