//! The online-convert / api2convert v2 job API, as `../shared/reference/online-convert.md`
//! describes it: control plane under `/v2` with the account key, a per-job upload server with the
//! job token, downloads without credentials, callbacks with an optional `X-Oc-Signature`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use serde_json::{json, Map, Value};
use sha2::Sha256;

use crate::faults::{self, Fault};
use crate::query;
use crate::state::{fetch, now, uuid, OcConversion, OcInput, OcJob, OcOutput, Shared};

/// The job server's path below the base: uploads and downloads live there.
const SERVER: &str = "dl/web1";

/// Jobs per page of `GET /jobs`.
const PAGE: usize = 50;

type S = State<Arc<Shared>>;

/// The routes, relative to the base (`/v2`).
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/jobs", post(create).get(list))
        .route("/jobs/{id}", get(read).patch(update).delete(delete))
        .route(
            "/jobs/{id}/input",
            get(inputs).post(add_input).patch(reorder),
        )
        .route(
            "/jobs/{id}/input/{fid}",
            get(one_input).patch(patch_input).delete(delete_input),
        )
        .route(
            "/jobs/{id}/conversions",
            get(conversions).post(add_conversion),
        )
        .route(
            "/jobs/{id}/conversions/{cid}",
            get(one_conversion)
                .patch(patch_conversion)
                .delete(delete_conversion),
        )
        .route("/jobs/{id}/output", get(outputs).patch(patch_outputs))
        .route(
            "/jobs/{id}/output/{oid}",
            get(one_output).patch(patch_output),
        )
        .route("/jobs/{id}/history", get(history))
        .route("/statuses", get(statuses))
        .route("/conversions", get(catalog))
        .route(&format!("/{SERVER}/upload-file/{{id}}"), post(upload_file))
        .route(
            &format!("/{SERVER}/upload-base64/{{id}}"),
            post(upload_base64),
        )
        .route(
            &format!("/{SERVER}/download-file/{{oid}}/{{name}}"),
            get(download),
        )
        .route(
            "/schema",
            get(|| async { Json(json!({"openapi": "3.0.0"})) }),
        )
        .fallback(|| async { error(StatusCode::NOT_FOUND, 404, "Not found") })
        .with_state(shared)
}

struct Json(Value);

impl IntoResponse for Json {
    fn into_response(self) -> Response {
        (
            [(header::CONTENT_TYPE, "application/json")],
            self.0.to_string(),
        )
            .into_response()
    }
}

fn json_status(status: StatusCode, value: Value) -> Response {
    (status, Json(value)).into_response()
}

/// The vendor's error body: `{"code", "message"}`.
fn error(status: StatusCode, code: u32, message: &str) -> Response {
    json_status(status, json!({"code": code, "message": message}))
}

fn api_key(headers: &HeaderMap) -> Option<&str> {
    ["x-oc-api-key", "x-api2convert-api-key"]
        .iter()
        .find_map(|name| headers.get(*name))
        .and_then(|v| v.to_str().ok())
}

fn job_token(headers: &HeaderMap) -> Option<&str> {
    ["x-oc-token", "x-api2convert-token"]
        .iter()
        .find_map(|name| headers.get(*name))
        .and_then(|v| v.to_str().ok())
}

/// The control plane takes the account key (either header family), never in the query.
fn authorize(shared: &Shared, op: &str, uri: &Uri, headers: &HeaderMap) -> Result<(), Response> {
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

fn server(shared: &Shared) -> String {
    format!(
        "{}/{SERVER}",
        shared.oc_base.get().map_or("", String::as_str)
    )
}

fn input_json(input: &OcInput) -> Value {
    let mut json = json!({
        "id": input.id, "type": input.kind, "source": input.source, "status": input.status,
        "engine": "auto", "filename": input.filename,
        "size": input.bytes.as_ref().map_or(0, |b| b.len()),
        "options": input.options, "parameters": {}, "metadata": {},
        "created_at": input.created_at, "modified_at": input.created_at,
    });
    // An uploaded input carries the type the upload declared (reference §5's upload reply).
    if input.kind == "upload" {
        json["content_type"] = json!(content_type_of(&input.filename));
    }
    json
}

/// The media type of a file name, as the vendor reports it for uploads.
fn content_type_of(filename: &str) -> &'static str {
    let ext = filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("pdf") => "application/pdf",
        Some("docx") => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        _ => "application/octet-stream",
    }
}

fn conversion_json(c: &OcConversion) -> Value {
    let targets: Vec<Value> = c
        .output_target
        .iter()
        .map(|t| {
            // Credentials are write-only: they come back empty.
            let mut t = t.clone();
            if let Some(obj) = t.as_object_mut() {
                obj.insert("credentials".into(), json!({}));
            }
            t
        })
        .collect();
    json!({"id": c.id, "target": c.target, "category": c.category, "options": c.options,
           "metadata": c.metadata, "output_target": targets})
}

fn output_json(shared: &Shared, o: &OcOutput) -> Value {
    let name: String = url::form_urlencoded::byte_serialize(o.filename.as_bytes()).collect();
    json!({
        "id": o.id, "source": {"conversion": o.conversion, "input": [o.input]},
        "uri": format!("{}/download-file/{}/{}", server(shared), o.id, name),
        "filename": o.filename, "size": o.bytes.len(), "status": "enabled",
        "content_type": o.content_type, "downloads_counter": o.downloads,
        "checksum": hex::encode(Md5::digest(&o.bytes)), "created_at": o.created_at,
    })
}

fn job_json(shared: &Shared, job: &OcJob) -> Value {
    json!({
        "id": job.id, "token": job.token, "type": "job",
        "status": {"code": job.status, "info": job.info},
        "errors": job.errors, "warnings": job.warnings, "process": job.process,
        "fail_on_input_error": job.fail_on_input_error,
        "fail_on_conversion_error": job.fail_on_conversion_error,
        "conversion": job.conversions.iter().map(conversion_json).collect::<Vec<_>>(),
        "input": job.inputs.iter().map(input_json).collect::<Vec<_>>(),
        "output": job.outputs.iter().map(|o| output_json(shared, o)).collect::<Vec<_>>(),
        "callback": job.callback, "notify_status": job.notify_status,
        "server": server(shared), "spent": job.outputs.len(),
        "limits": {"job": 0, "input": 0, "output": 0},
        "created_at": job.created_at, "modified_at": job.modified_at,
    })
}

fn info(status: &str) -> &'static str {
    match status {
        "incomplete" => "The job is missing information to run.",
        "ready" => "The job is ready to be processed.",
        "downloading" => "The file is currently downloading from the source URL.",
        "queued" => "The job is waiting for a worker.",
        "processing" => "The file is being converted.",
        "completed" => "The file has been successfully converted.",
        "failed" => "The job failed: see its errors.",
        "canceled" => "The job was canceled.",
        _ => "",
    }
}

fn set_status(job: &mut OcJob, status: &str) {
    job.status = status.to_owned();
    job.info = info(status).to_owned();
    job.modified_at = now();
    let id = (job.history.len() + 1).to_string();
    job.history
        .push((id, status.to_owned(), job.modified_at.clone()));
}

fn staged_status(job: &OcJob) -> &'static str {
    if job.inputs.is_empty() || job.conversions.is_empty() {
        "incomplete"
    } else {
        "ready"
    }
}

fn parse_body(body: &[u8]) -> Result<Value, Response> {
    serde_json::from_slice(body)
        .map_err(|_| error(StatusCode::BAD_REQUEST, 2, "The JSON body is malformed"))
}

fn object(value: &Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

fn filename_of_url(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.path_segments()
                .and_then(|mut s| s.next_back().map(str::to_owned))
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "file".into())
}

/// An input descriptor of a create or `POST /input`.
fn parse_input(value: &Value) -> Result<OcInput, String> {
    let kind = value["type"].as_str().unwrap_or("remote").to_owned();
    let source = value["source"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or("an input needs a source")?
        .to_owned();
    let mut input = OcInput {
        id: uuid(),
        kind: kind.clone(),
        source: source.clone(),
        status: "ready".into(),
        filename: value["filename"].as_str().unwrap_or_default().to_owned(),
        bytes: None,
        options: object(&value["options"]),
        created_at: now(),
    };
    match kind.as_str() {
        "remote" => {
            let url = url::Url::parse(&source).map_err(|_| "the source is not a URL")?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err("a remote source must be an http(s) URL".into());
            }
            if input.filename.is_empty() {
                input.filename = filename_of_url(&source);
            }
        }
        "base64" => {
            input.bytes = Some(decode_base64(&source).ok_or("the base64 content does not decode")?);
            if input.filename.is_empty() {
                input.filename = "output".into();
            }
            input.source = String::new();
        }
        // Accepted as the vendor accepts them; the emulator cannot reach cloud storage, so the
        // input fails asynchronously, as a bad cloud descriptor does (code 99).
        "cloud" | "gdrive_picker" | "input_id" | "output" => {}
        other => return Err(format!("unknown input type {other:?}")),
    }
    Ok(input)
}

fn decode_base64(text: &str) -> Option<Bytes> {
    let payload = text.rsplit_once("base64,").map_or(text, |(_, d)| d);
    base64::engine::general_purpose::STANDARD
        .decode(payload.trim())
        .ok()
        .map(Bytes::from)
}

/// The vendor's category of a target: raster formats are `image`, the rest `document`.
fn category_of(target: &str) -> &'static str {
    if multiconvert_local::convert::format_of(target).is_some() {
        "image"
    } else {
        "document"
    }
}

fn parse_conversion(shared: &Shared, value: &Value) -> Result<OcConversion, String> {
    let target = value["target"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or("a conversion needs a target")?
        .to_ascii_lowercase();
    if !shared.engine.targets().contains(&target) {
        return Err(format!("there is no conversion to {target}"));
    }
    let category = value["category"]
        .as_str()
        .map_or_else(|| category_of(&target).to_owned(), str::to_owned);
    Ok(OcConversion {
        id: uuid(),
        target,
        category,
        options: object(&value["options"]),
        metadata: object(&value["metadata"]),
        output_target: value["output_target"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    })
}

fn bool_field(body: &Value, name: &str) -> Option<bool> {
    body.get(name).and_then(Value::as_bool)
}

fn apply_settings(job: &mut OcJob, body: &Value) -> Result<(), Response> {
    if let Some(cb) = body.get("callback") {
        let cb = cb.as_str().unwrap_or_default();
        if !cb.is_empty() && !cb.starts_with("http://") && !cb.starts_with("https://") {
            return Err(error(
                StatusCode::BAD_REQUEST,
                3,
                "The callback must be an http(s) URL",
            ));
        }
        job.callback = cb.to_owned();
    }
    if let Some(v) = bool_field(body, "notify_status") {
        job.notify_status = v;
    }
    if let Some(v) = bool_field(body, "fail_on_input_error") {
        job.fail_on_input_error = v;
    }
    if let Some(v) = bool_field(body, "fail_on_conversion_error") {
        job.fail_on_conversion_error = v;
    }
    if let Some(list) = body.get("download_passwords").and_then(Value::as_array) {
        job.download_passwords = list
            .iter()
            .filter_map(|p| p.as_str().map(str::to_owned))
            .collect();
    }
    Ok(())
}

async fn create(State(shared): S, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let op = "oc.create";
    let fault = shared.enter(op);
    if let Some(r) = faults::before(fault.as_ref(), "oc").await {
        return r;
    }
    if let Err(r) = authorize(&shared, op, &uri, &headers) {
        return r;
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        // As the vendor: a 204 where a job was due.
        return StatusCode::NO_CONTENT.into_response();
    }
    let body = match parse_body(&body) {
        Ok(b) if b.is_object() => b,
        Ok(_) => return error(StatusCode::BAD_REQUEST, 2, "The body must be a job object"),
        Err(r) => return r,
    };
    if body
        .get("conversion")
        .is_some_and(|c| c.as_array().is_some_and(Vec::is_empty))
    {
        return error(StatusCode::BAD_REQUEST, 3, "The conversion list is empty");
    }
    let inputs = match body["input"]
        .as_array()
        .map(|a| a.iter().map(parse_input).collect::<Result<Vec<_>, _>>())
        .transpose()
    {
        Ok(i) => i.unwrap_or_default(),
        Err(m) => return error(StatusCode::BAD_REQUEST, 3, &m),
    };
    let conversions = match body["conversion"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| parse_conversion(&shared, c))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
    {
        Ok(c) => c.unwrap_or_default(),
        Err(m) => return error(StatusCode::BAD_REQUEST, 3, &m),
    };
    let process = bool_field(&body, "process").unwrap_or(true);
    let created = now();
    let mut job = OcJob {
        id: uuid(),
        token: crate::state::simple_id(),
        seq: shared.next_seq(),
        status: String::new(),
        info: String::new(),
        process,
        started: false,
        inputs,
        conversions,
        outputs: Vec::new(),
        errors: Vec::new(),
        warnings: Vec::new(),
        callback: String::new(),
        notify_status: false,
        fail_on_input_error: true,
        fail_on_conversion_error: true,
        download_passwords: Vec::new(),
        history: Vec::new(),
        created_at: created.clone(),
        modified_at: created,
    };
    if let Err(r) = apply_settings(&mut job, &body) {
        return r;
    }
    let status = staged_status(&job);
    set_status(&mut job, status);
    let start = process && status == "ready";
    if process && status != "ready" {
        // A job created to run needs its inputs and conversions now.
        return error(
            StatusCode::BAD_REQUEST,
            3,
            "A job to process needs an input and a conversion",
        );
    }
    let id = job.id.clone();
    shared.lock().oc_jobs.insert(id.clone(), job);
    if start {
        begin(&shared, &id, fault.as_ref());
    }
    let snapshot = shared.lock().oc_jobs.get(&id).map(|j| job_json(&shared, j));
    let response = json_status(StatusCode::CREATED, snapshot.unwrap_or(Value::Null));
    faults::after(fault.as_ref(), response)
}

/// Marks a job started and runs it in the background.
fn begin(shared: &Arc<Shared>, id: &str, fault: Option<&Fault>) {
    let hostile =
        shared.result_fault("oc.start").is_some() || fault == Some(&Fault::HostileFilename);
    {
        let mut inner = shared.lock();
        let Some(job) = inner.oc_jobs.get_mut(id) else {
            return;
        };
        job.process = true;
        job.started = true;
        let first = if job.inputs.iter().any(|i| i.kind == "remote") {
            "downloading"
        } else {
            "queued"
        };
        set_status(job, first);
    }
    notify(shared, id, false);
    tokio::spawn(run(shared.clone(), id.to_owned(), hostile));
}

/// Delivers the job's callback: on every status change with `notify_status`, at the end always.
fn notify(shared: &Arc<Shared>, id: &str, terminal: bool) {
    let (url, body) = {
        let inner = shared.lock();
        let Some(job) = inner.oc_jobs.get(id) else {
            return;
        };
        if job.callback.is_empty() || !(terminal || job.notify_status) {
            return;
        }
        (job.callback.clone(), job_json(shared, job).to_string())
    };
    let shared = shared.clone();
    tokio::spawn(async move {
        let fault = shared.enter("oc.callback");
        if let Some(Fault::Slow { delay_ms }) = fault {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        }
        deliver(&shared, &url, body.clone(), true).await;
        match fault {
            Some(Fault::Duplicate) => deliver(&shared, &url, body, true).await,
            Some(Fault::Forged) => {
                let forged = json!({"id": "00000000-0000-0000-0000-000000000000",
                    "status": {"code": "completed", "info": ""}, "output": []});
                deliver(&shared, &url, forged.to_string(), false).await;
            }
            _ => {}
        }
    });
}

/// POSTs a callback, signed when the emulator has a webhook secret (`genuine` false: a wrong
/// signature); 5xx and timeouts are retried a few times, 4xx is final, as the vendor does.
async fn deliver(shared: &Shared, url: &str, body: String, genuine: bool) {
    let signature = shared.config.webhook_secret.as_ref().map(|secret| {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(body.as_bytes());
        let sig = hex::encode(mac.finalize().into_bytes());
        if genuine {
            sig
        } else {
            "0".repeat(sig.len())
        }
    });
    for attempt in 0..4u32 {
        let mut request = shared
            .http
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                header::USER_AGENT,
                "API2Convert API v2 Client (https://api.api2convert.com)",
            )
            .timeout(Duration::from_secs(if attempt == 0 { 3 } else { 10 }))
            .body(body.clone());
        if let Some(sig) = &signature {
            request = request.header("X-Oc-Signature", sig);
        }
        match request.send().await {
            Ok(r) if r.status().is_success() || r.status().is_client_error() => return,
            _ => tokio::time::sleep(Duration::from_millis(200 << attempt)).await,
        }
    }
}

/// Runs a started job: fetch remote inputs, convert every input to every target, finish.
async fn run(shared: Arc<Shared>, id: String, hostile: bool) {
    // Jobs run, whatever started them: a duplicate job shows here.
    shared.count("oc.conversions");
    let remote: Vec<(String, String)> = match shared.lock().oc_jobs.get(&id) {
        Some(job) => job
            .inputs
            .iter()
            .filter(|i| i.kind == "remote" && i.bytes.is_none())
            .map(|i| (i.id.clone(), i.source.clone()))
            .collect(),
        None => return,
    };
    for (input_id, url) in remote {
        let fetched = fetch(&shared, &url).await;
        let mut inner = shared.lock();
        let Some(job) = inner.oc_jobs.get_mut(&id) else {
            return;
        };
        if let Some(input) = job.inputs.iter_mut().find(|i| i.id == input_id) {
            match fetched {
                Some(bytes) => input.bytes = Some(bytes),
                None => {
                    input.status = "failed".into();
                    job.errors.push(json!({"source": "input", "id_source": input_id, "code": 404,
                        "message": "The file could not be downloaded by our servers. Please verify the link you have provided."}));
                }
            }
        }
    }
    let work: Vec<(OcInput, OcConversion)> = {
        let mut inner = shared.lock();
        let Some(job) = inner.oc_jobs.get_mut(&id) else {
            return;
        };
        for input in job.inputs.iter_mut() {
            if input.bytes.is_none() && input.status != "failed" {
                input.status = "failed".into();
                job.errors.push(json!({"source": "input", "id_source": input.id, "code": 99,
                    "message": "The emulator cannot read this source (cloud storage is not reachable from it)."}));
            }
        }
        set_status(job, "processing");
        let ready: Vec<OcInput> = job
            .inputs
            .iter()
            .filter(|i| i.bytes.is_some())
            .cloned()
            .collect();
        job.conversions
            .iter()
            .flat_map(|c| ready.iter().map(move |i| (i.clone(), c.clone())))
            .collect()
    };
    notify(&shared, &id, false);
    tokio::time::sleep(shared.config.work).await;
    let mut produced = Vec::new();
    let mut errors = Vec::new();
    for (input, conversion) in work {
        if !conversion.output_target.is_empty() {
            errors.push(
                json!({"source": "conversion", "id_source": conversion.id, "code": 99,
                "message": "The emulator does not deliver outputs to cloud storage."}),
            );
            continue;
        }
        let bytes = input.bytes.clone().unwrap_or_default();
        match shared
            .engine
            .convert(
                bytes,
                &input.filename,
                &conversion.target,
                &conversion.options,
            )
            .await
        {
            Ok(files) => {
                for file in files {
                    let filename = if hostile {
                        format!("../../evil.{}", conversion.target)
                    } else {
                        file.filename
                    };
                    produced.push(OcOutput {
                        id: uuid(),
                        conversion: conversion.id.clone(),
                        input: input.id.clone(),
                        filename,
                        bytes: file.bytes,
                        content_type: file.content_type,
                        downloads: 0,
                        password: None,
                        created_at: now(),
                    });
                }
            }
            Err(refusal) => errors.push(json!({"source": "conversion", "id_source": conversion.id,
                "code": 6000, "message": refusal.message()})),
        }
    }
    {
        let mut inner = shared.lock();
        let Some(job) = inner.oc_jobs.get_mut(&id) else {
            return;
        };
        let password = job.download_passwords.first().cloned();
        for mut output in produced {
            output.password = password.clone();
            job.outputs.push(output);
        }
        job.errors.extend(errors);
        let fails = |source: &str| job.errors.iter().any(|e| e["source"] == source);
        let failed = (fails("input") && job.fail_on_input_error)
            || (fails("conversion") && job.fail_on_conversion_error)
            || job.outputs.is_empty();
        if !failed {
            job.warnings.append(&mut job.errors);
        }
        set_status(job, if failed { "failed" } else { "completed" });
        inner.finished(&id);
    }
    notify(&shared, &id, true);
}

/// Changes job `id` with `f`, which may refuse with the vendor's answer; the vendor's 404 when
/// there is no such job.
fn edit<T>(
    shared: &Shared,
    id: &str,
    f: impl FnOnce(&mut OcJob) -> Result<T, Response>,
) -> Result<T, Response> {
    with_job(shared, id, f)?
}

/// A job by id, rendered, or the vendor's 404.
fn with_job<T>(shared: &Shared, id: &str, f: impl FnOnce(&mut OcJob) -> T) -> Result<T, Response> {
    let mut inner = shared.lock();
    inner
        .oc_jobs
        .get_mut(id)
        .map(f)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, 404, "The job does not exist"))
}

async fn read(State(shared): S, Path(id): Path<String>, uri: Uri, headers: HeaderMap) -> Response {
    let op = "oc.poll";
    let fault = shared.enter(op);
    if let Some(r) = faults::before(fault.as_ref(), "oc").await {
        return r;
    }
    if let Err(r) = authorize(&shared, op, &uri, &headers) {
        return r;
    }
    shared.polled(&id);
    let response = match with_job(&shared, &id, |job| job_json(&shared, job)) {
        Ok(v) => Json(v).into_response(),
        Err(r) => r,
    };
    faults::after(fault.as_ref(), response)
}

async fn update(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let starting = bool_field(&body, "process") == Some(true);
    let op = if starting { "oc.start" } else { "oc.update" };
    let fault = shared.enter(op);
    if let Some(r) = faults::before(fault.as_ref(), "oc").await {
        return r;
    }
    if let Err(r) = authorize(&shared, op, &uri, &headers) {
        return r;
    }
    let outcome = edit(&shared, &id, |job| {
        if starting && job.started {
            return Err(error(
                StatusCode::CONFLICT,
                409,
                "The job is already processing.",
            ));
        }
        if starting && staged_status(job) != "ready" {
            return Err(error(
                StatusCode::BAD_REQUEST,
                3,
                "The job needs an input and a conversion",
            ));
        }
        apply_settings(job, &body)
    });
    if let Err(r) = outcome {
        return r;
    }
    if starting {
        begin(&shared, &id, fault.as_ref());
    }
    let response = match with_job(&shared, &id, |job| job_json(&shared, job)) {
        Ok(v) => Json(v).into_response(),
        Err(r) => r,
    };
    faults::after(fault.as_ref(), response)
}

async fn delete(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let op = "oc.delete";
    let fault = shared.enter(op);
    if let Some(r) = faults::before(fault.as_ref(), "oc").await {
        return r;
    }
    if let Err(r) = authorize(&shared, op, &uri, &headers) {
        return r;
    }
    // Cancels a running job too; the record goes with it.
    let response = match shared.lock().oc_jobs.remove(&id) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => error(StatusCode::NOT_FOUND, 404, "The job does not exist"),
    };
    faults::after(fault.as_ref(), response)
}

async fn list(State(shared): S, uri: Uri, headers: HeaderMap) -> Response {
    let op = "oc.list";
    let fault = shared.enter(op);
    if let Some(r) = faults::before(fault.as_ref(), "oc").await {
        return r;
    }
    if let Err(r) = authorize(&shared, op, &uri, &headers) {
        return r;
    }
    let params = query(&uri);
    let status = params
        .iter()
        .find(|(k, _)| k == "status")
        .map(|(_, v)| v.clone());
    let page: usize = params
        .iter()
        .find(|(k, _)| k == "page")
        .and_then(|(_, v)| v.parse().ok())
        .filter(|&p| p >= 1)
        .unwrap_or(1);
    let (rows, total) = {
        let inner = shared.lock();
        let mut jobs: Vec<&OcJob> = inner
            .oc_jobs
            .values()
            .filter(|j| status.as_deref().is_none_or(|s| j.status == s))
            .collect();
        jobs.sort_by_key(|j| j.seq);
        let total = jobs.len();
        let rows: Vec<Value> = jobs
            .iter()
            .skip((page - 1) * PAGE)
            .take(PAGE)
            .map(|j| job_json(&shared, j))
            .collect();
        (rows, total)
    };
    let count = HeaderValue::from_str(&total.to_string()).expect("digits");
    let mut response = if rows.is_empty() {
        StatusCode::NO_CONTENT.into_response()
    } else {
        Json(Value::Array(rows)).into_response()
    };
    response.headers_mut().insert("x-count", count);
    faults::after(fault.as_ref(), response)
}

macro_rules! control {
    ($shared:ident, $op:expr, $uri:ident, $headers:ident) => {{
        let fault = $shared.enter($op);
        if let Some(r) = faults::before(fault.as_ref(), "oc").await {
            return r;
        }
        if let Err(r) = authorize(&$shared, $op, &$uri, &$headers) {
            return r;
        }
        fault
    }};
}

async fn inputs(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    control!(shared, "oc.poll", uri, headers);
    match with_job(&shared, &id, |job| {
        job.inputs.iter().map(input_json).collect::<Vec<_>>()
    }) {
        Ok(v) => Json(Value::Array(v)).into_response(),
        Err(r) => r,
    }
}

fn staged_only(job: &OcJob) -> Result<(), Response> {
    if job.started {
        Err(error(
            StatusCode::CONFLICT,
            409,
            "The job has started: it cannot change any more",
        ))
    } else {
        Ok(())
    }
}

async fn add_input(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = control!(shared, "oc.add", uri, headers);
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let many = body.is_array();
    let items: Vec<Value> = match body {
        Value::Array(items) => items,
        one => vec![one],
    };
    let parsed = match items.iter().map(parse_input).collect::<Result<Vec<_>, _>>() {
        Ok(p) => p,
        Err(m) => return error(StatusCode::BAD_REQUEST, 3, &m),
    };
    let outcome = edit(&shared, &id, |job| {
        staged_only(job)?;
        let rendered: Vec<Value> = parsed.iter().map(input_json).collect();
        job.inputs.extend(parsed);
        let status = staged_status(job);
        set_status(job, status);
        Ok(rendered)
    });
    let response = match outcome {
        Ok(mut rendered) if !many => json_status(StatusCode::CREATED, rendered.remove(0)),
        Ok(rendered) => json_status(StatusCode::CREATED, Value::Array(rendered)),
        Err(r) => r,
    };
    faults::after(fault.as_ref(), response)
}

/// `PATCH /jobs/{id}/input`: `[{"id", "options"}]`, e.g. positions and slide durations.
async fn reorder(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    control!(shared, "oc.update", uri, headers);
    let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            3,
            "The body must be a list of {id, options}",
        );
    };
    let outcome = edit(&shared, &id, |job| {
        staged_only(job)?;
        for item in &items {
            let Some(input) = job
                .inputs
                .iter_mut()
                .find(|i| Some(i.id.as_str()) == item["id"].as_str())
            else {
                return Err(error(
                    StatusCode::NOT_FOUND,
                    404,
                    "The input does not exist",
                ));
            };
            input.options.extend(object(&item["options"]));
        }
        Ok(job.inputs.iter().map(input_json).collect::<Vec<_>>())
    });
    match outcome {
        Ok(v) => Json(Value::Array(v)).into_response(),
        Err(r) => r,
    }
}

async fn one_input(
    State(shared): S,
    Path((id, fid)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    control!(shared, "oc.poll", uri, headers);
    match with_job(&shared, &id, |job| {
        job.inputs.iter().find(|i| i.id == fid).map(input_json)
    }) {
        Ok(Some(v)) => Json(v).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, 404, "The input does not exist"),
        Err(r) => r,
    }
}

/// `PATCH /jobs/{id}/input/{fid}`: only `credentials.decrypt_password`, only before the start.
async fn patch_input(
    State(shared): S,
    Path((id, fid)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    control!(shared, "oc.update", uri, headers);
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let outcome = edit(&shared, &id, |job| {
        staged_only(job)?;
        let input = job
            .inputs
            .iter()
            .find(|i| i.id == fid)
            .ok_or_else(|| error(StatusCode::NOT_FOUND, 404, "The input does not exist"))?;
        if body.get("credentials").is_none() && body.get("parameters").is_none() {
            return Err(error(StatusCode::BAD_REQUEST, 3, "Nothing to change"));
        }
        Ok(input_json(input))
    });
    match outcome {
        Ok(v) => Json(v).into_response(),
        Err(r) => r,
    }
}

async fn delete_input(
    State(shared): S,
    Path((id, fid)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    control!(shared, "oc.update", uri, headers);
    remove_part(&shared, &id, "input", |job| {
        let before = job.inputs.len();
        job.inputs.retain(|i| i.id != fid);
        job.inputs.len() < before
    })
}

/// Removes a part of a staged job (`remove` says whether it found it); 204, or the vendor's
/// 404 naming `what`.
fn remove_part(
    shared: &Shared,
    id: &str,
    what: &str,
    remove: impl FnOnce(&mut OcJob) -> bool,
) -> Response {
    let outcome = edit(shared, id, |job| {
        staged_only(job)?;
        if !remove(job) {
            return Err(error(
                StatusCode::NOT_FOUND,
                404,
                &format!("The {what} does not exist"),
            ));
        }
        let status = staged_status(job);
        set_status(job, status);
        Ok(())
    });
    match outcome {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => r,
    }
}

async fn conversions(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    control!(shared, "oc.poll", uri, headers);
    match with_job(&shared, &id, |job| {
        job.conversions
            .iter()
            .map(conversion_json)
            .collect::<Vec<_>>()
    }) {
        Ok(v) => Json(Value::Array(v)).into_response(),
        Err(r) => r,
    }
}

async fn add_conversion(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = control!(shared, "oc.add", uri, headers);
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let conversion = match parse_conversion(&shared, &body) {
        Ok(c) => c,
        Err(m) => return error(StatusCode::BAD_REQUEST, 3, &m),
    };
    let outcome = edit(&shared, &id, |job| {
        staged_only(job)?;
        let rendered = conversion_json(&conversion);
        job.conversions.push(conversion);
        let status = staged_status(job);
        set_status(job, status);
        Ok(rendered)
    });
    let response = match outcome {
        Ok(v) => json_status(StatusCode::CREATED, v),
        Err(r) => r,
    };
    faults::after(fault.as_ref(), response)
}

async fn one_conversion(
    State(shared): S,
    Path((id, cid)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    control!(shared, "oc.poll", uri, headers);
    match with_job(&shared, &id, |job| {
        job.conversions
            .iter()
            .find(|c| c.id == cid)
            .map(conversion_json)
    }) {
        Ok(Some(v)) => Json(v).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, 404, "The conversion does not exist"),
        Err(r) => r,
    }
}

/// `PATCH /jobs/{id}/conversions/{cid}`: `{"options", "metadata"}`.
async fn patch_conversion(
    State(shared): S,
    Path((id, cid)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    control!(shared, "oc.update", uri, headers);
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let outcome = edit(&shared, &id, |job| {
        staged_only(job)?;
        let c = job
            .conversions
            .iter_mut()
            .find(|c| c.id == cid)
            .ok_or_else(|| error(StatusCode::NOT_FOUND, 404, "The conversion does not exist"))?;
        if body.get("options").is_none() && body.get("metadata").is_none() {
            return Err(error(StatusCode::BAD_REQUEST, 3, "Nothing to change"));
        }
        c.options.extend(object(&body["options"]));
        c.metadata.extend(object(&body["metadata"]));
        Ok(conversion_json(c))
    });
    match outcome {
        Ok(v) => Json(v).into_response(),
        Err(r) => r,
    }
}

async fn delete_conversion(
    State(shared): S,
    Path((id, cid)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    control!(shared, "oc.update", uri, headers);
    remove_part(&shared, &id, "conversion", |job| {
        let before = job.conversions.len();
        job.conversions.retain(|c| c.id != cid);
        job.conversions.len() < before
    })
}

async fn outputs(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    control!(shared, "oc.poll", uri, headers);
    let params = query(&uri);
    let wanted = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let (conversion, input) = (wanted("conversion_id"), wanted("input_id"));
    match with_job(&shared, &id, |job| {
        job.outputs
            .iter()
            .filter(|o| conversion.as_ref().is_none_or(|c| &o.conversion == c))
            .filter(|o| input.as_ref().is_none_or(|i| &o.input == i))
            .map(|o| output_json(&shared, o))
            .collect::<Vec<_>>()
    }) {
        Ok(v) => Json(Value::Array(v)).into_response(),
        Err(r) => r,
    }
}

fn change_output(output: &mut OcOutput, body: &Value) -> Result<(), Response> {
    if let Some(name) = body.get("filename") {
        let name = name.as_str().unwrap_or_default();
        if name.trim().is_empty() || name.contains(['/', '\\', '\0']) {
            return Err(error(
                StatusCode::BAD_REQUEST,
                3,
                "The file name must be a plain name",
            ));
        }
        output.filename = name.to_owned();
    }
    if let Some(pw) = body.get("download_password").and_then(Value::as_str) {
        output.password = Some(pw.to_owned()).filter(|p| !p.is_empty());
    }
    Ok(())
}

/// `PATCH /jobs/{id}/output`: the same change to every output.
async fn patch_outputs(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    control!(shared, "oc.update", uri, headers);
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let outcome = edit(&shared, &id, |job| {
        for output in job.outputs.iter_mut() {
            change_output(output, &body)?;
        }
        Ok(job
            .outputs
            .iter()
            .map(|o| output_json(&shared, o))
            .collect::<Vec<_>>())
    });
    match outcome {
        Ok(v) => Json(Value::Array(v)).into_response(),
        Err(r) => r,
    }
}

async fn one_output(
    State(shared): S,
    Path((id, oid)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    control!(shared, "oc.poll", uri, headers);
    match with_job(&shared, &id, |job| {
        job.outputs
            .iter()
            .find(|o| o.id == oid)
            .map(|o| output_json(&shared, o))
    }) {
        Ok(Some(v)) => Json(v).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, 404, "The output does not exist"),
        Err(r) => r,
    }
}

/// `PATCH /jobs/{id}/output/{oid}`: `{"filename", "download_password"}`.
async fn patch_output(
    State(shared): S,
    Path((id, oid)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    control!(shared, "oc.update", uri, headers);
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let outcome = edit(&shared, &id, |job| {
        let output = job
            .outputs
            .iter_mut()
            .find(|o| o.id == oid)
            .ok_or_else(|| error(StatusCode::NOT_FOUND, 404, "The output does not exist"))?;
        change_output(output, &body)?;
        Ok(output_json(&shared, output))
    });
    match outcome {
        Ok(v) => Json(v).into_response(),
        Err(r) => r,
    }
}

async fn history(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    control!(shared, "oc.poll", uri, headers);
    match with_job(&shared, &id, |job| {
        job.history
            .iter()
            .map(|(hid, status, at)| json!({"id": hid, "status": status, "info": info(status), "created_at": at}))
            .collect::<Vec<_>>()
    }) {
        Ok(v) => Json(Value::Array(v)).into_response(),
        Err(r) => r,
    }
}

async fn statuses(State(shared): S, uri: Uri, headers: HeaderMap) -> Response {
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

async fn catalog(State(shared): S, uri: Uri, headers: HeaderMap) -> Response {
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

async fn upload_file(State(shared): S, Path(id): Path<String>, request: Request) -> Response {
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

async fn upload_base64(
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

async fn download(
    State(shared): S,
    Path((oid, _name)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let op = "oc.download";
    let fault = shared.enter(op);
    if let Some(r) = faults::before(fault.as_ref(), "oc").await {
        return r;
    }
    if api_key(&headers).is_some() || job_token(&headers).is_some() {
        shared.violation(
            op,
            "secret_on_download_host",
            "a key or job token was sent with a download",
        );
    }
    let found = {
        let mut inner = shared.lock();
        inner
            .oc_jobs
            .values_mut()
            .flat_map(|j| j.outputs.iter_mut())
            .find(|o| o.id == oid)
            .map(|o| {
                o.downloads += 1;
                (o.bytes.clone(), o.content_type.clone(), o.password.clone())
            })
    };
    let Some((bytes, content_type, password)) = found else {
        return error(StatusCode::NOT_FOUND, 404, "The file does not exist");
    };
    if let Some(expected) = password {
        let given = headers
            .get("x-api2convert-download-password")
            .and_then(|v| v.to_str().ok());
        if given != Some(expected.as_str()) {
            return error(
                StatusCode::UNAUTHORIZED,
                401,
                "The download password is missing or wrong",
            );
        }
    }
    let base64 = query(&uri)
        .iter()
        .any(|(k, v)| k == "encoding" && v == "base64");
    let response = if base64 {
        base64::engine::general_purpose::STANDARD
            .encode(&bytes)
            .into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type)], bytes).into_response()
    };
    faults::after(fault.as_ref(), response)
}
