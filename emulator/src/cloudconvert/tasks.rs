//! Tasks (`../shared/reference/cloudconvert.md` §3, §4): the operations a job's graph may name and
//! their checks, `/tasks/{id}` and its wait on the sync host.

use std::collections::HashSet;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use base64::Engine as _;
use serde_json::{json, Value};

use super::common::{enter, error, invalid, json_status, terminal, S};
use super::objects::{form_signature, storage_base, task_by_id};
use super::records::CcTask;
use crate::faults::{self};
use crate::state::{uuid, Shared};

/// The operations the emulator runs; anything else is refused at create.
const OPERATIONS: &[&str] = &[
    "import/url",
    "import/upload",
    "import/base64",
    "import/raw",
    "convert",
    "export/url",
];

/// Checks a create body and builds the job's tasks, in the body's order.
pub(super) fn tasks_of(shared: &Shared, body: &Value) -> Result<Vec<CcTask>, Response> {
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

pub(super) async fn show_task(
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

pub(super) async fn wait_task(
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
