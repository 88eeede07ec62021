//! The shared conformance suite against online-convert cassettes.

mod common;

multiconvert_conformance::conformance_suite! {
    provider: "online-convert",
    fixtures: concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/online-convert"),
    factory: common::provider,
}
