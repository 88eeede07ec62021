//! The built `multiconvert` binary, end to end: against the local provider, and against
//! wiremock-served cassettes of both vendors through the base-URL variables. Every exit code and
//! the `--json` shape for both vendors.

use std::path::{Path, PathBuf};
use std::process::Command;

use multiconvert_conformance::{fake_secret, Cassette, Replay};
use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const VENDOR_VARS: &[&str] = &[
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
    "CLOUDCONVERT_SANDBOX",
    "CLOUDCONVERT_WEBHOOK_SECRET",
];

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn sample(name: &str) -> String {
    root()
        .join("fixtures/samples")
        .join(name)
        .display()
        .to_string()
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        let lines: Vec<&str> = self.stdout.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "exactly one JSON line on stdout: {:?}",
            self.stdout
        );
        serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

/// Runs the binary with no vendor configured except `env`, jobs under `dir`.
async fn run(args: &[&str], env: &[(&str, String)], dir: &Path) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_multiconvert"));
    cmd.args(args)
        .current_dir(dir)
        .env("MULTICONVERT_LOCAL_DIR", dir.join("jobs"));
    for var in VENDOR_VARS {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn replay(rel: &str) -> Replay {
    let dir = root().join("fixtures").join(rel);
    let (dir, name) = (
        dir.parent().unwrap().to_path_buf(),
        dir.file_name().unwrap().to_string_lossy().into_owned(),
    );
    let cassette = Cassette::load(&dir.join(format!("{name}.json"))).unwrap();
    Replay::start(&cassette, &dir).await
}

fn oc_env(replay_base: &str) -> Vec<(&'static str, String)> {
    vec![
        ("API2CONVERT_API_KEY", fake_secret("api_key")),
        ("API2CONVERT_BASE_URL", format!("{replay_base}/v2")),
    ]
}

/// ConvertAPI against a cassette: the async flow the cassettes hold (the CLI's default holds a
/// short job's request open instead; `converts_through_every_vendor_on_the_emulator` runs that).
fn ca_env(replay_base: &str) -> Vec<(&'static str, String)> {
    vec![
        ("CONVERTAPI_SECRET", fake_secret("secret")),
        ("CONVERTAPI_BASE_URL", replay_base.to_owned()),
        ("CONVERTAPI_SUBMIT", "async".to_owned()),
    ]
}

/// A loopback address nothing listens on: connections are refused before anything is sent.
fn dead_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// `multiconvert convert <the cassettes' remote sample> --to jpg [--provider P] --out out --json`.
async fn convert_sample(provider: Option<&str>, env: &[(&str, String)], dir: &Path) -> Run {
    let mut args = vec!["convert", "https://example.com/sample.png", "--to", "jpg"];
    if let Some(p) = provider {
        args.extend(["--provider", p]);
    }
    args.extend(["--out", "out", "--json"]);
    run(&args, env, dir).await
}

/// The keys of `convert --json`'s object: a public contract.
const CONVERT_KEYS: [&str; 8] = [
    "attempts",
    "cost",
    "cost_unit",
    "job_id",
    "outputs",
    "price",
    "provider",
    "status",
];

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort();
    k
}

#[track_caller]
fn assert_error(run: &Run, code: i32, kind: &str, provider: &str) {
    assert_eq!(
        run.code, code,
        "stdout {} stderr {}",
        run.stdout, run.stderr
    );
    let v = run.json();
    assert_eq!(keys(&v), ["error"]);
    assert_eq!(keys(&v["error"]), ["kind", "message", "provider"]);
    assert_eq!(v["error"]["kind"], kind, "{v}");
    assert_eq!(v["error"]["provider"], provider, "{v}");
    assert!(
        !run.stdout.contains("mc-fake-"),
        "a secret in the output: {}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_local_conversion_with_no_account() {
    let dir = tempfile::tempdir().unwrap();
    let photo = sample("photo.png");
    let r = run(
        &["convert", &photo, "--to", "jpg", "--out", "out", "--json"],
        &[],
        dir.path(),
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    assert_eq!(keys(&v), CONVERT_KEYS);
    assert_eq!(v["provider"], "local");
    assert_eq!(v["status"], "completed");
    // The in-process provider reports no cost.
    assert_eq!((&v["cost"], &v["price"]), (&Value::Null, &Value::Null));
    let output = &v["outputs"][0];
    assert_eq!(keys(output), ["filename", "path", "size"]);
    assert_eq!(output["filename"], "photo.jpg");
    let bytes = std::fs::read(dir.path().join("out/photo.jpg")).unwrap();
    assert_eq!(bytes.len() as u64, output["size"].as_u64().unwrap());
    let image = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg).unwrap();
    assert_eq!((image.width(), image.height()), (64, 48));

    // Human output, an option, and the same file again: refused, then renamed on request.
    let r = run(
        &["convert", &photo, "--to", "jpg", "--out", "out"],
        &[],
        dir.path(),
    )
    .await;
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
    let r = run(
        &[
            "convert",
            &photo,
            "--to",
            "jpg",
            "--out",
            "out",
            "--on-conflict",
            "rename",
            "--option",
            "quality=20",
        ],
        &[],
        dir.path(),
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("photo (1).jpg"), "{}", r.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_status_delete_and_no_wait() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &[
            "convert",
            &sample("photo.gif"),
            "--to",
            "png",
            "--no-wait",
            "--json",
        ],
        &[],
        dir.path(),
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["outputs"], serde_json::json!([]));
    let id = v["job_id"].as_str().unwrap().to_owned();
    let r = run(
        &["status", "--provider", "local", &id, "--json"],
        &[],
        dir.path(),
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["status"], "completed");
    assert_eq!(v["outputs"][0]["filename"], "photo.png");
    let r = run(
        &["delete", "--provider", "local", &id, "--json"],
        &[],
        dir.path(),
    )
    .await;
    assert_eq!(r.code, 0);
    assert_eq!(r.json()["deleted"], true);
    let r = run(
        &["status", "--provider", "local", &id, "--json"],
        &[],
        dir.path(),
    )
    .await;
    assert_error(&r, 5, "not_found", "local");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["convert", "a.png"],
        vec!["convert", "a.png", "--to", "jpg", "--bogus"],
        vec!["convert", "a.png", "--to", "jpg", "--option", "novalue"],
        vec!["convert", "a.png", "--to", "jpg", "--provider", "acme"],
        vec!["status", "--provider", "auto", "x"],
        vec!["frobnicate"],
    ] {
        let r = run(&args, &[], dir.path()).await;
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
    }
    assert_eq!(run(&["--help"], &[], dir.path()).await.code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_input_and_failed_conversions_locally() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &["convert", &sample("photo.png"), "--to", "pdf", "--json"],
        &[],
        dir.path(),
    )
    .await;
    assert_error(&r, 5, "unsupported", "local");
    let r = run(
        &["convert", "missing.png", "--to", "jpg", "--json"],
        &[],
        dir.path(),
    )
    .await;
    assert_error(&r, 5, "io", "local");
    let r = run(
        &["convert", &sample("corrupt.png"), "--to", "jpg", "--json"],
        &[],
        dir.path(),
    )
    .await;
    assert_error(&r, 6, "conversion_failed", "local");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_convert_end_to_end_with_json() {
    let dir = tempfile::tempdir().unwrap();
    let r = replay("online-convert/remote_input_completes").await;
    let run_ = convert_sample(Some("online-convert"), &oc_env(&r.base_url()), dir.path()).await;
    assert_eq!(run_.code, 0, "{}", run_.stderr);
    let v = run_.json();
    assert_eq!(keys(&v), CONVERT_KEYS);
    assert_eq!(v["provider"], "online-convert");
    assert_eq!(v["job_id"], "8daae6d1-26e0-11e5-b2a1-0800273b325b");
    // The recording's `spent`, in credits; no price set.
    assert_eq!(
        (&v["cost"], &v["cost_unit"]),
        (&0.into(), &"credits".into())
    );
    assert_eq!(v["price"], Value::Null);
    assert_eq!(v["outputs"][0]["filename"], "sample.jpg");
    assert!(dir.path().join("out/sample.jpg").is_file());
    if let Err(report) = r.verify() {
        panic!("{report}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn convertapi_end_to_end_with_json() {
    let dir = tempfile::tempdir().unwrap();
    let r = replay("convertapi/current/remote_input_completes").await;
    let mut env = ca_env(&r.base_url());
    env.push(("MULTICONVERT_PRICE_CONVERTAPI", "0.25".into()));
    let run_ = convert_sample(Some("convertapi"), &env, dir.path()).await;
    assert_eq!(run_.code, 0, "{}", run_.stderr);
    let v = run_.json();
    assert_eq!(keys(&v), CONVERT_KEYS);
    assert_eq!(v["provider"], "convertapi");
    assert_eq!(v["job_id"].as_str().unwrap().len(), 32);
    // The recording's `ConversionCost`, at the price the environment sets.
    assert_eq!(
        (&v["cost"], &v["cost_unit"]),
        (&1.into(), &"conversions".into())
    );
    assert_eq!(v["price"], 0.25);
    assert!(dir.path().join("out/sample.jpg").is_file());
    if let Err(report) = r.verify() {
        panic!("{report}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_fails_over_from_a_dead_vendor_to_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let r = replay("convertapi/current/remote_input_completes").await;
    let dead = dead_address();
    let mut env = oc_env(&dead);
    env.extend(ca_env(&r.base_url()));
    let run_ = convert_sample(None, &env, dir.path()).await;
    assert_eq!(run_.code, 0, "{}", run_.stderr);
    let v = run_.json();
    assert_eq!(v["provider"], "convertapi");
    assert_eq!(v["attempts"][0]["provider"], "online-convert");
    assert_eq!(v["attempts"][0]["error"], "transport");
    assert_eq!(v["attempts"][1]["provider"], "convertapi");
}

/// CloudConvert against its cassette: a custom API base and no sync host, so the wait polls.
fn cc_env(replay_base: &str) -> Vec<(&'static str, String)> {
    vec![
        ("CLOUDCONVERT_API_KEY", fake_secret("api_key")),
        ("CLOUDCONVERT_BASE_URL", format!("{replay_base}/v2")),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudconvert_end_to_end_with_json() {
    let dir = tempfile::tempdir().unwrap();
    let r = replay("cloudconvert/remote_input_completes").await;
    let run_ = convert_sample(Some("cloudconvert"), &cc_env(&r.base_url()), dir.path()).await;
    assert_eq!(run_.code, 0, "{} {}", run_.stdout, run_.stderr);
    let v = run_.json();
    assert_eq!(v["provider"], "cloudconvert");
    assert_eq!(v["job_id"], "cd82535b-0614-4b23-bbba-b24ab0e892f7");
    assert!(dir.path().join("out/sample.jpg").is_file());
    if let Err(report) = r.verify() {
        panic!("{report}");
    }
}

/// Three vendors in `auto`'s order: online-convert and ConvertAPI out of credits, CloudConvert
/// converts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_fails_over_across_three_vendors_to_cloudconvert() {
    let dir = tempfile::tempdir().unwrap();
    let oc = replay("online-convert/quota_exhausted").await;
    let ca = replay("convertapi/current/quota_exhausted").await;
    let cc = replay("cloudconvert/remote_input_completes").await;
    let mut env = oc_env(&oc.base_url());
    env.extend(ca_env(&ca.base_url()));
    env.extend(cc_env(&cc.base_url()));
    let run_ = convert_sample(None, &env, dir.path()).await;
    assert_eq!(run_.code, 0, "{} {}", run_.stdout, run_.stderr);
    let v = run_.json();
    assert_eq!(v["provider"], "cloudconvert", "{v}");
    let attempts: Vec<(&str, &str)> = v["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["provider"].as_str().unwrap(),
                a["error"].as_str().unwrap_or("none"),
            )
        })
        .collect();
    assert_eq!(
        attempts[..2],
        [
            ("online-convert", "quota_exhausted"),
            ("convertapi", "quota_exhausted")
        ],
        "{v}"
    );
    assert_eq!(attempts[2].0, "cloudconvert", "{v}");
    for r in [oc, ca, cc] {
        if let Err(report) = r.verify() {
            panic!("{report}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vendor_errors_map_to_their_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let url = "https://example.com/sample.png";
    let convert = |p: &'static str| vec!["convert", url, "--to", "jpg", "--provider", p, "--json"];
    let status = |p: &'static str, id: &'static str| vec!["status", "--provider", p, id, "--json"];
    let oc_missing = "00000000-0000-0000-0000-000000000000";
    let ca_missing = "rwvd6vtq58eurfwv5zw5h2ci2pgno1pn";
    // (cassette or none, arguments, exit code, error kind, provider)
    type Case<'a> = (Option<&'a str>, Vec<&'a str>, i32, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            None,
            convert("online-convert"),
            3,
            "config",
            "online-convert",
        ),
        (None, convert("convertapi"), 3, "config", "convertapi"),
        (
            Some("online-convert/auth_rejected"),
            convert("online-convert"),
            3,
            "unauthenticated",
            "online-convert",
        ),
        (
            Some("convertapi/current/auth_rejected"),
            convert("convertapi"),
            3,
            "unauthenticated",
            "convertapi",
        ),
        (
            Some("online-convert/quota_exhausted"),
            convert("online-convert"),
            4,
            "quota_exhausted",
            "online-convert",
        ),
        (
            Some("convertapi/current/quota_exhausted"),
            convert("convertapi"),
            4,
            "quota_exhausted",
            "convertapi",
        ),
        (
            Some("online-convert/not_found"),
            status("online-convert", oc_missing),
            5,
            "not_found",
            "online-convert",
        ),
        (
            Some("convertapi/current/not_found"),
            status("convertapi", ca_missing),
            5,
            "not_found",
            "convertapi",
        ),
        (
            Some("online-convert/job_fails"),
            convert("online-convert"),
            6,
            "conversion_failed",
            "online-convert",
        ),
        (
            Some("convertapi/current/job_fails"),
            convert("convertapi"),
            6,
            "conversion_failed",
            "convertapi",
        ),
    ];
    for (cassette, args, code, kind, provider) in cases {
        let (replay, env) = match cassette {
            Some(name) => {
                let r = replay(name).await;
                let env = if provider == "convertapi" {
                    ca_env(&r.base_url())
                } else {
                    oc_env(&r.base_url())
                };
                (Some(r), env)
            }
            None => (None, Vec::new()),
        };
        assert_error(&run(&args, &env, dir.path()).await, code, kind, provider);
        if let Some(Err(report)) = replay.map(|r| r.verify()) {
            panic!("{cassette:?}: {report}");
        }
    }

    // 8: the vendor is unreachable.
    let dead = dead_address();
    assert_error(
        &run(&convert("online-convert"), &oc_env(&dead), dir.path()).await,
        8,
        "transport",
        "online-convert",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_never_finishes_times_out_with_exit_7() {
    let dir = tempfile::tempdir().unwrap();
    let vendor = MockServer::start().await;
    let job = serde_json::json!({"id": "8daae6d1-26e0-11e5-b2a1-0800273b325b", "token": "t",
        "status": {"code": "processing"}, "input": [], "server": format!("{}/dl", vendor.uri())});
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(job.clone()))
        .mount(&vendor)
        .await;
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(200).set_body_json(job.clone()))
        .mount(&vendor)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(job))
        .mount(&vendor)
        .await;
    let r = run(
        &[
            "convert",
            "https://example.com/sample.png",
            "--to",
            "jpg",
            "--provider",
            "online-convert",
            "--timeout",
            "1",
            "--json",
        ],
        &oc_env(&vendor.uri()),
        dir.path(),
    )
    .await;
    assert_error(&r, 7, "timeout", "online-convert");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vendor_status_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let r = replay("online-convert/transient_error_then_ok").await;
    let out = run(
        &[
            "status",
            "--provider",
            "online-convert",
            "8daae6d1-26e0-11e5-b2a1-0800273b325b",
            "--json",
        ],
        &oc_env(&r.base_url()),
        dir.path(),
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json()["status"], "processing");
    let r = replay("convertapi/current/delete_job").await;
    let out = run(
        &[
            "delete",
            "--provider",
            "convertapi",
            "rwvd6vtq58eurfwv5zw5h2ci2pgno1pn",
            "--json",
        ],
        &ca_env(&r.base_url()),
        dir.path(),
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json()["deleted"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_lists_all_four_configured_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &["providers", "--json"],
        &[("CONVERTAPI_SECRET", "x".into())],
        dir.path(),
    )
    .await;
    assert_eq!(r.code, 0);
    let v = r.json();
    let list = v["providers"].as_array().unwrap();
    let names: Vec<&str> = list.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "local",
            "office",
            "online-convert",
            "convertapi",
            "cloudconvert"
        ]
    );
    assert_eq!(list[2]["configured"], false);
    assert_eq!(list[3]["configured"], true);
    assert_eq!(list[0]["capabilities"]["upload"], true);
    assert_eq!(list[0]["capabilities"]["remote_input"], false);
    assert_eq!(list[2]["capabilities"]["staged_jobs"], true);
    // The office provider: found (with its version) or how to install it.
    let office_note = list[1]["note"].as_str().unwrap();
    if list[1]["configured"] == true {
        assert!(office_note.starts_with("LibreOffice"), "{office_note}");
    } else {
        assert!(office_note.contains("apt-get install"), "{office_note}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_resubmits_a_job_the_vendor_failed_on_its_side() {
    let dir = tempfile::tempdir().unwrap();
    let r = replay("convertapi/current/vendor_failure").await;
    let run_ = run(
        &[
            "convert",
            &sample("photo.png"),
            "--to",
            "jpg",
            "--out",
            "out",
            "--json",
        ],
        &ca_env(&r.base_url()),
        dir.path(),
    )
    .await;
    assert_eq!(run_.code, 0, "{}", run_.stderr);
    let v = run_.json();
    assert_eq!(v["provider"], "local", "{v}");
    let attempts = v["attempts"].as_array().unwrap();
    assert_eq!(attempts[0]["provider"], "convertapi");
    assert_eq!(attempts[1]["provider"], "convertapi");
    assert_eq!(attempts[1]["error"], "conversion_failed");
    assert_eq!(attempts.last().unwrap()["provider"], "local");
    assert!(dir.path().join("out/photo.jpg").is_file());
    if let Err(report) = r.verify() {
        panic!("{report}");
    }
}

/// Item: a job whose outputs share a file name saves them all, under distinct names, and the
/// JSON reports each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_that_share_a_name_are_all_saved_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let r = replay("online-convert/outputs_share_a_name").await;
    let run_ = convert_sample(Some("online-convert"), &oc_env(&r.base_url()), dir.path()).await;
    assert_eq!(run_.code, 0, "{} {}", run_.stdout, run_.stderr);
    let v = run_.json();
    let names: Vec<&str> = v["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["filename"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sample.jpg", "sample-2.jpg"]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out/sample-2.jpg")).unwrap(),
        "stand-in for the second converted JPEG\n"
    );
    assert!(dir.path().join("out/sample.jpg").is_file());
    if let Err(report) = r.verify() {
        panic!("{report}");
    }
}

/// The CLI against the emulator, for both vendors: real files, one job each, no violations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converts_through_every_vendor_on_the_emulator() {
    let emulator = multiconvert_emulator::Emulator::start(
        multiconvert_emulator::EmulatorConfig::default().work(std::time::Duration::from_millis(20)),
    )
    .await
    .unwrap();
    let photo = sample("photo.png");
    let cases = [
        (
            "online-convert",
            vec![
                ("API2CONVERT_API_KEY", "emulated-key".to_owned()),
                ("API2CONVERT_BASE_URL", emulator.online_convert_url()),
            ],
        ),
        (
            "convertapi",
            vec![
                ("CONVERTAPI_SECRET", "emulated-secret".to_owned()),
                ("CONVERTAPI_BASE_URL", emulator.convertapi_url()),
            ],
        ),
        // CloudConvert with its sync host (waiting is one request), then without (it polls).
        (
            "cloudconvert",
            vec![
                ("CLOUDCONVERT_API_KEY", "emulated-key".to_owned()),
                ("CLOUDCONVERT_BASE_URL", emulator.cloudconvert_url()),
                (
                    "CLOUDCONVERT_SYNC_BASE_URL",
                    emulator.cloudconvert_sync_url(),
                ),
            ],
        ),
        (
            "cloudconvert",
            vec![
                ("CLOUDCONVERT_API_KEY", "emulated-key".to_owned()),
                ("CLOUDCONVERT_BASE_URL", emulator.cloudconvert_url()),
            ],
        ),
    ];
    for (provider, env) in cases {
        let dir = tempfile::tempdir().unwrap();
        let r = run(
            &[
                "convert",
                &photo,
                "--to",
                "jpg",
                "--provider",
                provider,
                "--out",
                "out",
                "--json",
            ],
            &env,
            dir.path(),
        )
        .await;
        assert_eq!(r.code, 0, "{provider}: {} {}", r.stdout, r.stderr);
        let v = r.json();
        assert_eq!(v["provider"], provider);
        let path = v["outputs"][0]["path"].as_str().unwrap();
        let bytes = std::fs::read(dir.path().join(path)).unwrap();
        assert!(
            bytes.starts_with(&[0xFF, 0xD8, 0xFF]),
            "{provider}: not a JPEG"
        );
    }
    assert_eq!(emulator.count("oc.start"), 1);
    // A short ConvertAPI job is one held convert, answered with the result: no async submit,
    // no poll.
    assert_eq!(emulator.count("ca.convert"), 1);
    assert_eq!(emulator.count("ca.submit"), 0);
    assert_eq!(emulator.count("ca.poll"), 0);
    assert_eq!(emulator.count("cc.conversions"), 2);
    assert_eq!(
        emulator.count("cc.wait"),
        1,
        "the sync host served the first wait"
    );
    assert!(emulator.count("cc.poll") >= 1, "the second polled");
    assert_eq!(emulator.violations(), []);
}

/// `multiconvert emulate` prints its addresses as one JSON line and serves until stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulate_prints_its_addresses_and_serves() {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_multiconvert"))
        .args(["emulate", "--work-ms", "10"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        line
    })
    .await
    .unwrap();
    let addresses: Value = serde_json::from_str(&line).unwrap();
    let oc = addresses["online_convert"].as_str().unwrap().to_owned();
    let ca = addresses["convertapi"].as_str().unwrap().to_owned();
    assert!(
        oc.starts_with("http://127.0.0.1:") && oc.ends_with("/v2"),
        "{oc}"
    );
    assert!(ca.starts_with("http://127.0.0.1:"), "{ca}");
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &[
            "convert",
            &sample("photo.png"),
            "--to",
            "gif",
            "--provider",
            "convertapi",
            "--out",
            "out",
            "--json",
        ],
        &[
            ("CONVERTAPI_SECRET", "emulated-secret".to_owned()),
            ("CONVERTAPI_BASE_URL", ca.clone()),
        ],
        dir.path(),
    )
    .await;
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Documents with no account: docx, xlsx and pptx to PDF through `auto`, on LibreOffice. Without
/// LibreOffice this says so and passes, unless `MULTICONVERT_REQUIRE_SOFFICE` is set (CI).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn office_documents_convert_to_pdf_with_no_account() {
    if multiconvert_office::find_soffice(None).is_err()
        && std::env::var_os("MULTICONVERT_SOFFICE").is_none()
    {
        assert!(
            std::env::var_os("MULTICONVERT_REQUIRE_SOFFICE").is_none(),
            "MULTICONVERT_REQUIRE_SOFFICE is set but LibreOffice is missing"
        );
        eprintln!("skipped: LibreOffice is not installed");
        return;
    }
    for name in ["report.docx", "table.xlsx", "slides.pptx"] {
        let dir = tempfile::tempdir().unwrap();
        let input = root().join("fixtures/samples/office").join(name);
        let r = run(
            &[
                "convert",
                &input.display().to_string(),
                "--to",
                "pdf",
                "--out",
                "out",
                "--json",
            ],
            &[(
                "MULTICONVERT_OFFICE_DIR",
                dir.path().join("office").display().to_string(),
            )],
            dir.path(),
        )
        .await;
        assert_eq!(r.code, 0, "{name}: {} {}", r.stdout, r.stderr);
        let v = r.json();
        assert_eq!(v["provider"], "office", "{v}");
        let path = dir.path().join(v["outputs"][0]["path"].as_str().unwrap());
        assert!(
            std::fs::read(&path).unwrap().starts_with(b"%PDF-"),
            "{name}"
        );
    }
}

/// Random bytes named `.docx`, a zip bomb and a password-protected docx are refused as invalid
/// input (exit 5) before LibreOffice runs: before the inputs were checked, the first "converted"
/// into a PDF of mojibake (exit 0) and the bomb ran to the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn office_inputs_that_are_not_what_they_say_are_invalid_input() {
    if multiconvert_office::find_soffice(None).is_err()
        && std::env::var_os("MULTICONVERT_SOFFICE").is_none()
    {
        assert!(
            std::env::var_os("MULTICONVERT_REQUIRE_SOFFICE").is_none(),
            "MULTICONVERT_REQUIRE_SOFFICE is set but LibreOffice is missing"
        );
        eprintln!("skipped: LibreOffice is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // 50 000 bytes of noise: the file of the report, the same every run.
    let random = multiconvert_conformance::template::noise(0x9E37_79B9_7F4A_7C15, 50_000);
    std::fs::write(dir.path().join("random.docx"), random).unwrap();
    let office = root().join("fixtures/samples/office");
    for (input, words) in [
        (dir.path().join("random.docx"), "declared docx"),
        (office.join("bomb.docx"), "MULTICONVERT_OFFICE_MAX_RATIO"),
        (office.join("locked.docx"), "password-protected"),
    ] {
        let r = run(
            &[
                "convert",
                &input.display().to_string(),
                "--to",
                "pdf",
                "--provider",
                "office",
                "--out",
                "out",
                "--json",
            ],
            &[(
                "MULTICONVERT_OFFICE_DIR",
                dir.path().join("office").display().to_string(),
            )],
            dir.path(),
        )
        .await;
        assert_error(&r, 5, "invalid_input", "office");
        let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.contains(words), "{}: {message}", input.display());
        assert!(!dir.path().join("out").exists(), "{}", input.display());
    }
    // `--from` names what a file really is: the same docx bytes named .bin convert.
    std::fs::copy(office.join("report.docx"), dir.path().join("report.bin")).unwrap();
    let r = run(
        &[
            "convert",
            "report.bin",
            "--from",
            "docx",
            "--to",
            "pdf",
            "--provider",
            "office",
            "--out",
            "out",
            "--json",
        ],
        &[(
            "MULTICONVERT_OFFICE_DIR",
            dir.path().join("office").display().to_string(),
        )],
        dir.path(),
    )
    .await;
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
}

/// `RUST_LOG=trace` shows the library's events on stderr, `--json` stays one object on stdout,
/// and neither holds a key, a secret or a job token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_at_trace_show_retries_and_no_secret() {
    use multiconvert_emulator::{Fault, FaultSpec};
    const KEY: &str = "cli-trace-key-7c1e5a9d";
    const SECRET: &str = "cli-trace-secret-2b8f4e6c";
    let emulator = multiconvert_emulator::Emulator::start(
        multiconvert_emulator::EmulatorConfig::default()
            .work(std::time::Duration::from_millis(20))
            .online_convert_key(KEY)
            .convertapi_secret(SECRET),
    )
    .await
    .unwrap();
    let photo = sample("photo.png");
    for (provider, env, op) in [
        (
            "online-convert",
            vec![
                ("API2CONVERT_API_KEY", KEY.to_owned()),
                ("API2CONVERT_BASE_URL", emulator.online_convert_url()),
            ],
            "oc.poll",
        ),
        (
            "convertapi",
            vec![
                ("CONVERTAPI_SECRET", SECRET.to_owned()),
                ("CONVERTAPI_BASE_URL", emulator.convertapi_url()),
            ],
            "ca.upload",
        ),
    ] {
        // One throttled answer, so there is a retry to log.
        emulator
            .inject(FaultSpec::once(
                op,
                Fault::Status {
                    status: 503,
                    retry_after: Some(1),
                },
            ))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut env = env;
        env.push(("RUST_LOG", "trace".to_owned()));
        let args = [
            "convert",
            &photo,
            "--to",
            "jpg",
            "--provider",
            provider,
            "--out",
            "out",
            "--json",
        ];
        let r = run(&args, &env, dir.path()).await;
        assert_eq!(r.code, 0, "{provider}: {} {}", r.stdout, r.stderr);
        assert_eq!(r.json()["provider"], provider);
        assert!(
            r.stderr.contains("retrying"),
            "{provider}: no retry logged: {}",
            r.stderr
        );
        for secret in [KEY, SECRET] {
            assert!(
                !r.stderr.contains(secret),
                "{provider}: a secret in the logs"
            );
            assert!(
                !r.stdout.contains(secret),
                "{provider}: a secret in the output"
            );
        }
    }
    // A value that is not a level says so and logs nothing.
    let dir = tempfile::tempdir().unwrap();
    let env = [("RUST_LOG", "multiconvert=verbose".to_owned())];
    let r = run(&["providers"], &env, dir.path()).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("is not a level"), "{}", r.stderr);
}
