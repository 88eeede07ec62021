//! Jobs and tasks as the API renders them (`../shared/reference/cloudconvert.md` §2, §3), with each
//! upload task's signed form and each export's URL.

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use serde_json::{json, Value};
use sha2::Sha256;

use super::records::{CcJob, CcTask};
use crate::state::Shared;

pub(super) fn storage_base(shared: &Shared) -> String {
    shared
        .cc_base
        .get()
        .map(|b| b.trim_end_matches("/v2").to_owned())
        .unwrap_or_default()
        + "/storage"
}

/// The signature an upload form carries: HMAC of the task id under a per-process key, so a
/// forged or reused form is refused.
pub(super) fn form_signature(shared: &Shared, task: &str) -> String {
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

pub(super) fn job_json(shared: &Shared, job: &CcJob, with_tasks: bool) -> Value {
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

pub(super) fn task_by_id(shared: &Shared, id: &str) -> Option<Value> {
    let inner = shared.lock();
    inner.cc_jobs.values().find_map(|job| {
        job.tasks
            .iter()
            .find(|t| t.id == id)
            .map(|t| task_json(shared, job, t))
    })
}
