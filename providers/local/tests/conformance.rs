//! The shared conformance suite against the local provider (no HTTP: empty cassettes prove it
//! sends nothing).

use std::sync::Arc;

use multiconvert_core::ConversionProvider;
use multiconvert_local::Local;

fn local(_base: &str) -> Arc<dyn ConversionProvider> {
    Arc::new(Local::new(std::env::temp_dir().join("multiconvert-local-conformance")).unwrap())
}

multiconvert_conformance::conformance_suite! {
    provider: "local",
    fixtures: concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/local"),
    factory: local,
}
