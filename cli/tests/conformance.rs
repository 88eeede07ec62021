//! `multiconvert conformance record|check` against the emulator: every scenario recorded from it
//! (every vendor, both ConvertAPI routes) replays green through the shared suite unchanged, no
//! recorded file holds a secret, and drift planted in the emulator (a renamed field, a new
//! status, a changed status code) is reported as `changed` with the field named.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use multiconvert_cloudconvert::CloudConvert;
use multiconvert_conformance::check::outcome_differences;
use multiconvert_conformance::{fake_secret, run_scenario, Cassette, Outcome};
use multiconvert_convertapi::{AsyncRoute, ConvertApi};
use multiconvert_core::http::{HttpConfig, RetryPolicy};
use multiconvert_core::ConversionProvider;
use multiconvert_emulator::{Emulator, EmulatorConfig, Fault, FaultSpec, Running};
use multiconvert_online_convert::OnlineConvert;
use serde_json::Value;

// Unique values, searched for in every recorded file afterwards.
const OC_KEY: &str = "oc-key-3c9e1a7f5d2b";
const CA_SECRET: &str = "ca-secret-8b4d2f6a0e1c";
const CC_KEY: &str = "cc-key-6f1b3d5a7c9e";
const WEBHOOK_SECRET: &str = "wh-secret-5e7a9c1b3d4f";

async fn emulator() -> Running {
    emulator_working(Duration::from_millis(20)).await
}

async fn emulator_working(work: Duration) -> Running {
    Emulator::start(
        EmulatorConfig::default()
            .work(work)
            .online_convert_key(OC_KEY)
            .convertapi_secret(CA_SECRET)
            .cloudconvert_key(CC_KEY)
            .webhook_secret(WEBHOOK_SECRET),
    )
    .await
    .unwrap()
}

#[derive(Clone, Copy, Debug)]
enum Suite {
    OnlineConvert,
    ConvertApi(AsyncRoute),
    CloudConvert,
}

impl Suite {
    const ALL: [Suite; 4] = [
        Suite::OnlineConvert,
        Suite::ConvertApi(AsyncRoute::Current),
        Suite::ConvertApi(AsyncRoute::Legacy),
        Suite::CloudConvert,
    ];

    fn name(self) -> String {
        match self {
            Suite::OnlineConvert => "online-convert".into(),
            Suite::ConvertApi(route) => format!("convertapi-{}", route.as_str()),
            Suite::CloudConvert => "cloudconvert".into(),
        }
    }

    fn provider_arg(self) -> &'static str {
        match self {
            Suite::OnlineConvert => "online-convert",
            Suite::ConvertApi(_) => "convertapi",
            Suite::CloudConvert => "cloudconvert",
        }
    }

    fn env(self, emulator: &Running) -> Vec<(&'static str, String)> {
        match self {
            Suite::OnlineConvert => vec![
                ("API2CONVERT_API_KEY", OC_KEY.into()),
                ("API2CONVERT_BASE_URL", emulator.online_convert_url()),
                ("API2CONVERT_WEBHOOK_SECRET", WEBHOOK_SECRET.into()),
            ],
            Suite::ConvertApi(route) => vec![
                ("CONVERTAPI_SECRET", CA_SECRET.into()),
                ("CONVERTAPI_BASE_URL", emulator.convertapi_url()),
                ("CONVERTAPI_ASYNC_ROUTE", route.as_str().into()),
            ],
            Suite::CloudConvert => vec![
                ("CLOUDCONVERT_API_KEY", CC_KEY.into()),
                ("CLOUDCONVERT_BASE_URL", emulator.cloudconvert_url()),
                ("CLOUDCONVERT_WEBHOOK_SECRET", WEBHOOK_SECRET.into()),
            ],
        }
    }

    /// The provider the shared suite replays with: the harness's fake secrets.
    fn replay_provider(self, base: &str) -> Arc<dyn ConversionProvider> {
        let http = HttpConfig::default().with_retry(
            RetryPolicy::default()
                .with_backoff(Duration::from_millis(10), Duration::from_millis(50)),
        );
        match self {
            Suite::OnlineConvert => Arc::new(
                OnlineConvert::new(
                    multiconvert_online_convert::Config::builder()
                        .api_key(fake_secret("api_key"))
                        .base_url(format!("{base}/v2"))
                        .webhook_secret(fake_secret("webhook_secret"))
                        .http(http)
                        .build()
                        .unwrap(),
                )
                .unwrap(),
            ),
            Suite::ConvertApi(route) => Arc::new(
                ConvertApi::new(
                    multiconvert_convertapi::Config::builder()
                        .secret(fake_secret("secret"))
                        .base_url(base)
                        .route(route)
                        .submit_style(multiconvert_convertapi::SubmitStyle::Async)
                        .http(http)
                        .build()
                        .unwrap(),
                )
                .unwrap(),
            ),
            Suite::CloudConvert => Arc::new(
                CloudConvert::new(
                    multiconvert_cloudconvert::Config::builder()
                        .api_key(fake_secret("api_key"))
                        .base_url(format!("{base}/v2"))
                        .webhook_secret(fake_secret("webhook_secret"))
                        .http(http)
                        .build()
                        .unwrap(),
                )
                .unwrap(),
            ),
        }
    }
}

/// Runs the binary (off the runtime the emulator serves on); its exit code and JSON lines.
async fn multiconvert(args: Vec<String>, env: Vec<(&'static str, String)>) -> (i32, Vec<Value>) {
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_multiconvert"));
        command.args(&args).env("RUST_BACKTRACE", "0");
        for name in [
            "API2CONVERT_API_KEY",
            "ONLINE_CONVERT_API_KEY",
            "API2CONVERT_BASE_URL",
            "API2CONVERT_WEBHOOK_SECRET",
            "CONVERTAPI_SECRET",
            "CONVERTAPI_BASE_URL",
            "CONVERTAPI_ASYNC_ROUTE",
            "CLOUDCONVERT_API_KEY",
            "CLOUDCONVERT_BASE_URL",
            "CLOUDCONVERT_SYNC_BASE_URL",
            "CLOUDCONVERT_WEBHOOK_SECRET",
            "MULTICONVERT_RECORD",
        ] {
            command.env_remove(name);
        }
        command.envs(env);
        let output = command.output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let lines = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert!(
            output.status.code().is_some(),
            "killed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.code().unwrap(), lines)
    })
    .await
    .unwrap()
}

fn args(action: &str, suite: Suite, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["conformance", action, "--provider", suite.provider_arg()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(["--emulator".into(), "--json".into()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_recorded_from_the_emulator_replays_green_and_holds_no_secret() {
    let emulator = emulator().await;
    let work = tempfile::tempdir().unwrap();
    for suite in Suite::ALL {
        let dir = work.path().join(suite.name());
        let out = dir.to_string_lossy().into_owned();
        let (code, lines) = multiconvert(
            args("record", suite, &["--out", &out]),
            suite.env(&emulator),
        )
        .await;
        assert_eq!(code, 0, "{suite:?}: {lines:?}");
        let plan = &lines[0]["plan"];
        let recorded: Vec<String> = lines
            .iter()
            .filter(|l| l.get("recorded").is_some())
            .map(|l| l["scenario"].as_str().unwrap().to_owned())
            .collect();
        let skipped: Vec<&Value> = lines.iter().filter(|l| l["verdict"] == "skipped").collect();
        // Every scenario the vendor's capabilities allow; ConvertAPI's callbacks are unsigned.
        let expected = match suite {
            Suite::OnlineConvert | Suite::CloudConvert => 12,
            Suite::ConvertApi(_) => 11,
        };
        assert_eq!(recorded.len(), expected, "{suite:?}: {lines:?}");
        assert!(
            skipped.iter().all(|s| s["scenario"] == "webhook_forged"),
            "{skipped:?}"
        );
        assert!(plan["jobs"].as_u64().unwrap() >= 8, "{plan}");

        for scenario in &recorded {
            let cassette = Cassette::load(&dir.join(format!("{scenario}.json"))).unwrap();
            assert_eq!(
                cassette.provenance.kind,
                multiconvert_conformance::cassette::ProvenanceKind::Recorded
            );
            let recorded_from = cassette.provenance.recorded.as_ref().unwrap();
            assert_eq!(recorded_from.crate_version, env!("CARGO_PKG_VERSION"));
            let outcome =
                run_scenario(&dir, scenario, |base: &str| suite.replay_provider(base)).await;
            let value = match outcome {
                Outcome::Passed(value) => value,
                other => panic!("{suite:?} {scenario}: the recording does not replay: {other:?}"),
            };
            let changed: Vec<_> = outcome_differences(cassette.outcome.as_ref().unwrap(), &value)
                .into_iter()
                .filter(|d| !d.added)
                .collect();
            assert!(changed.is_empty(), "{suite:?} {scenario}: {changed:?}");
        }

        // No secret in any file, the rejected credential included.
        for path in files(&dir) {
            let bytes = std::fs::read(&path).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            for secret in [
                OC_KEY,
                CA_SECRET,
                CC_KEY,
                WEBHOOK_SECRET,
                "mc-conformance-rejected-credential",
            ] {
                assert!(!text.contains(secret), "{} holds {secret}", path.display());
            }
        }
    }
    // Every job the runs created was deleted at the end.
    let state = emulator.state();
    for vendor in ["online_convert", "convertapi", "cloudconvert"] {
        let left: Vec<&Value> = state[vendor]["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|j| !matches!(j["status"].as_str(), Some("deleted" | "canceled")))
            .collect();
        assert!(
            left.is_empty(),
            "{vendor} jobs left at the emulator: {left:?}"
        );
    }
    assert_eq!(
        state["violations"],
        serde_json::json!([]),
        "{}",
        state["violations"]
    );
}

/// Records `scenario` as the baseline, then checks it against `emulator` after `drift` is armed.
async fn drift(suite: Suite, scenario: &str, drift: Vec<FaultSpec>) -> Vec<Value> {
    // Jobs long enough that polls see them running.
    let emulator = emulator_working(Duration::from_millis(300)).await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().to_string_lossy().into_owned();
    let only = ["--scenario", scenario, "--out", &dir];
    let (code, lines) = multiconvert(args("record", suite, &only), suite.env(&emulator)).await;
    assert_eq!(code, 0, "{lines:?}");
    let check = ["--scenario", scenario, "--baseline", &dir];
    let (code, lines) = multiconvert(args("check", suite, &check), suite.env(&emulator)).await;
    assert_eq!(code, 0, "an undrifted emulator is the same: {lines:?}");
    assert_eq!(lines[1]["verdict"], "same", "{lines:?}");
    for spec in drift {
        emulator.inject(spec).unwrap();
    }
    let (code, lines) = multiconvert(args("check", suite, &check), suite.env(&emulator)).await;
    assert_eq!(code, 10, "drift exits 10: {lines:?}");
    assert_eq!(lines[1]["verdict"], "changed", "{lines:?}");
    assert_eq!(lines.last().unwrap()["summary"]["changed"], 1);
    lines[1]["differences"].as_array().unwrap().clone()
}

fn many(operation: &str, fault: Fault) -> FaultSpec {
    let mut spec = FaultSpec::once(operation, fault);
    spec.count = Some(1000);
    spec
}

fn named(differences: &[Value], field: &str) -> Value {
    differences
        .iter()
        .find(|d| d["field"].as_str().is_some_and(|f| f.contains(field)) && d["added"] == false)
        .unwrap_or_else(|| panic!("no change names {field}: {differences:?}"))
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renamed_field_is_reported_with_its_name() {
    let rename = Fault::RenameField {
        from: "FileSize".into(),
        to: "Size".into(),
    };
    let diffs = drift(
        Suite::ConvertApi(AsyncRoute::Current),
        "remote_input_completes",
        vec![many("ca.poll", rename)],
    )
    .await;
    let missing = named(&diffs, "GET /async/job/{id} 200 $.Files[].FileSize");
    assert_eq!(missing["actual"], Value::Null);
    // The outcome names what the app would see: no size any more.
    named(&diffs, "$.job.outputs[0].size");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_status_is_reported_where_the_vendor_sent_it() {
    // Every running job is reported in a status the client has never seen.
    let new_status = Fault::ReplaceValue {
        from: "processing".into(),
        to: "finalising".into(),
    };
    let diffs = drift(
        Suite::OnlineConvert,
        "remote_input_completes",
        vec![many("oc.poll", new_status)],
    )
    .await;
    let status = named(&diffs, "$.status.code");
    assert_eq!(status["layer"], "status");
    assert_eq!(status["actual"], "finalising");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_status_code_is_reported_for_its_request() {
    let diffs = drift(
        Suite::ConvertApi(AsyncRoute::Legacy),
        "upload_input_completes",
        vec![many("ca.submit", Fault::Restatus { status: 201 })],
    )
    .await;
    let status = named(&diffs, " status");
    assert_eq!(status["actual"], "201");
}
