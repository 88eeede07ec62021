//! Shared helpers of the ConvertAPI tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use multiconvert_conformance::{fake_secret, Cassette, Replay};
use multiconvert_convertapi::{AsyncRoute, Config, ConfigBuilder, ConvertApi, SubmitStyle};
use multiconvert_core::http::{HttpConfig, RetryPolicy, Timeouts};
use multiconvert_core::{ConversionProvider, PollPolicy};

pub fn fixtures(route: AsyncRoute) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/convertapi"
    ))
    .join(route.as_str())
}

/// A builder pointed at `base` with the fake secret, fast retries and fast polling, submitting
/// async on `route` (the flows the cassettes hold; `held.rs` tests the semi-async default).
pub fn builder(base: &str, route: AsyncRoute) -> ConfigBuilder {
    let mut timeouts = Timeouts::default();
    timeouts.request = Duration::from_millis(1500);
    Config::builder()
        .secret(fake_secret("secret"))
        .base_url(base)
        .route(route)
        .submit_style(SubmitStyle::Async)
        .poll_policy(PollPolicy::fixed(
            Duration::from_millis(5),
            Duration::from_secs(10),
        ))
        .http(
            HttpConfig::default().with_timeouts(timeouts).with_retry(
                RetryPolicy::default()
                    .with_backoff(Duration::from_millis(10), Duration::from_millis(50)),
            ),
        )
}

pub fn provider(base: &str, route: AsyncRoute) -> Arc<dyn ConversionProvider> {
    Arc::new(ConvertApi::new(builder(base, route).build().unwrap()).unwrap())
}

pub async fn replay(route: AsyncRoute, name: &str) -> (Cassette, Replay) {
    let dir = fixtures(route);
    let cassette = Cassette::load(&dir.join(format!("{name}.json"))).unwrap();
    let replay = Replay::start(&cassette, &dir).await;
    (cassette, replay)
}

#[track_caller]
pub fn verify(replay: &Replay) {
    if let Err(report) = replay.verify() {
        panic!("{report}");
    }
}
