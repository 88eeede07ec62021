//! A job played from `incomplete` through `downloading`, `processing` to `completed` or `failed`
//! (`../shared/reference/online-convert.md` §6), with the fault hooks of each step.

use std::sync::Arc;

use serde_json::json;

use super::callbacks::notify;
use super::edits::set_status;
use super::records::{OcConversion, OcInput, OcOutput};
use crate::faults::Fault;
use crate::state::{fetch, now, uuid, Shared};

/// Marks a job started and runs it in the background.
pub(super) fn begin(shared: &Arc<Shared>, id: &str, fault: Option<&Fault>) {
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
