//! Shared helpers of the online-convert tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use multiconvert_conformance::{fake_secret, Cassette, Replay};
use multiconvert_core::http::{HttpConfig, RetryPolicy};
use multiconvert_core::ConversionProvider;
use multiconvert_online_convert::{Config, ConfigBuilder, OnlineConvert};

pub fn fixtures() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/online-convert"
    ))
}

/// A builder pointed at `base` with the harness's fake key and fast retries.
pub fn builder(base: &str) -> ConfigBuilder {
    Config::builder()
        .api_key(fake_secret("api_key"))
        .base_url(base)
        .http(
            HttpConfig::default().with_retry(
                RetryPolicy::default()
                    .with_backoff(Duration::from_millis(10), Duration::from_millis(50)),
            ),
        )
}

/// The provider the conformance suite runs: signed webhooks with the fake secret.
pub fn provider(base: &str) -> Arc<dyn ConversionProvider> {
    Arc::new(
        OnlineConvert::new(
            builder(&format!("{base}/v2"))
                .webhook_secret(fake_secret("webhook_secret"))
                .build()
                .unwrap(),
        )
        .unwrap(),
    )
}

/// Replays cassette `name` and hands the server to `body`; fails on any mismatch.
pub async fn replay(name: &str) -> (Cassette, Replay) {
    let cassette = Cassette::load(&fixtures().join(format!("{name}.json"))).unwrap();
    let replay = Replay::start(&cassette, &fixtures()).await;
    (cassette, replay)
}

#[track_caller]
pub fn verify(replay: &Replay) {
    if let Err(report) = replay.verify() {
        panic!("{report}");
    }
}
