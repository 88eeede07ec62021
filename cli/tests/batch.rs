//! `multiconvert batch` end to end: the built binary against the emulator, killed with SIGKILL
//! at several points and rerun, on SQLite and (when a server is given) PostgreSQL; two
//! processes sharing one state (the default SQLite file, and PostgreSQL). Jobs are counted on the emulator.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use multiconvert_emulator::{Emulator, EmulatorConfig, Running};
use serde_json::Value;

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
];

fn photo() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/samples/photo.png"
    ))
}

/// `n` distinct PNG files (distinct names, same picture) in `dir/in`, two in a subdirectory.
fn inputs(dir: &Path, n: usize) -> PathBuf {
    let input = dir.join("in");
    std::fs::create_dir_all(input.join("sub")).unwrap();
    for i in 0..n {
        let name = if i < 2 {
            format!("sub/s{i}.png")
        } else {
            format!("p{i:02}.png")
        };
        std::fs::copy(photo(), input.join(name)).unwrap();
    }
    input
}

/// A vendor on the emulator, as the environment the CLI reads.
#[derive(Clone, Copy, Debug)]
enum Vendor {
    OnlineConvert,
    ConvertApiCurrent,
    ConvertApiLegacy,
}

impl Vendor {
    fn provider(self) -> &'static str {
        match self {
            Vendor::OnlineConvert => "online-convert",
            _ => "convertapi",
        }
    }
    fn env(self, emulator: &Running) -> Vec<(&'static str, String)> {
        match self {
            Vendor::OnlineConvert => vec![
                ("API2CONVERT_API_KEY", "emulated-key".into()),
                ("API2CONVERT_BASE_URL", emulator.online_convert_url()),
            ],
            Vendor::ConvertApiCurrent | Vendor::ConvertApiLegacy => vec![
                ("CONVERTAPI_SECRET", "emulated-secret".into()),
                ("CONVERTAPI_BASE_URL", emulator.convertapi_url()),
                (
                    "CONVERTAPI_ASYNC_ROUTE",
                    match self {
                        Vendor::ConvertApiLegacy => "legacy".into(),
                        _ => "current".into(),
                    },
                ),
            ],
        }
    }
    /// Jobs the emulator ran (started), by status.
    fn jobs(self, emulator: &Running) -> Vec<String> {
        let state = emulator.state();
        let jobs = match self {
            Vendor::OnlineConvert => &state["online_convert"]["jobs"],
            _ => &state["convertapi"]["jobs"],
        };
        jobs.as_array()
            .unwrap()
            .iter()
            .map(|j| j["status"].as_str().unwrap_or_default().to_owned())
            // A staged job (created, then the process died before its start) never converts.
            .filter(|s| !matches!(s.as_str(), "created" | "incomplete" | "ready"))
            .collect()
    }
    /// Jobs the vendor was asked to start: by then the job's handle is in the journal (a
    /// ConvertAPI JobId is journaled before its submit is sent; an online-convert job between
    /// its staged create and its start).
    fn starts(self, emulator: &Running) -> u64 {
        match self {
            Vendor::OnlineConvert => emulator.count("oc.start"),
            _ => emulator.count("ca.submit"),
        }
    }

    fn submits(self, emulator: &Running) -> u64 {
        match self {
            Vendor::OnlineConvert => emulator.count("oc.start") + emulator.count("oc.create"),
            _ => emulator.count("ca.submit"),
        }
    }
}

/// A running `batch` process and the lines it printed so far.
struct Batch {
    child: Child,
    lines: Arc<Mutex<Vec<Value>>>,
    reader: std::thread::JoinHandle<()>,
}

fn spawn(args: &[String], env: &[(&str, String)], dir: &Path) -> Batch {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_multiconvert"));
    cmd.arg("batch")
        .args(args)
        .current_dir(dir)
        .env("MULTICONVERT_LOCAL_DIR", dir.join("jobs"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for var in VENDOR_VARS {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let value = serde_json::from_str(&line).unwrap_or(Value::String(line));
            sink.lock().unwrap().push(value);
        }
    });
    Batch {
        child,
        lines,
        reader,
    }
}

impl Batch {
    /// Waits for the process to end by itself; its exit code and lines.
    fn finish(mut self) -> (i32, Vec<Value>) {
        let deadline = Instant::now() + Duration::from_secs(120);
        let code = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "the batch never ended");
            std::thread::sleep(Duration::from_millis(20));
        };
        self.reader.join().unwrap();
        let lines = self.lines.lock().unwrap().clone();
        (code, lines)
    }

    /// SIGKILLs the process once `when` holds (checked every few milliseconds).
    fn kill_when(mut self, when: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !when(&self.lines.lock().unwrap()) {
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "the batch ended before its kill point"
            );
            assert!(Instant::now() < deadline, "the kill point never came");
            std::thread::sleep(Duration::from_millis(2));
        }
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.reader.join().unwrap();
        let lines = self.lines.lock().unwrap().clone();
        lines
    }
}

fn files_with(lines: &[Value], status: &str) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l["status"] == status)
        .map(|l| l["source"].as_str().unwrap().to_owned())
        .collect()
}

fn summary(lines: &[Value]) -> Value {
    lines
        .iter()
        .find_map(|l| l.get("summary").cloned())
        .unwrap_or_else(|| panic!("no summary in {lines:?}"))
}

/// State URLs to run on: a SQLite file in `dir`; a fresh PostgreSQL database when
/// `MULTICONVERT_TEST_POSTGRES_URL` names a server (required with
/// `MULTICONVERT_REQUIRE_POSTGRES`).
async fn states(dir: &Path) -> Vec<String> {
    let mut urls = vec![format!("sqlite:{}", dir.join("state.sqlite").display())];
    match std::env::var("MULTICONVERT_TEST_POSTGRES_URL") {
        Ok(admin) if !admin.is_empty() => {
            let name = format!("mc_batch_{}", uuid::Uuid::new_v4().simple());
            urls.push(
                multiconvert_store::Store::create_postgres_database(&admin, &name)
                    .await
                    .unwrap(),
            );
        }
        _ => assert!(
            std::env::var_os("MULTICONVERT_REQUIRE_POSTGRES").is_none(),
            "MULTICONVERT_REQUIRE_POSTGRES is set but MULTICONVERT_TEST_POSTGRES_URL is not"
        ),
    }
    urls
}

/// The default state (`None`: the file batch keeps in its out directory), then a fresh
/// PostgreSQL database when a server is given.
async fn default_and_postgres(dir: &Path) -> Vec<Option<String>> {
    let mut states: Vec<Option<String>> = vec![None];
    states.extend(
        self::states(dir)
            .await
            .into_iter()
            .filter(|s| s.starts_with("postgres"))
            .map(Some),
    );
    states
}

fn args(input: &Path, out: &Path, state: &str, provider: &str) -> Vec<String> {
    [
        input.display().to_string(),
        "--to".into(),
        "jpg".into(),
        "--provider".into(),
        provider.into(),
        "--out".into(),
        out.display().to_string(),
        "--state".into(),
        state.into(),
        "--concurrency".into(),
        "2".into(),
        "--lease".into(),
        "1".into(),
        "--json".into(),
    ]
    .into()
}

/// Killed with SIGKILL three times — as the first job is submitted, with a file done and
/// others in flight, and again at once — then rerun: every file converts, each exactly once at
/// the vendor, and every output is a whole JPEG.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_batch_resumes_and_submits_no_file_twice() {
    const FILES: usize = 6;
    for vendor in [
        Vendor::ConvertApiCurrent,
        Vendor::ConvertApiLegacy,
        Vendor::OnlineConvert,
    ] {
        let dir = tempfile::tempdir().unwrap();
        for state in states(dir.path()).await {
            let backend = state.split(':').next().unwrap().to_owned();
            let emulator =
                Emulator::start(EmulatorConfig::default().work(Duration::from_millis(400)))
                    .await
                    .unwrap();
            let work = tempfile::tempdir().unwrap();
            let input = inputs(work.path(), FILES);
            let out = work.path().join("out");
            let env = vendor.env(&emulator);
            let args = args(&input, &out, &state, vendor.provider());
            let what = format!("{vendor:?} on {backend}");

            // 1: as soon as the vendor has seen a submission.
            let emu = &emulator;
            spawn(&args, &env, work.path()).kill_when(|_| vendor.submits(emu) >= 1);
            // 2: with one file done (others are in flight).
            let lines = spawn(&args, &env, work.path())
                .kill_when(|lines| !files_with(lines, "done").is_empty());
            assert!(files_with(&lines, "failed").is_empty(), "{what}: {lines:?}");
            // 3: as soon as it has submitted a file of its own (a job in flight, journaled).
            let before = vendor.starts(emu);
            spawn(&args, &env, work.path()).kill_when(|_| vendor.starts(emu) > before);

            let (code, last) = spawn(&args, &env, work.path()).finish();
            assert_eq!(code, 0, "{what}: {last:?}");
            // Jobs left in flight by a kill were taken up, not submitted again.
            assert!(
                lines.iter().chain(&last).any(|l| l["resumed"] == true),
                "{what}: no run resumed a journaled job: {lines:?} {last:?}"
            );
            let lines = last;
            let totals = summary(&lines);
            assert_eq!(totals["failed"], 0, "{what}: {lines:?}");
            assert_eq!(
                totals["done"].as_u64().unwrap() + totals["skipped"].as_u64().unwrap(),
                FILES as u64,
                "{what}: {lines:?}"
            );
            // Exactly one conversion per file at the vendor, every one completed.
            let jobs = vendor.jobs(&emulator);
            assert_eq!(jobs.len(), FILES, "{what}: {jobs:?}");
            assert!(jobs.iter().all(|s| s == "completed"), "{what}: {jobs:?}");
            assert_eq!(emulator.violations(), [], "{what}");
            for name in ["sub/s0.jpg", "sub/s1.jpg", "p02.jpg", "p05.jpg"] {
                let bytes =
                    std::fs::read(out.join(name)).unwrap_or_else(|e| panic!("{what}: {name}: {e}"));
                assert!(bytes.starts_with(&[0xFF, 0xD8, 0xFF]), "{what}: {name}");
                assert!(
                    bytes.ends_with(&[0xFF, 0xD9]),
                    "{what}: {name} is cut short"
                );
            }
            let leftovers: Vec<_> = walk(&out)
                .into_iter()
                .filter(|p| p.extension().is_none_or(|e| e != "jpg"))
                .filter(|p| !p.to_string_lossy().contains("state"))
                .collect();
            assert!(
                leftovers.is_empty(),
                "{what}: partial files left: {leftovers:?}"
            );

            // A rerun of a finished batch does nothing.
            let (code, lines) = spawn(&args, &env, work.path()).finish();
            assert_eq!(code, 0);
            assert_eq!(summary(&lines)["skipped"], FILES as u64, "{what}");
            assert_eq!(vendor.jobs(&emulator).len(), FILES, "{what}");
            emulator.shutdown().await;
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().map_while(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// Two processes started at the same moment on one state split a batch: each file is
/// converted by one of them, once at the vendor, and both exit 0. On the default state (a SQLite
/// file in the out directory) the second process used to exit 5 at once, unable to open it; on
/// PostgreSQL when a server is given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_state_split_the_work() {
    const FILES: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let states = default_and_postgres(dir.path()).await;
    for (n, state) in states.into_iter().enumerate() {
        let emulator = Emulator::start(EmulatorConfig::default().work(Duration::from_millis(300)))
            .await
            .unwrap();
        let run = dir.path().join(format!("run{n}"));
        let input = inputs(&run, FILES);
        let out = run.join("out");
        let vendor = Vendor::ConvertApiCurrent;
        let env = vendor.env(&emulator);
        let mut args = args(
            &input,
            &out,
            state.as_deref().unwrap_or("none"),
            vendor.provider(),
        );
        if state.is_none() {
            // The default: the state file batch keeps in the out directory.
            let at = args.iter().position(|a| a == "--state").unwrap();
            args.drain(at..at + 2);
        }
        let a = spawn(&args, &env, &run);
        let b = spawn(&args, &env, &run);
        let (code_a, lines_a) = a.finish();
        let (code_b, lines_b) = b.finish();
        let what = state.as_deref().unwrap_or("the default state");
        assert_eq!((code_a, code_b), (0, 0), "{what}: {lines_a:?} {lines_b:?}");
        let (done_a, done_b) = (files_with(&lines_a, "done"), files_with(&lines_b, "done"));
        let mut all: Vec<_> = done_a.iter().chain(&done_b).cloned().collect();
        all.sort();
        all.dedup();
        assert_eq!(
            all.len(),
            done_a.len() + done_b.len(),
            "{what}: a file was converted by both"
        );
        assert_eq!(all.len(), FILES, "{what}: {lines_a:?} {lines_b:?}");
        assert!(
            !done_a.is_empty() && !done_b.is_empty(),
            "{what}: one process did all the work: {done_a:?} {done_b:?}"
        );
        assert_eq!(vendor.jobs(&emulator).len(), FILES, "{what}");
        assert_eq!(emulator.violations(), [], "{what}");
        emulator.shutdown().await;
    }
}

/// The race of the issue as a user met it: two `batch` runs started together on one out
/// directory, no `--state`, so both create the default SQLite state at once. Before the open was
/// serialised, about one round in three ended with one process exiting 5 ("could not apply its
/// migrations"); eight rounds make a regression all but certain to show. Every round: both exit
/// 0 and every file is converted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_creating_the_default_state_together_both_finish() {
    const FILES: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let input = inputs(dir.path(), FILES);
    for round in 0..8 {
        let out = dir.path().join(format!("out{round}"));
        let args: Vec<String> = [
            input.display().to_string(),
            "--to".into(),
            "jpg".into(),
            "--provider".into(),
            "local".into(),
            "--out".into(),
            out.display().to_string(),
            "--json".into(),
        ]
        .into();
        let a = spawn(&args, &[], dir.path());
        let b = spawn(&args, &[], dir.path());
        let (code_a, lines_a) = a.finish();
        let (code_b, lines_b) = b.finish();
        assert_eq!(
            (code_a, code_b),
            (0, 0),
            "round {round}: {lines_a:?} {lines_b:?}"
        );
        let done = files_with(&lines_a, "done").len() + files_with(&lines_b, "done").len();
        assert_eq!(done, FILES, "round {round}: {lines_a:?} {lines_b:?}");
        let outputs = walk(&out)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
            .count();
        assert_eq!(outputs, FILES, "round {round}");
    }
}

/// Each file reports what it cost and what that comes to at its provider's price; the summary
/// totals both per provider; `--route` orders the failover: a preferred vendor first, and by
/// cost the free in-process provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn costs_are_reported_per_file_and_per_provider_and_routes_order_the_failover() {
    let emulator = Emulator::start(EmulatorConfig::default().work(Duration::from_millis(50)))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = inputs(dir.path(), 3);
    let mut env = Vendor::OnlineConvert.env(&emulator);
    env.extend(Vendor::ConvertApiCurrent.env(&emulator));
    env.push(("MULTICONVERT_PRICE_ONLINE_CONVERT", "3".into()));
    env.push(("MULTICONVERT_PRICE_CONVERTAPI", "0.5".into()));
    let run = |out: &str, route: &str| {
        let mut args = args(&input, &dir.path().join(out), "none", "auto");
        args.extend(["--route".to_owned(), route.to_owned()]);
        spawn(&args, &env, dir.path()).finish()
    };

    let (code, lines) = run("preferred", "prefer=convertapi");
    assert_eq!(code, 0, "{lines:?}");
    for file in lines.iter().filter(|l| l.get("source").is_some()) {
        assert_eq!(file["provider"], "convertapi", "{file}");
        assert_eq!(file["cost"], 1, "{file}");
        assert_eq!(file["cost_unit"], "conversions", "{file}");
        assert_eq!(file["price"], 0.5, "{file}");
    }
    let totals = summary(&lines);
    assert_eq!(totals["cost"], 3);
    assert_eq!(
        totals["costs"],
        serde_json::json!({"convertapi": {"amount": 3, "unit": "conversions", "price": 1.5}})
    );
    assert_eq!(totals["price"], 1.5);
    assert_eq!(emulator.count("oc.create"), 0);

    // The image provider is free: by cost it goes first, and no vendor sees a job.
    let (code, lines) = run("cheapest", "cheapest");
    assert_eq!(code, 0, "{lines:?}");
    assert_eq!(files_with(&lines, "done").len(), 3);
    for file in lines.iter().filter(|l| l.get("source").is_some()) {
        assert_eq!(file["provider"], "local", "{file}");
    }
    assert_eq!(
        emulator.count("ca.submit") + emulator.count("ca.convert"),
        3
    );
    assert_eq!(emulator.count("oc.create"), 0);

    let (code, lines) = run("bad", "fastest");
    assert_ne!(code, 0, "{lines:?}");
    emulator.shutdown().await;
}

/// Two processes on one state with one budget: together they never convert more than it
/// allows (counted on the emulator), the files past it fail with exit code 4 and the reason,
/// and stay for a rerun; on SQLite and, when a server is given, PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_state_keep_to_one_budget() {
    const FILES: usize = 12;
    const CAP: usize = 5;
    let dir = tempfile::tempdir().unwrap();
    let states = default_and_postgres(dir.path()).await;
    for (n, state) in states.into_iter().enumerate() {
        let emulator = Emulator::start(EmulatorConfig::default().work(Duration::from_millis(100)))
            .await
            .unwrap();
        let run = dir.path().join(format!("budget{n}"));
        let input = inputs(&run, FILES);
        let vendor = Vendor::ConvertApiCurrent;
        let env = vendor.env(&emulator);
        let mut args = args(
            &input,
            &run.join("out"),
            state.as_deref().unwrap_or("none"),
            vendor.provider(),
        );
        if state.is_none() {
            let at = args.iter().position(|a| a == "--state").unwrap();
            args.drain(at..at + 2);
        }
        args.extend(["--budget".to_owned(), format!("convertapi={CAP}/day")]);
        let a = spawn(&args, &env, &run);
        let b = spawn(&args, &env, &run);
        let (code_a, lines_a) = a.finish();
        let (code_b, lines_b) = b.finish();
        let what = state.as_deref().unwrap_or("the default state");
        let done = files_with(&lines_a, "done").len() + files_with(&lines_b, "done").len();
        assert_eq!(done, CAP, "{what}: {lines_a:?} {lines_b:?}");
        assert_eq!(
            vendor.jobs(&emulator).len(),
            CAP,
            "{what}: the vendor's count"
        );
        // A process that met the budget says so with 4; the other may have had nothing left
        // but files it finished.
        assert!(
            [code_a, code_b].iter().all(|c| [0, 4].contains(c)) && code_a.max(code_b) == 4,
            "{what}: {code_a} {code_b}"
        );
        let stopped: Vec<&Value> = lines_a
            .iter()
            .chain(&lines_b)
            .filter(|l| l["status"] == "failed")
            .collect();
        // A file one process left for a rerun is left by both: neither takes it up again.
        let distinct: BTreeSet<&str> = stopped
            .iter()
            .filter_map(|l| l["source"].as_str())
            .collect();
        assert_eq!(distinct.len(), FILES - CAP, "{what}");
        assert_eq!(
            stopped.len(),
            FILES - CAP,
            "{what}: a deferred file was tried twice"
        );
        for line in stopped {
            assert_eq!(line["retry"], true, "{what}: {line}");
            let error = line["error"].to_string();
            assert!(
                error.contains(&format!("over its budget of {CAP}/day")),
                "{what}: {error}"
            );
        }
        emulator.shutdown().await;
    }
}
