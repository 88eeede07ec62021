//! CloudConvert v2, as `../shared/reference/cloudconvert.md` describes it: jobs as graphs of
//! named tasks, uploads through each `import/upload` task's S3-style form on a storage host that
//! takes no API key, exports as URLs, the sync host that answers once a job has ended, and
//! `job.finished` / `job.failed` webhooks signed with `CloudConvert-Signature`.
//!
//! Layout on its port: the API under `/v2`, the sync host under `/sync/v2` (so the Python SDK's
//! `endpoint` is the port's root and its `sync_endpoint` the root plus `/sync`), the storage under
//! `/storage`. Strict: a request without the key, the key sent to the storage, a form field
//! after the file or an upload without `Content-Length` (S3 takes no chunked body) is refused and
//! counted as a violation.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use serde_json::{json, Map, Value};
use sha2::Sha256;

use crate::engine::Refusal;
use crate::faults::{self, Fault};
use crate::state::{fetch, uuid, CcFile, CcJob, CcTask, Shared};
use crate::{query, MAX_BODY};

type S = State<Arc<Shared>>;

/// The operations the emulator runs; anything else is refused at create.
const OPERATIONS: &[&str] = &[
    "import/url",
    "import/upload",
    "import/base64",
    "import/raw",
    "convert",
    "export/url",
];

/// The API's routes (nested under `/v2`).
pub(crate) fn api(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/jobs", post(create).get(list))
        .route("/jobs/{id}", get(show).delete(delete))
        .route("/tasks/{id}", get(show_task))
        .route("/users/me", get(me))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "NOT_FOUND", "Not found") })
        .with_state(shared)
}

/// The sync host's routes (nested under `/sync/v2`): they answer once the job or task ended.
/// `GET /jobs/{id}/wait` is accepted too (one third-party summary names it; **UNVERIFIED**).
pub(crate) fn sync(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/jobs/{id}", get(wait))
        .route("/jobs/{id}/wait", get(wait))
        .route("/tasks/{id}", get(wait_task))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "NOT_FOUND", "Not found") })
        .with_state(shared)
}

/// The storage host (nested under `/storage`): upload forms and export files, no key.
pub(crate) fn storage(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/upload/{task}", post(upload))
        .route("/files/{task}/{name}", get(download))
        .with_state(shared)
}

fn json_status(status: StatusCode, value: Value) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::HeaderName::from_static("x-ratelimit-limit"), "500"),
        ],
        value.to_string(),
    )
        .into_response()
}

/// The vendor's error body: `{"message", "code"}`.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    json_status(status, json!({"message": message, "code": code}))
}

/// Laravel's validation answer: 422 `INVALID_DATA` with the reasons per field.
fn invalid(field: &str, problem: &str) -> Response {
    json_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"message": "The given data was invalid.", "code": "INVALID_DATA",
               "errors": {field: [problem]}}),
    )
}

/// `Authorization: Bearer <key>`, the configured key when there is one.
fn authorize(shared: &Shared, op: &str, uri: &Uri, headers: &HeaderMap) -> Result<(), Response> {
    if query(uri).iter().any(|(k, _)| {
        matches!(
            k.to_ascii_lowercase().as_str(),
            "api_key" | "access_token" | "token"
        )
    }) {
        shared.violation(op, "secret_in_query", "a key or token in the query string");
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .filter(|k| !k.trim().is_empty());
    let accepted = match (&shared.config.cloudconvert_key, bearer) {
        (_, None) => false,
        (Some(key), Some(given)) => key == given,
        (None, Some(_)) => true,
    };
    if accepted {
        Ok(())
    } else {
        Err(json_status(
            StatusCode::UNAUTHORIZED,
            json!({"message": "Unauthenticated."}),
        ))
    }
}

/// Counts `op`, applies a fault that replaces the answer, checks the key.
async fn enter(
    shared: &Shared,
    op: &str,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Option<Fault>, Response> {
    let fault = shared.enter(op);
    if let Some(response) = faults::before(fault.as_ref(), "cc").await {
        return Err(response);
    }
    authorize(shared, op, uri, headers)?;
    Ok(fault)
}

fn now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S+00:00")
        .to_string()
}

fn storage_base(shared: &Shared) -> String {
    shared
        .cc_base
        .get()
        .map(|b| b.trim_end_matches("/v2").to_owned())
        .unwrap_or_default()
        + "/storage"
}

/// The signature an upload form carries: HMAC of the task id under a per-process key, so a
/// forged or reused form is refused.
fn form_signature(shared: &Shared, task: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(shared.cc_form_key.as_bytes()).expect("any key");
    mac.update(task.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn task_json(shared: &Shared, job: &CcJob, task: &CcTask) -> Value {
    let depends: Vec<&str> = task
        .inputs
        .iter()
        .filter_map(|name| job.tasks.iter().find(|t| &t.name == name))
        .map(|t| t.id.as_str())
        .collect();
    let result = if let Some(form) = task.form.as_ref().filter(|_| task.status == "waiting") {
        json!({"form": form})
    } else if task.status == "finished" {
        let files: Vec<Value> = task
            .files
            .iter()
            .map(|f| {
                let mut file = json!({"filename": f.filename, "size": f.bytes.len()});
                if task.operation == "export/url" {
                    file["url"] = json!(format!(
                        "{}/files/{}/{}",
                        storage_base(shared),
                        task.id,
                        url::form_urlencoded::byte_serialize(f.filename.as_bytes())
                            .collect::<String>()
                    ));
                } else {
                    file["md5"] = json!(hex::encode(Md5::digest(&f.bytes)));
                }
                file
            })
            .collect();
        json!({"files": files})
    } else {
        Value::Null
    };
    json!({
        "id": task.id, "name": task.name, "job_id": job.id, "operation": task.operation,
        "status": task.status, "message": task.message, "code": task.code,
        "credits": task.credits, "percent": if task.status == "finished" { 100 } else { 0 },
        "created_at": job.created_at, "started_at": task.started_at, "ended_at": task.ended_at,
        "depends_on_task_ids": depends, "engine": if task.operation == "convert" { json!("multiconvert") } else { Value::Null },
        "payload": task.payload, "result": result,
        "links": {"self": format!("{}/tasks/{}", shared.cc_base.get().cloned().unwrap_or_default(), task.id)},
    })
}

fn job_json(shared: &Shared, job: &CcJob, with_tasks: bool) -> Value {
    let mut value = json!({
        "id": job.id, "tag": job.tag, "status": job.status, "created_at": job.created_at,
        "started_at": job.started_at, "ended_at": job.ended_at,
        "links": {"self": format!("{}/jobs/{}", shared.cc_base.get().cloned().unwrap_or_default(), job.id)},
    });
    if with_tasks {
        value["tasks"] = json!(job
            .tasks
            .iter()
            .map(|t| task_json(shared, job, t))
            .collect::<Vec<_>>());
    }
    value
}

/// Checks a create body and builds the job's tasks, in the body's order.
fn tasks_of(shared: &Shared, body: &Value) -> Result<Vec<CcTask>, Response> {
    let Some(tasks) = body.get("tasks").and_then(Value::as_object) else {
        return Err(invalid("tasks", "The tasks field is required."));
    };
    if tasks.is_empty() {
        return Err(invalid("tasks", "The tasks field is required."));
    }
    let names: HashSet<&str> = tasks.keys().map(String::as_str).collect();
    let mut out = Vec::new();
    for (name, task) in tasks {
        let field = format!("tasks.{name}");
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(invalid(
                &field,
                "Task names may only contain letters, digits, - and _.",
            ));
        }
        let Some(obj) = task.as_object() else {
            return Err(invalid(&field, "A task is an object."));
        };
        let operation = obj.get("operation").and_then(Value::as_str).unwrap_or("");
        if !OPERATIONS.contains(&operation) {
            return Err(invalid(
                &format!("{field}.operation"),
                "The selected operation is invalid (the emulator runs import/url, import/upload, import/base64, import/raw, convert and export/url).",
            ));
        }
        let inputs: Vec<String> = match obj.get("input") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Some(_) => {
                return Err(invalid(
                    &format!("{field}.input"),
                    "The input must be a task name or a list of them.",
                ))
            }
        };
        for input in &inputs {
            if !names.contains(input.as_str()) || input == name {
                return Err(invalid(
                    &format!("{field}.input"),
                    &format!("The input task {input} does not exist."),
                ));
            }
        }
        let needs_input = !operation.starts_with("import/");
        if needs_input && inputs.is_empty() {
            return Err(invalid(
                &format!("{field}.input"),
                "The input field is required.",
            ));
        }
        let required: &[&str] = match operation {
            "import/url" => &["url"],
            "import/base64" | "import/raw" => &["file", "filename"],
            "convert" => &["output_format"],
            _ => &[],
        };
        for key in required {
            if obj
                .get(*key)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return Err(invalid(
                    &format!("{field}.{key}"),
                    &format!("The {key} field is required."),
                ));
            }
        }
        let id = uuid();
        let form = (operation == "import/upload").then(|| {
            // The S3 POST policy of the recorded sandbox exchange, signed for this task.
            json!({"url": format!("{}/upload/{id}", storage_base(shared)), "parameters": {
                "acl": "private", "key": format!("{id}/${{filename}}"), "success_action_status": "201",
                "X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Date": chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string(),
                "Policy": base64::engine::general_purpose::STANDARD.encode(format!("{{\"task\":\"{id}\"}}")),
                "X-Amz-Signature": form_signature(shared, &id)}})
        });
        out.push(CcTask {
            id,
            name: name.clone(),
            operation: operation.to_owned(),
            status: "waiting".into(),
            message: form.as_ref().map(|_| "Waiting for file upload".to_owned()),
            code: None,
            credits: None,
            payload: task.clone(),
            inputs,
            files: Vec::new(),
            form,
            started_at: None,
            ended_at: None,
        });
    }
    // A graph that waits on itself never ends: refuse it.
    let mut done: HashSet<&str> = HashSet::new();
    while done.len() < out.len() {
        let before = done.len();
        for t in &out {
            if !done.contains(t.name.as_str()) && t.inputs.iter().all(|i| done.contains(i.as_str()))
            {
                done.insert(t.name.as_str());
            }
        }
        if done.len() == before {
            return Err(invalid(
                "tasks",
                "The tasks depend on each other in a circle.",
            ));
        }
    }
    Ok(out)
}

async fn create(State(shared): S, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let fault = match enter(&shared, "cc.create", &uri, &headers).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_DATA",
            "The body is not JSON.",
        );
    };
    let tasks = match tasks_of(&shared, &body) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let text = |key: &str| -> Result<Option<String>, Response> {
        match body.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(key, &format!("The {key} must be a string."))),
        }
    };
    let (tag, webhook_url) = match (text("tag"), text("webhook_url")) {
        (Ok(t), Ok(w)) => (t, w),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let job = CcJob {
        id: uuid(),
        tag,
        status: "waiting".into(),
        webhook_url,
        seq: shared.next_seq(),
        created_at: now(),
        started_at: None,
        ended_at: None,
        tasks,
    };
    let id = job.id.clone();
    let rendered = job_json(&shared, &job, true);
    shared.lock().cc_jobs.insert(id.clone(), job);
    let driver = shared.clone();
    tokio::spawn(async move { run(driver, id).await });
    faults::after(
        fault.as_ref(),
        json_status(StatusCode::CREATED, json!({"data": rendered})),
    )
}

fn page_of(uri: &Uri) -> (usize, usize) {
    let q = query(uri);
    let get = |k: &str| {
        q.iter()
            .find(|(n, _)| n == k)
            .and_then(|(_, v)| v.parse::<usize>().ok())
    };
    (
        get("page").unwrap_or(1).max(1),
        get("per_page").unwrap_or(100).clamp(1, 1000),
    )
}

async fn list(State(shared): S, uri: Uri, headers: HeaderMap) -> Response {
    let fault = match enter(&shared, "cc.list", &uri, &headers).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let q = query(&uri);
    let filter = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let (status, tag) = (filter("filter[status]"), filter("filter[tag]"));
    let with_tasks = filter("include").is_some_and(|i| i.split(',').any(|p| p == "tasks"));
    let (page, per_page) = page_of(&uri);
    let inner = shared.lock();
    let mut jobs: Vec<&CcJob> = inner
        .cc_jobs
        .values()
        .filter(|j| status.as_ref().is_none_or(|s| &j.status == s))
        .filter(|j| tag.as_ref().is_none_or(|t| j.tag.as_ref() == Some(t)))
        .collect();
    // Newest first, as the API lists them.
    jobs.sort_by_key(|j| std::cmp::Reverse(j.seq));
    let start = (page - 1) * per_page;
    let data: Vec<Value> = jobs
        .iter()
        .skip(start)
        .take(per_page)
        .map(|j| job_json(&shared, j, with_tasks))
        .collect();
    let base = format!("{}/jobs", shared.cc_base.get().cloned().unwrap_or_default());
    let next = (start + per_page < jobs.len()).then(|| format!("{base}?page={}", page + 1));
    let body = json!({"data": data,
        "links": {"first": format!("{base}?page=1"), "last": Value::Null,
                  "prev": (page > 1).then(|| format!("{base}?page={}", page - 1)), "next": next},
        "meta": {"current_page": page, "from": start + 1, "path": base, "per_page": per_page,
                 "to": start + data.len()}});
    drop(inner);
    faults::after(fault.as_ref(), json_status(StatusCode::OK, body))
}

fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "NOT_FOUND", "Job not found")
}

async fn show(State(shared): S, Path(id): Path<String>, uri: Uri, headers: HeaderMap) -> Response {
    let fault = match enter(&shared, "cc.poll", &uri, &headers).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    shared.polled(&id);
    let rendered = shared
        .lock()
        .cc_jobs
        .get(&id)
        .map(|job| job_json(&shared, job, true));
    match rendered {
        Some(job) => faults::after(
            fault.as_ref(),
            json_status(StatusCode::OK, json!({"data": job})),
        ),
        None => not_found(),
    }
}

async fn show_task(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let fault = match enter(&shared, "cc.poll", &uri, &headers).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    match task_by_id(&shared, &id) {
        Some(task) => faults::after(
            fault.as_ref(),
            json_status(StatusCode::OK, json!({"data": task})),
        ),
        None => error(StatusCode::NOT_FOUND, "NOT_FOUND", "Task not found"),
    }
}

fn task_by_id(shared: &Shared, id: &str) -> Option<Value> {
    let inner = shared.lock();
    inner.cc_jobs.values().find_map(|job| {
        job.tasks
            .iter()
            .find(|t| t.id == id)
            .map(|t| task_json(shared, job, t))
    })
}

fn terminal(status: &str) -> bool {
    status == "finished" || status == "error"
}

/// The sync host: answers once the job ended (or after five minutes, as it stands).
async fn wait(State(shared): S, Path(id): Path<String>, uri: Uri, headers: HeaderMap) -> Response {
    let fault = match enter(&shared, "cc.wait", &uri, &headers).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    shared.polled(&id);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        let ended = shared.cc_ended.notified();
        tokio::pin!(ended);
        ended.as_mut().enable();
        let state = shared
            .lock()
            .cc_jobs
            .get(&id)
            .map(|job| (terminal(&job.status), job_json(&shared, job, true)));
        match state {
            None => return not_found(),
            Some((true, job)) => {
                return faults::after(
                    fault.as_ref(),
                    json_status(StatusCode::OK, json!({"data": job})),
                )
            }
            Some((false, job)) if tokio::time::Instant::now() >= deadline => {
                return json_status(StatusCode::OK, json!({"data": job}))
            }
            Some((false, _)) => {
                let _ = tokio::time::timeout_at(deadline, ended).await;
            }
        }
    }
}

async fn wait_task(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let fault = match enter(&shared, "cc.wait", &uri, &headers).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        let ended = shared.cc_ended.notified();
        tokio::pin!(ended);
        ended.as_mut().enable();
        let Some(task) = task_by_id(&shared, &id) else {
            return error(StatusCode::NOT_FOUND, "NOT_FOUND", "Task not found");
        };
        let status = task["status"].as_str().unwrap_or_default().to_owned();
        if terminal(&status) || tokio::time::Instant::now() >= deadline {
            return faults::after(
                fault.as_ref(),
                json_status(StatusCode::OK, json!({"data": task})),
            );
        }
        let _ = tokio::time::timeout_at(deadline, ended).await;
    }
}

async fn delete(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let fault = match enter(&shared, "cc.delete", &uri, &headers).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    if shared.lock().cc_jobs.remove(&id).is_none() {
        return not_found();
    }
    shared.cc_ended.notify_waiters();
    faults::after(fault.as_ref(), StatusCode::NO_CONTENT.into_response())
}

async fn me(State(shared): S, uri: Uri, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&shared, "cc.user", &uri, &headers) {
        return r;
    }
    json_status(
        StatusCode::OK,
        json!({"data": {"id": 1, "username": "emulator", "email": "emulator@localhost", "credits": 1000,
                        "created_at": "2020-12-17T05:33:52+00:00"}}),
    )
}

/// S3's error answer.
fn s3_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/xml")],
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"),
    )
        .into_response()
}

/// The storage's form POST: every field the form gave, then `file` last; 201 with S3's XML.
async fn upload(State(shared): S, Path(task_id): Path<String>, request: Request) -> Response {
    let op = "cc.upload";
    let fault = shared.enter(op);
    if let Some(response) = faults::before(fault.as_ref(), "cc").await {
        faults::drain(request.into_body()).await;
        return response;
    }
    let headers = request.headers().clone();
    if headers.contains_key(header::AUTHORIZATION) {
        shared.violation(
            op,
            "account_key_on_storage_host",
            "an Authorization header sent to the storage",
        );
        return s3_error(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "Unsupported Authorization Type",
        );
    }
    if !headers.contains_key(header::CONTENT_LENGTH) {
        shared.violation(op, "chunked_upload", "an upload without Content-Length");
        return s3_error(
            StatusCode::LENGTH_REQUIRED,
            "MissingContentLength",
            "You must provide the Content-Length HTTP header.",
        );
    }
    let expected = {
        let inner = shared.lock();
        inner
            .cc_jobs
            .values()
            .flat_map(|j| j.tasks.iter().map(move |t| (j, t)))
            .find(|(_, t)| t.id == task_id)
            .and_then(|(_, t)| t.form.clone().filter(|_| t.status == "waiting"))
    };
    let Some(form) = expected else {
        return s3_error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Invalid according to Policy: no upload is expected here",
        );
    };
    let Ok(mut multipart) = Multipart::from_request(request, &()).await else {
        return s3_error(
            StatusCode::BAD_REQUEST,
            "MalformedPOSTRequest",
            "The body of your POST request is not well-formed multipart/form-data.",
        );
    };
    let mut fields: HashMap<String, String> = HashMap::new();
    let mut file: Option<(String, Bytes)> = None;
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_owned();
                if file.is_some() {
                    shared.violation(
                        op,
                        "field_after_file",
                        format!("form field {name} after the file"),
                    );
                    return s3_error(
                        StatusCode::BAD_REQUEST,
                        "InvalidArgument",
                        "The file must be the last field.",
                    );
                }
                if name == "file" {
                    let filename = field.file_name().unwrap_or("file").to_owned();
                    match field.bytes().await {
                        Ok(b) if b.len() <= MAX_BODY => file = Some((filename, b)),
                        _ => {
                            return s3_error(
                                StatusCode::BAD_REQUEST,
                                "IncompleteBody",
                                "The request body terminated unexpectedly",
                            )
                        }
                    }
                } else {
                    fields.insert(name, field.text().await.unwrap_or_default());
                }
            }
            Ok(None) => break,
            Err(_) => {
                return s3_error(
                    StatusCode::BAD_REQUEST,
                    "IncompleteBody",
                    "The request body terminated unexpectedly",
                )
            }
        }
    }
    for (key, value) in form["parameters"].as_object().into_iter().flatten() {
        let want = value
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| value.to_string());
        if fields.get(key) != Some(&want) {
            shared.violation(
                op,
                "form_field_changed",
                format!("form field {key} missing or changed"),
            );
            return s3_error(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                "Invalid according to Policy: Policy Condition failed",
            );
        }
    }
    let Some((filename, bytes)) = file else {
        return s3_error(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "POST requires exactly one file upload per request.",
        );
    };
    let filename = multiconvert_core::safe_filename(&filename);
    let md5 = hex::encode(Md5::digest(&bytes));
    {
        let mut inner = shared.lock();
        if let Some(task) = inner
            .cc_jobs
            .values_mut()
            .find_map(|job| job.tasks.iter_mut().find(|t| t.id == task_id))
        {
            {
                task.status = "finished".into();
                task.message = None;
                task.credits = Some(0);
                task.ended_at = Some(now());
                task.files = vec![CcFile {
                    filename: filename.clone(),
                    bytes,
                    content_type: "application/octet-stream".into(),
                }];
            }
        }
    }
    shared.cc_changed.notify_waiters();
    let location = format!("{}/files/{task_id}/{filename}", storage_base(&shared));
    let response = (
        StatusCode::CREATED,
        [
            (header::CONTENT_TYPE, "application/xml".to_owned()),
            (header::LOCATION, location.clone()),
            (header::ETAG, format!("\"{md5}\"")),
        ],
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PostResponse><Bucket>tasks</Bucket><Key>{task_id}/{filename}</Key><ETag>\"{md5}\"</ETag><Location>{location}</Location></PostResponse>"),
    )
        .into_response();
    faults::after(fault.as_ref(), response)
}

async fn download(
    State(shared): S,
    Path((task_id, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let op = "cc.download";
    let fault = shared.enter(op);
    if let Some(response) = faults::before(fault.as_ref(), "cc").await {
        return response;
    }
    if headers.contains_key(header::AUTHORIZATION) {
        shared.violation(
            op,
            "account_key_on_storage_host",
            "an Authorization header sent with a download",
        );
    }
    let found = {
        let inner = shared.lock();
        inner.cc_jobs.values().find_map(|job| {
            job.tasks
                .iter()
                .find(|t| t.id == task_id && t.operation == "export/url" && t.status == "finished")
                .and_then(|t| t.files.iter().find(|f| f.filename == name).cloned())
        })
    };
    let Some(file) = found else {
        return s3_error(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        );
    };
    let response = (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, file.content_type.clone()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"{}\"",
                    file.filename.replace('"', "")
                ),
            ),
        ],
        file.bytes,
    )
        .into_response();
    faults::after(fault.as_ref(), response)
}

/// Changes task `name` of job `id` with `f` (nothing when the job was deleted meanwhile).
fn edit_task(shared: &Shared, id: &str, name: &str, f: impl FnOnce(&mut CcTask)) {
    let mut inner = shared.lock();
    if let Some(task) = inner
        .cc_jobs
        .get_mut(id)
        .and_then(|j| j.tasks.iter_mut().find(|t| t.name == name))
    {
        f(task);
    }
}

fn fail_task(task: &mut CcTask, code: &str, message: &str) {
    task.status = "error".into();
    task.code = Some(code.into());
    task.message = Some(message.into());
    task.ended_at = Some(now());
}

/// Drives a job: runs every task whose inputs have finished, fails those whose inputs failed,
/// ends the job and calls its webhook.
async fn run(shared: Arc<Shared>, id: String) {
    let mut counted = false;
    loop {
        // Wake on an upload, or look again shortly (a job deleted meanwhile ends the driver).
        let changed = shared.cc_changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let Some(ready) = next_ready(&shared, &id) else {
            return;
        };
        match ready {
            Next::Run(name) => {
                if !counted {
                    // Jobs that convert, whatever started them: a duplicate job shows here.
                    shared.count("cc.conversions");
                    counted = true;
                }
                run_task(&shared, &id, &name).await;
            }
            Next::Wait => {
                let _ = tokio::time::timeout(Duration::from_millis(500), changed).await;
            }
            Next::Ended => break,
        }
    }
    let (event, snapshot) = {
        let mut inner = shared.lock();
        let Some(job) = inner.cc_jobs.get_mut(&id) else {
            return;
        };
        let failed = job
            .tasks
            .iter()
            .any(|t| t.status == "error" && !ignores_error(t));
        job.status = if failed { "error" } else { "finished" }.into();
        job.ended_at = Some(now());
        let snapshot = job.clone();
        inner.finished(&id);
        (if failed { "job.failed" } else { "job.finished" }, snapshot)
    };
    let body = json!({"event": event, "job": job_json(&shared, &snapshot, true)}).to_string();
    let url = snapshot.webhook_url.clone();
    shared.cc_ended.notify_waiters();
    if let Some(url) = url {
        tracing::debug!(job = %id, event, "calling the job's webhook");
        deliver(&shared, &url, body).await;
    }
}

fn ignores_error(task: &CcTask) -> bool {
    task.payload.get("ignore_error").and_then(Value::as_bool) == Some(true)
}

enum Next {
    Run(String),
    Wait,
    Ended,
}

/// What job `id` can do now; `None` when it is gone.
fn next_ready(shared: &Shared, id: &str) -> Option<Next> {
    let mut inner = shared.lock();
    let job = inner.cc_jobs.get_mut(id)?;
    let status: HashMap<String, String> = job
        .tasks
        .iter()
        .map(|t| (t.name.clone(), t.status.clone()))
        .collect();
    let mut next = None;
    for task in job.tasks.iter_mut().filter(|t| t.status == "waiting") {
        let inputs: Vec<&str> = task.inputs.iter().map(|i| status[i].as_str()).collect();
        if inputs.contains(&"error") {
            fail_task(task, "INPUT_TASK_FAILED", "Input task has failed");
            continue;
        }
        if inputs.iter().all(|s| *s == "finished")
            && task.operation != "import/upload"
            && next.is_none()
        {
            task.status = "processing".into();
            task.started_at = Some(now());
            next = Some(task.name.clone());
        }
    }
    if job.tasks.iter().any(|t| t.status != "waiting") && job.status == "waiting" {
        job.status = "processing".into();
        job.started_at = Some(now());
    }
    Some(match next {
        Some(name) => Next::Run(name),
        None if job.tasks.iter().all(|t| terminal(&t.status)) => Next::Ended,
        None => Next::Wait,
    })
}

/// Runs one task whose inputs are there.
async fn run_task(shared: &Arc<Shared>, id: &str, name: &str) {
    let (task, inputs) = {
        let inner = shared.lock();
        let Some(job) = inner.cc_jobs.get(id) else {
            return;
        };
        let Some(task) = job.tasks.iter().find(|t| t.name == name).cloned() else {
            return;
        };
        let inputs: Vec<CcFile> = task
            .inputs
            .iter()
            .filter_map(|i| job.tasks.iter().find(|t| &t.name == i))
            .flat_map(|t| t.files.clone())
            .collect();
        (task, inputs)
    };
    let text = |k: &str| {
        task.payload
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let outcome: Result<(Vec<CcFile>, u64), (&str, String)> = match task.operation.as_str() {
        "import/url" => {
            let url = text("url");
            match fetch(shared, &url).await {
                Some(bytes) => {
                    let filename = Some(text("filename"))
                        .filter(|f| !f.is_empty())
                        .unwrap_or_else(|| {
                            url.split(['?', '#'])
                                .next()
                                .unwrap_or_default()
                                .rsplit('/')
                                .next()
                                .unwrap_or("file")
                                .to_owned()
                        });
                    Ok((
                        vec![CcFile {
                            filename: multiconvert_core::safe_filename(&filename),
                            bytes,
                            content_type: "application/octet-stream".into(),
                        }],
                        0,
                    ))
                }
                None => Err(("INPUT_FILE_NOT_FOUND", format!("Could not download {url}"))),
            }
        }
        "import/base64" => {
            match base64::engine::general_purpose::STANDARD.decode(text("file").trim()) {
                Ok(bytes) => Ok((
                    vec![CcFile {
                        filename: multiconvert_core::safe_filename(&text("filename")),
                        bytes: bytes.into(),
                        content_type: "application/octet-stream".into(),
                    }],
                    0,
                )),
                Err(_) => Err(("INVALID_DATA", "The file is not base64.".into())),
            }
        }
        "import/raw" => Ok((
            vec![CcFile {
                filename: multiconvert_core::safe_filename(&text("filename")),
                bytes: Bytes::from(text("file")),
                content_type: "text/plain".into(),
            }],
            0,
        )),
        "convert" => {
            tokio::time::sleep(shared.config.work).await;
            let target = text("output_format").to_ascii_lowercase();
            let mut options: Map<String, Value> =
                task.payload.as_object().cloned().unwrap_or_default();
            for key in [
                "operation",
                "input",
                "output_format",
                "input_format",
                "engine",
                "engine_version",
                "filename",
                "timeout",
                "ignore_error",
            ] {
                options.remove(key);
            }
            let mut files = Vec::new();
            let mut failure = None;
            for input in &inputs {
                // The declared input format wins over the file's name, as the vendor's does.
                let named = match task.payload.get("input_format").and_then(Value::as_str) {
                    Some(from) => {
                        let stem = input
                            .filename
                            .rsplit_once('.')
                            .map_or(input.filename.as_str(), |(s, _)| s);
                        format!("{stem}.{from}")
                    }
                    None => input.filename.clone(),
                };
                match shared
                    .engine
                    .convert(input.bytes.clone(), &named, &target, &options)
                    .await
                {
                    Ok(produced) => files.extend(produced.into_iter().map(|p| CcFile {
                        filename: if text("filename").is_empty() {
                            p.filename
                        } else {
                            text("filename")
                        },
                        bytes: p.bytes,
                        content_type: p.content_type,
                    })),
                    Err(Refusal::Unsupported(m)) => {
                        failure = Some(("INVALID_CONVERSION_TYPE", m));
                        break;
                    }
                    Err(refusal) => {
                        failure = Some(("CONVERSION_FAILED", refusal.message().to_owned()));
                        break;
                    }
                }
            }
            match failure {
                Some(f) => Err(f),
                None => Ok((files, 1)),
            }
        }
        "export/url" => {
            let hostile = shared.result_fault("cc.poll").is_some();
            Ok((
                inputs
                    .into_iter()
                    .map(|mut f| {
                        if hostile {
                            f.filename = "../../evil.bin".into();
                        }
                        f
                    })
                    .collect(),
                0,
            ))
        }
        _ => Err(("INVALID_DATA", "The operation is not supported.".into())),
    };
    edit_task(shared, id, name, |task| match outcome {
        Ok((files, credits)) => {
            task.status = "finished".into();
            task.files = files;
            task.credits = Some(credits);
            task.ended_at = Some(now());
        }
        Err((code, message)) => fail_task(task, code, &message),
    });
}

/// POSTs a webhook signed with `CloudConvert-Signature` when the emulator has a webhook secret;
/// retried three times on a network error or a 5xx, as the vendor does.
async fn deliver(shared: &Shared, url: &str, body: String) {
    let fault = shared.fault("cc.callback");
    if let Some(Fault::Slow { delay_ms }) = fault {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    }
    let signature = |genuine: bool| {
        shared.config.webhook_secret.as_ref().map(|secret| {
            let mut mac =
                Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
            mac.update(body.as_bytes());
            let sig = hex::encode(mac.finalize().into_bytes());
            if genuine {
                sig
            } else {
                "0".repeat(sig.len())
            }
        })
    };
    let copies = match fault {
        Some(Fault::Duplicate) => vec![true, true],
        Some(Fault::Forged) => vec![false, true],
        _ => vec![true],
    };
    for genuine in copies {
        for attempt in 0..4u32 {
            let mut request = shared
                .http
                .post(url)
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::USER_AGENT, "CloudConvert-Webhook")
                .timeout(Duration::from_secs(10))
                .body(body.clone());
            if let Some(sig) = signature(genuine) {
                request = request.header("CloudConvert-Signature", sig);
            }
            shared.count("cc.webhook");
            match request.send().await {
                Ok(r) if !r.status().is_server_error() => break,
                _ => tokio::time::sleep(Duration::from_millis(200 << attempt)).await,
            }
        }
    }
}
