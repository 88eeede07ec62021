//! online-convert callbacks: any body and signature, signed or not, is an event or a rejection;
//! a forged signature is never accepted.
#![no_main]

use http::{HeaderMap, HeaderValue, Method};
use libfuzzer_sys::fuzz_target;
use multiconvert_core::{Secret, WebhookRequest};
use multiconvert_online_convert::webhook::{parse_event, sign};
use multiconvert_online_convert::WebhookVerification;

fuzz_target!(|data: &[u8]| {
    // The first line is the claimed signature, the rest the body.
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let (signature, body) = (&data[..split], data.get(split + 1..).unwrap_or_default());
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(signature) {
        headers.insert("x-oc-signature", value);
    }
    let request = WebhookRequest::new(
        Method::POST,
        "/hooks/online-convert",
        headers,
        body.to_vec(),
    );
    let _ = parse_event(&request, &WebhookVerification::Unsigned);
    let secret = Secret::new("fuzz-secret".to_owned());
    let verified = parse_event(&request, &WebhookVerification::Secret(secret.clone()));
    if verified.is_ok() {
        assert_eq!(
            signature,
            sign(&secret, body).as_bytes(),
            "a forged signature was accepted"
        );
    }
});
