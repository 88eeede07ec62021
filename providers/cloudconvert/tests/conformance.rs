//! The shared conformance suite against CloudConvert, replayed from `fixtures/cloudconvert/`.

use std::sync::Arc;

use multiconvert_cloudconvert::{CloudConvert, Config};
use multiconvert_conformance::scenarios::fast_policy;
use multiconvert_conformance::template::fake_secret;
use multiconvert_core::ConversionProvider;

fn cloudconvert(base: &str) -> Arc<dyn ConversionProvider> {
    Arc::new(
        CloudConvert::new(
            Config::builder()
                .api_key(fake_secret("api_key"))
                .base_url(format!("{base}/v2"))
                .webhook_secret(fake_secret("webhook_secret"))
                .poll_policy(fast_policy())
                .build()
                .unwrap(),
        )
        .unwrap(),
    )
}

multiconvert_conformance::conformance_suite! {
    provider: "cloudconvert",
    fixtures: concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/cloudconvert"),
    factory: cloudconvert,
}
