//! What every provider shares: `Retry-After` values, vendor file names made safe, multiconvert's
//! callback tokens.
#![no_main]

use libfuzzer_sys::fuzz_target;
use multiconvert_core::http::parse_retry_after;
use multiconvert_core::{safe_filename, CallbackSigner};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_retry_after(&text, std::time::SystemTime::now());
    let safe = safe_filename(&text);
    assert!(!safe.is_empty() && !safe.contains(['/', '\\']) && safe != "." && safe != "..");
    let signer = CallbackSigner::new("fuzz-key").expect("a valid key");
    let (token, job) = text.split_once(' ').unwrap_or((&text, "job"));
    if signer.verify(token, job) {
        assert_eq!(token, signer.token(job), "a forged token was accepted");
    }
});
