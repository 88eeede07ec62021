//! The objects of `../shared/reference/online-convert.md` §4 as the server renders them (job,
//! input, conversion, output), and §6's status codes with their `info` text.

use md5::{Digest, Md5};
use serde_json::{json, Value};

use super::api::server;
use super::records::{OcConversion, OcInput, OcJob, OcOutput};
use crate::state::Shared;

pub(super) fn input_json(input: &OcInput) -> Value {
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

pub(super) fn conversion_json(c: &OcConversion) -> Value {
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

pub(super) fn output_json(shared: &Shared, o: &OcOutput) -> Value {
    let name: String = url::form_urlencoded::byte_serialize(o.filename.as_bytes()).collect();
    json!({
        "id": o.id, "source": {"conversion": o.conversion, "input": [o.input]},
        "uri": format!("{}/download-file/{}/{}", server(shared), o.id, name),
        "filename": o.filename, "size": o.bytes.len(), "status": "enabled",
        "content_type": o.content_type, "downloads_counter": o.downloads,
        "checksum": hex::encode(Md5::digest(&o.bytes)), "created_at": o.created_at,
    })
}

pub(super) fn job_json(shared: &Shared, job: &OcJob) -> Value {
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

pub(super) fn info(status: &str) -> &'static str {
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
