//! The shared conformance suite against ConvertAPI cassettes, once per async route.

mod common;

mod current {
    use super::common;
    use multiconvert_convertapi::AsyncRoute;

    multiconvert_conformance::conformance_suite! {
        provider: "convertapi-current",
        fixtures: concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/convertapi/current"),
        factory: |base: &str| common::provider(base, AsyncRoute::Current),
    }
}

mod legacy {
    use super::common;
    use multiconvert_convertapi::AsyncRoute;

    multiconvert_conformance::conformance_suite! {
        provider: "convertapi-legacy",
        fixtures: concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/convertapi/legacy"),
        factory: |base: &str| common::provider(base, AsyncRoute::Legacy),
    }
}
