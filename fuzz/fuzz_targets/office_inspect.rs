//! The office provider's input check: any bytes, declared as any office format, are a finding or
//! a typed refusal; a zip that passes declares no more than the limits allow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use multiconvert_office::inspect::{identify, inspect, ArchiveLimits, Found, Refusal};

fuzz_target!(|data: &[u8]| {
    let limits = ArchiveLimits::default().with_max_entries(Some(64));
    let found = identify(data, &limits);
    for declared in ["docx", "xlsx", "odt", "doc", "txt", "rtf"] {
        match inspect(data, declared, &limits) {
            Ok(f) => assert_eq!(Ok(f), found),
            Err(Refusal::Mismatch { found: f, .. }) => assert_eq!(Ok(f), found),
            Err(refusal) => assert_eq!(Err(refusal), found),
        }
    }
    if let Ok(Found::Format("docx" | "xlsx" | "pptx" | "odt" | "ods" | "odp")) = found {
        assert!(data.starts_with(b"PK"));
    }
});
