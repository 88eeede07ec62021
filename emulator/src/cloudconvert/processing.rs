//! A job's task graph played to its end (`../shared/reference/cloudconvert.md` §3): each task runs
//! once the tasks it reads from ended, fails when one of them failed (unless it ignores errors),
//! with the fault hooks of each step.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::callbacks::deliver;
use super::common::{now, terminal};
use super::objects::job_json;
use super::records::{CcFile, CcTask};
use crate::engine::Refusal;
use crate::state::{fetch, Shared};

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
pub(super) async fn run(shared: Arc<Shared>, id: String) {
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
