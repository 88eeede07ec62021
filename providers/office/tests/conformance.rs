//! The shared conformance suite against the office provider, on the fake soffice (no HTTP:
//! empty cassettes prove it sends nothing; the scenarios' documents come from the cassettes).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use multiconvert_core::ConversionProvider;

mod fake;
use fake::Fake;

fn office(_base: &str) -> Arc<dyn ConversionProvider> {
    // One fake for the whole run: it only holds the script and the jobs' root.
    static FAKE: OnceLock<Fake> = OnceLock::new();
    Arc::new(
        FAKE.get_or_init(Fake::new)
            .office(2, Duration::from_secs(20)),
    )
}

multiconvert_conformance::conformance_suite! {
    provider: "office",
    fixtures: concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/office"),
    factory: office,
}
