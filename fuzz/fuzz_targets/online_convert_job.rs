//! online-convert's job and error replies: any bytes parse to a job or a typed error.
#![no_main]

use http::{HeaderMap, StatusCode};
use libfuzzer_sys::fuzz_target;
use multiconvert_core::Operation;
use multiconvert_online_convert::response::{parse_error, parse_job, parse_timestamp, to_job};

fuzz_target!(|data: &[u8]| {
    if let Ok((wire, raw)) = parse_job(data, Operation::Poll) {
        let job = to_job(&wire, raw);
        assert!(!job.handle.id.is_empty());
    }
    let _ = parse_error(
        Operation::Poll,
        StatusCode::BAD_REQUEST,
        &HeaderMap::new(),
        data,
    );
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_timestamp(text);
    }
});
