//! The storage host's upload forms (`../shared/reference/cloudconvert.md` §3 `import/upload`): an
//! S3-style multipart POST, strict about field order, `Content-Length` and the form's signature.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use md5::{Digest, Md5};

use super::common::{now, s3_error, S};
use super::objects::storage_base;
use super::records::CcFile;
use crate::faults::{self};
use crate::MAX_BODY;

/// The storage's form POST: every field the form gave, then `file` last; 201 with S3's XML.
pub(super) async fn upload(
    State(shared): S,
    Path(task_id): Path<String>,
    request: Request,
) -> Response {
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
