//! # multiconvert-conformance
//!
//! One suite of provider-neutral scenarios, replayed from cassettes (recorded or transcribed HTTP
//! traffic) on a loopback [wiremock] server, with [insta] snapshots of the normalised results. Every
//! multiconvert provider runs it; a third-party provider runs it the same way:
//!
//! ```ignore
//! // tests/conformance.rs of your provider crate
//! use std::sync::Arc;
//! multiconvert_conformance::conformance_suite! {
//!     provider: "acme",
//!     fixtures: concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/acme"),
//!     factory: |base_url: &str| -> Arc<dyn multiconvert_core::ConversionProvider> {
//!         Arc::new(acme::Provider::new(base_url, multiconvert_conformance::fake_secret("api_key")))
//!     },
//! }
//! ```
//!
//! The macro expands into one `#[test]` per scenario. A scenario the provider's
//! [`Capabilities`](multiconvert_core::Capabilities) rule out is skipped; any other needs a cassette
//! `<fixtures>/<scenario>.json` (format: [`cassette`]). A test fails when the provider misbehaves,
//! when it sends a request the cassette does not expect (a readable diff is printed), when it
//! leaves an interaction unused, or when the normalised outcome differs from the snapshot.

pub mod cassette;
pub mod check;
pub mod live;
pub mod record;
pub mod replay;
pub mod scenarios;
pub mod template;

use std::path::Path;
use std::sync::Arc;

use multiconvert_core::ConversionProvider;
use serde_json::Value;

pub use cassette::Cassette;
pub use replay::Replay;
pub use scenarios::{Context, Scenario, SCENARIOS};
pub use template::{fake_env, fake_secret, noise};

#[doc(hidden)]
pub use insta;

/// How one scenario went.
#[derive(Debug)]
pub enum Outcome {
    /// It ran and produced this normalised value.
    Passed(Value),
    /// The provider's capabilities rule it out.
    Skipped(String),
    /// It failed; the report says why.
    Failed(String),
}

/// Runs scenario `name` against the provider `factory` builds for a base URL, replaying
/// `<fixtures>/<name>.json`.
pub async fn run_scenario<F>(fixtures: &Path, name: &str, factory: F) -> Outcome
where
    F: Fn(&str) -> Arc<dyn ConversionProvider>,
{
    let Some(scenario) = scenarios::scenario(name) else {
        return Outcome::Failed(format!("no scenario is called {name}"));
    };
    let probe = factory("http://127.0.0.1:9");
    if !(scenario.applies)(&probe.info().capabilities) {
        return Outcome::Skipped(format!(
            "{} does not declare the capabilities {name} needs",
            probe.info().name
        ));
    }
    let path = fixtures.join(format!("{name}.json"));
    let cassette = match Cassette::load(&path) {
        Ok(c) => c,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let replay = Replay::start(&cassette, fixtures).await;
    let provider = factory(&replay.base_url());
    let workdir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return Outcome::Failed(format!("cannot create a scratch directory: {e}")),
    };
    let cx = Context {
        provider,
        cassette,
        replay: Some(replay),
        remote_url: scenarios::REMOTE_URL.to_owned(),
        existing: None,
        workdir,
        policy: scenarios::fast_policy(),
        fixtures: fixtures.to_path_buf(),
    };
    let result = (scenario.run)(&cx).await;
    let verified = cx.replay.as_ref().map_or(Ok(()), Replay::verify);
    match (result, verified) {
        (Ok(value), Ok(())) => Outcome::Passed(value),
        (Ok(_), Err(replay)) => Outcome::Failed(format!("{name}: {replay}")),
        (Err(failure), Ok(())) => Outcome::Failed(format!("{name}: {failure}")),
        (Err(failure), Err(replay)) => {
            Outcome::Failed(format!("{name}: {failure}\n\nreplay:\n{replay}"))
        }
    }
}

/// Runs a future to completion on a fresh multi-threaded runtime (what the generated tests use,
/// so the calling crate needs no tokio macros).
pub fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(future)
}

/// The insta settings of conformance snapshots: ids a client may generate and timestamps are
/// redacted, so a snapshot states behaviour, not one run's random values.
pub fn insta_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.add_redaction(".**.created_at", "[timestamp]");
    settings.add_redaction(".handle.id", "[job id]");
    settings.add_redaction(".**.handle.id", "[job id]");
    settings.add_redaction(".**.outputs[].id", "[output id]");
    settings
}

/// Expands into one `#[test]` per conformance scenario for a provider. See the crate docs.
#[macro_export]
macro_rules! conformance_suite {
    (provider: $name:expr, fixtures: $dir:expr, factory: $factory:expr $(,)?) => {
        $crate::conformance_suite!(@each $name, $dir, $factory;
            remote_input_completes, upload_input_completes, job_fails, not_found, auth_rejected,
            rate_limited_then_ok, quota_exhausted, transient_error_then_ok, delete_job,
            webhook_completed, webhook_forged, malformed_reply);
    };
    (@each $name:expr, $dir:expr, $factory:expr; $($scenario:ident),*) => {
        $(
            #[test]
            fn $scenario() {
                let outcome = $crate::block_on($crate::run_scenario(
                    ::std::path::Path::new($dir),
                    stringify!($scenario),
                    $factory,
                ));
                match outcome {
                    $crate::Outcome::Passed(value) => {
                        $crate::insta_settings().bind(|| {
                            $crate::insta::assert_json_snapshot!(
                                format!("{}__{}", $name, stringify!($scenario)),
                                value
                            );
                        });
                    }
                    $crate::Outcome::Skipped(why) => eprintln!("skipped: {why}"),
                    $crate::Outcome::Failed(report) => panic!("{report}"),
                }
            }
        )*
    };
}

/// The README's examples, compiled as doctests here (this crate sees every other crate, the
/// webhook receiver feature included), so the README cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
