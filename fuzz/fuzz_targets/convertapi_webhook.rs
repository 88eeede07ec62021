//! ConvertAPI callbacks (`?JobId=` in the URL, or a JSON body): any target and body is an event
//! or a rejection.
#![no_main]

use http::{HeaderMap, Method};
use libfuzzer_sys::fuzz_target;
use multiconvert_convertapi::webhook::parse_event;
use multiconvert_core::WebhookRequest;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let target = String::from_utf8_lossy(&data[..split]);
    let body = data.get(split + 1..).unwrap_or_default().to_vec();
    for method in [Method::POST, Method::GET] {
        let request = WebhookRequest::new(
            method,
            format!("/hooks/convertapi{target}"),
            HeaderMap::new(),
            body.clone(),
        );
        if let Ok(event) = parse_event(&request) {
            assert!(!event.verified, "ConvertAPI does not sign callbacks");
        }
    }
});
