//! ConvertAPI's submit, poll, result and error replies: any status and bytes give a job, a
//! running answer or a typed error.
#![no_main]

use http::{HeaderMap, HeaderValue, StatusCode};
use libfuzzer_sys::fuzz_target;
use multiconvert_convertapi::response::{parse_error, parse_poll, parse_result, parse_submit};
use multiconvert_core::{JobHandle, Operation};

fuzz_target!(|data: &[u8]| {
    let Some((&[hi, lo], body)) = data.split_first_chunk::<2>() else {
        return;
    };
    let code = 100 + u16::from_be_bytes([hi, lo]) % 500;
    let Ok(status) = StatusCode::from_u16(code) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    let handle = JobHandle::new("convertapi", "5f0b7c9e-2a1d-4e3b-8c6f-9d0e1f2a3b4c");
    let _ = parse_poll(&handle, status, &headers, body);
    let _ = parse_poll(&handle, status, &HeaderMap::new(), body);
    let _ = parse_error(Operation::Poll, status, &headers, body);
    let _ = parse_submit(body);
    let _ = parse_result(body, Operation::Poll);
});
