//! CloudConvert's job, list and error replies and its webhooks: any bytes parse to a value or a
//! typed error, and a webhook verifies only under its own signature.
#![no_main]

use http::{HeaderMap, HeaderValue, Method, StatusCode};
use libfuzzer_sys::fuzz_target;
use multiconvert_cloudconvert::response::{parse_error, parse_job, parse_jobs, to_job};
use multiconvert_cloudconvert::webhook::{parse_event, SIGNATURE_HEADER};
use multiconvert_core::{Operation, Secret, WebhookRequest};

fuzz_target!(|data: &[u8]| {
    if let Ok((wire, raw)) = parse_job(data, Operation::Poll) {
        if let Ok(job) = to_job(&wire, raw, Operation::Poll) {
            assert!(!job.handle.id.is_empty());
        }
    }
    let _ = parse_jobs(data, Operation::Poll);
    let _ = parse_error(
        Operation::Submit,
        StatusCode::UNPROCESSABLE_ENTITY,
        &HeaderMap::new(),
        data,
    );
    let mut headers = HeaderMap::new();
    headers.insert(SIGNATURE_HEADER, HeaderValue::from_static("00"));
    let request = WebhookRequest::new(Method::POST, "/hook", headers, data.to_vec());
    assert!(parse_event(&request, Some(&Secret::from("fuzz-secret"))).is_err());
    let _ = parse_event(&request, None);
});
