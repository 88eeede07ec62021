//! Side by side, in one run: the crate against what a user would pick instead, doing the same
//! job (a PNG converted to JPEG and saved) against the emulator on loopback.
//!
//! `cargo bench -p multiconvert-bench --bench sdk` measures, each contender in a child process of
//! its own (CPU and peak RSS from `wait4`, start-up subtracted):
//! - `save()` of 1 GiB next to `curl -o F && sync F` (see `--bench save`);
//! - per-job client cost: the crate, a raw-reqwest floor making the same HTTP calls, the
//!   official api2convert and convertapi Python SDKs (pinned, installed into a private virtualenv
//!   under `target/`), and curl;
//! - throughput at concurrency 1/8/32/128: the crate next to the Python SDKs on a thread pool of
//!   the same size;
//! - polls per job and how late the client notices a finished job, polling and webhook-woken;
//! - memory per in-flight wait at 1k and 10k concurrent waits;
//! - a thousand concurrent waits on one account limited to 50 requests a second, with the
//!   instance's request budget at that rate and without, a `cheapest` failover against an
//!   `ordered` one over two priced vendors, and two `batch` processes on one budget
//!   (`MC_BENCH_ONLY=pace` runs this part alone);
//!
//! and writes `docs/benchmarks.md` and `docs/benchmarks-throughput.svg` from what it measured.
//! `MC_BENCH_QUICK=1` runs a small version (for trying the harness out; it writes the docs too).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use multiconvert_bench::clients::{child_main, ChildReport, Spec};
use multiconvert_bench::measure::{run, Measured};
use multiconvert_bench::median;
use multiconvert_bench::report;
use multiconvert_bench::saving::{self, SaveResults};
use multiconvert_emulator::{Emulator, EmulatorConfig, Running};

const A2C_SDK: &str = "api2convert==10.3.1";
const CA_SDK: &str = "convertapi==2.0.1";
const KEY: &str = "bench-key";
const SECRET: &str = "bench-secret";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

fn quick() -> bool {
    std::env::var_os("MC_BENCH_QUICK").is_some_and(|v| v != "0")
}

fn note(message: &str) {
    eprintln!("[sdk bench] {message}");
}

/// The Python of a private virtualenv holding the pinned SDKs, made on first use; `None` (said
/// why) when they cannot be installed.
fn python_sdks() -> Option<PathBuf> {
    let venv = root().join("target/bench-venv");
    let python = venv.join("bin/python");
    let ready = |py: &Path| {
        Command::new(py)
            .args(["-c", "import api2convert, convertapi"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if python.exists() && ready(&python) {
        return Some(python);
    }
    note("installing the vendors' Python SDKs into target/bench-venv");
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success());
    let installed = made
        && Command::new(&python)
            .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
            .args([A2C_SDK, CA_SDK])
            .status()
            .is_ok_and(|s| s.success());
    if installed && ready(&python) {
        Some(python)
    } else {
        note("the Python SDKs could not be installed: their rows are left out");
        None
    }
}

/// The `multiconvert` binary, built in release mode for this run; `None` (said why) when the
/// build fails.
fn cli_binary() -> Option<PathBuf> {
    note("building the multiconvert CLI (release)");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let built = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--locked",
            "-q",
            "-p",
            "multiconvert-cli",
        ])
        .args(["--bin", "multiconvert"])
        .current_dir(root())
        .status()
        .is_ok_and(|s| s.success());
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let bin = target.join("release/multiconvert");
    if built && bin.exists() {
        Some(bin)
    } else {
        note("the CLI could not be built: its rows are left out");
        None
    }
}

/// Who runs the job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Crate,
    Webhook,
    Raw,
    Python,
    Curl,
    Cli,
}

impl Who {
    fn label(self, vendor: Vendor) -> String {
        match (self, vendor) {
            (Who::Crate, _) => "multiconvert (polling)".into(),
            (Who::Webhook, _) => "multiconvert (webhook)".into(),
            (Who::Raw, _) => "raw reqwest floor".into(),
            (Who::Python, Vendor::Oc) => format!("Python SDK {A2C_SDK}"),
            (Who::Python, Vendor::Ca) => format!("Python SDK {CA_SDK}"),
            (Who::Curl, _) => "curl script".into(),
            (Who::Cli, _) => "multiconvert convert (CLI)".into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Vendor {
    Oc,
    Ca,
}

impl Vendor {
    fn code(self) -> &'static str {
        match self {
            Vendor::Oc => "oc",
            Vendor::Ca => "ca",
        }
    }
    fn name(self) -> &'static str {
        match self {
            Vendor::Oc => "online-convert",
            Vendor::Ca => "ConvertAPI",
        }
    }
    fn base(self, emulator: &Running) -> String {
        match self {
            Vendor::Oc => emulator.online_convert_url(),
            Vendor::Ca => emulator.convertapi_url(),
        }
    }
    fn credential(self) -> &'static str {
        match self {
            Vendor::Oc => KEY,
            Vendor::Ca => SECRET,
        }
    }
}

struct Harness {
    python: Option<PathBuf>,
    cli: Option<PathBuf>,
    input: PathBuf,
    scratch: tempfile::TempDir,
    runs: usize,
    /// The crate's request rate in the children it starts (none: the vendor's default).
    rate: Option<String>,
}

impl Harness {
    /// The command that runs `jobs` jobs of `who` at `concurrency`; `None` when `who` is not
    /// installed.
    fn command(
        &mut self,
        who: Who,
        vendor: Vendor,
        emulator: &Running,
        jobs: usize,
        concurrency: usize,
    ) -> Option<Command> {
        self.runs += 1;
        let out = self.scratch.path().join(format!("run-{}", self.runs));
        std::fs::create_dir_all(&out).ok()?;
        let base = vendor.base(emulator);
        let cred = vendor.credential();
        Some(match who {
            Who::Crate | Who::Webhook | Who::Raw => {
                let client = match who {
                    Who::Crate => "crate",
                    Who::Webhook => "webhook",
                    _ => "raw",
                };
                let spec = Spec {
                    client: client.into(),
                    vendor: vendor.code().into(),
                    base,
                    credential: cred.into(),
                    jobs,
                    concurrency,
                    input: self.input.clone(),
                    out,
                    rate: self.rate.clone(),
                };
                let mut cmd = Command::new(std::env::current_exe().ok()?);
                cmd.arg("--child").arg(serde_json::to_string(&spec).ok()?);
                cmd
            }
            Who::Python => {
                let mut cmd = Command::new(self.python.as_ref()?);
                cmd.arg(root().join("bench/sdk/sdk_bench.py"))
                    .args([vendor.code(), &base, cred])
                    .args([jobs.to_string(), concurrency.to_string()])
                    .arg(&self.input)
                    .arg(&out);
                cmd
            }
            Who::Cli => {
                // One job per command: `jobs` is 1 here.
                let mut cmd = Command::new(self.cli.as_ref()?);
                cmd.arg("convert")
                    .arg(&self.input)
                    .args(["--to", "jpg", "--out"])
                    .arg(&out)
                    .arg("--json");
                match vendor {
                    Vendor::Oc => cmd
                        .args(["--provider", "online-convert"])
                        .env("API2CONVERT_API_KEY", cred)
                        .env("API2CONVERT_BASE_URL", &base),
                    Vendor::Ca => cmd
                        .args(["--provider", "convertapi"])
                        .env("CONVERTAPI_SECRET", cred)
                        .env("CONVERTAPI_BASE_URL", &base),
                };
                cmd
            }
            Who::Curl => {
                // One job after another, as a shell loop would; each prints its record, gathered
                // into one report line at the end.
                let script = root().join("bench/sdk/curl_job.sh");
                let mut cmd = Command::new("bash");
                cmd.arg("-c")
                    .arg(
                        r#"set -e; recs=""; for i in $(seq 1 "$1"); do
                             r=$(bash "$2" "$3" "$4" "$5" "$6" "$7/$i"); recs="$recs${recs:+,}$r"; done
                           echo "{\"jobs\":[$recs],\"errors\":0}""#,
                    )
                    .arg("curl-loop")
                    .arg(jobs.to_string())
                    .arg(script)
                    .args([vendor.code(), &base, cred])
                    .arg(&self.input)
                    .arg(&out);
                cmd
            }
        })
    }

    /// Runs `who` and checks it did every job.
    fn measure(
        &mut self,
        who: Who,
        vendor: Vendor,
        emulator: &Running,
        jobs: usize,
        concurrency: usize,
    ) -> Option<(Measured, ChildReport)> {
        let cmd = self.command(who, vendor, emulator, jobs, concurrency)?;
        let measured = match run(cmd) {
            Ok(m) => m,
            Err(e) => {
                note(&format!("{who:?} {vendor:?} could not run: {e}"));
                return None;
            }
        };
        let report: ChildReport =
            serde_json::from_value(measured.report.clone()).unwrap_or_default();
        if !measured.success || report.errors > 0 || report.jobs.len() != jobs {
            note(&format!(
                "{who:?} {vendor:?} x{jobs} @{concurrency} did not finish cleanly ({} of {jobs} jobs, {} errors, first: {:?}; exit ok: {}): {}",
                report.jobs.len(),
                report.errors,
                report.first_error,
                measured.success,
                measured.stderr_tail.trim()
            ));
            return None;
        }
        Some((measured, report))
    }
}

async fn emulator(work: Duration) -> Running {
    Emulator::start(
        EmulatorConfig::default()
            .online_convert_key(KEY)
            .convertapi_secret(SECRET)
            .work(work),
    )
    .await
    .expect("the emulator starts")
}

/// One throughput / cost measurement.
#[derive(Clone, Debug)]
struct Row {
    who: Who,
    vendor: Vendor,
    concurrency: usize,
    jobs: usize,
    /// Wall time, start-up subtracted.
    wall: Duration,
    /// CPU time, start-up subtracted.
    cpu: Duration,
    peak_kib: u64,
}

impl Row {
    fn jobs_per_s(&self) -> f64 {
        self.jobs as f64 / self.wall.as_secs_f64().max(1e-9)
    }
    fn cpu_per_job(&self) -> Duration {
        self.cpu / self.jobs as u32
    }
    fn jobs_per_cpu_s(&self) -> f64 {
        self.jobs as f64 / self.cpu.as_secs_f64().max(1e-9)
    }
}

/// Polling behaviour of one contender at one job duration.
#[derive(Clone, Debug)]
struct Lateness {
    who: Who,
    vendor: Vendor,
    work: Duration,
    /// Medians over the jobs.
    job_ms: u64,
    polls: f64,
    overshoot_ms: Option<u64>,
    wall_ms: u64,
}

fn median_u64(mut v: Vec<u64>) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[v.len() / 2]
}

fn lateness(
    who: Who,
    vendor: Vendor,
    work: Duration,
    report: &ChildReport,
    emulator: &Running,
) -> Lateness {
    let mut job_ms = Vec::new();
    let mut polls = Vec::new();
    let mut overshoot = Vec::new();
    let mut wall = Vec::new();
    for job in &report.jobs {
        wall.push(job.noticed_ms.saturating_sub(job.submitted_ms));
        let timing = job.id.as_deref().map(|id| emulator.job_timing(id));
        match timing.and_then(|t| t.finished_unix_ms.map(|f| (f, t.polls))) {
            Some((finished, n)) => {
                job_ms.push(finished.saturating_sub(job.submitted_ms));
                polls.push(n);
                overshoot.push(job.noticed_ms.saturating_sub(finished));
            }
            // A request held until the result (ConvertAPI's SDK): the answer is the notice.
            None => job_ms.push(job.noticed_ms.saturating_sub(job.submitted_ms)),
        }
    }
    Lateness {
        who,
        vendor,
        work,
        job_ms: median_u64(job_ms),
        polls: if polls.is_empty() {
            0.0
        } else {
            polls.iter().sum::<u64>() as f64 / polls.len() as f64
        },
        overshoot_ms: (!overshoot.is_empty()).then(|| median_u64(overshoot)),
        wall_ms: median_u64(wall),
    }
}

fn machine() -> String {
    format!(
        "{}; {}; {}",
        report::machine(),
        report::version("python3", "-V"),
        report::version("curl", "-V")
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn plot(rows: &[Row], path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let series: BTreeMap<(Vendor, Who), Vec<(usize, f64)>> =
        rows.iter().fold(BTreeMap::new(), |mut m, r| {
            if matches!(r.who, Who::Crate | Who::Python) {
                m.entry((r.vendor, r.who))
                    .or_insert_with(Vec::new)
                    .push((r.concurrency, r.jobs_per_s()));
            }
            m
        });
    let max_c = rows.iter().map(|r| r.concurrency).max().unwrap_or(1).max(2);
    let max_y = rows.iter().map(Row::jobs_per_s).fold(1.0f64, f64::max) * 1.5;
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Jobs per second vs concurrency (emulator on loopback)",
            ("sans-serif", 20),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(
            (1f64..max_c as f64).log_scale(),
            (0.05f64..max_y).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc("concurrency (in-flight jobs; Python: threads)")
        .y_desc("jobs/s")
        .draw()?;
    let colors = [BLUE, RED, GREEN, MAGENTA];
    for (i, ((vendor, who), points)) in series.iter().enumerate() {
        let color = colors[i % colors.len()];
        let label = format!("{} — {}", vendor.name(), who.label(*vendor));
        let points: Vec<(f64, f64)> = points.iter().map(|&(c, y)| (c as f64, y)).collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(())
}

struct Results {
    machine: String,
    save: SaveResults,
    throughput_work: Duration,
    startup: BTreeMap<(Who, Vendor), Measured>,
    rows: Vec<Row>,
    lateness: Vec<Lateness>,
    command_work: Duration,
    commands: BTreeMap<(Vendor, Who), (Duration, Duration)>,
    memory: Vec<(Vendor, usize, f64)>,
    python: bool,
    quick: bool,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args
        .iter()
        .position(|a| a == multiconvert_bench::measure::TRAMPOLINE)
    {
        multiconvert_bench::measure::trampoline(&args[i + 1..]);
    }
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child_main(args.get(i + 1).expect("a spec after --child"));
        return;
    }
    let quick = quick();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let pace_only = std::env::var("MC_BENCH_ONLY").is_ok_and(|v| v == "pace");
    let mut harness = Harness {
        python: if pace_only { None } else { python_sdks() },
        cli: if pace_only { None } else { cli_binary() },
        input: root().join("fixtures/samples/photo.png"),
        scratch: tempfile::tempdir().unwrap(),
        runs: 0,
        rate: None,
    };
    let docs = root().join("docs");
    std::fs::create_dir_all(&docs).unwrap();

    // One account's request limit, many waits: the pace section.
    let pace = pace::measure(&runtime, &mut harness, quick);
    let spend = spend::measure(&runtime, &harness, pace_only, quick);
    let doc = format!(
        "{}\n{}",
        pace::render(&pace, &machine(), quick),
        spend::render(&spend)
    );
    print!("{doc}");
    report::write_section(&docs.join("benchmarks.md"), "pace", &doc).unwrap();
    note("wrote the pace section of docs/benchmarks.md");
    if pace_only {
        return;
    }

    note("save() next to curl");
    if quick && std::env::var_os("MC_BENCH_BYTES").is_none() {
        std::env::set_var("MC_BENCH_BYTES", (256u64 << 20).to_string());
    }
    let save = saving::measure(&runtime, if quick { 1 } else { 3 });

    // Throughput and per-job cost: jobs that take a second at the vendor.
    let throughput_work = Duration::from_secs(1);
    let emu = runtime.block_on(emulator(throughput_work));
    let vendors = [Vendor::Oc, Vendor::Ca];
    let mut startup = BTreeMap::new();
    for vendor in vendors {
        for who in [Who::Crate, Who::Raw, Who::Python, Who::Curl] {
            if who == Who::Curl {
                continue; // a shell loop has nothing to start
            }
            if let Some((m, _)) = harness.measure(who, vendor, &emu, 0, 1) {
                startup.insert((who, vendor), m);
            }
        }
    }
    let concurrencies: &[usize] = if quick { &[1, 8] } else { &[1, 8, 32, 128] };
    let mut rows = Vec::new();
    for &c in concurrencies {
        let jobs = if quick { c.max(4) } else { (4 * c).max(16) };
        for vendor in vendors {
            let mut contenders = vec![Who::Crate, Who::Python];
            if c == 1 {
                contenders.extend([Who::Raw, Who::Curl]);
            }
            for who in contenders {
                note(&format!(
                    "{} {} x{jobs} at concurrency {c}",
                    vendor.name(),
                    who.label(vendor)
                ));
                let Some((m, _)) = harness.measure(who, vendor, &emu, jobs, c) else {
                    continue;
                };
                let (wall0, cpu0) = startup
                    .get(&(who, vendor))
                    .map_or((Duration::ZERO, Duration::ZERO), |s| (s.wall, s.cpu));
                rows.push(Row {
                    who,
                    vendor,
                    concurrency: c,
                    jobs,
                    wall: m.wall.saturating_sub(wall0),
                    cpu: m.cpu.saturating_sub(cpu0),
                    peak_kib: m.peak_kib,
                });
            }
        }
    }
    drop(emu);

    // Polls and lateness, per job duration: four jobs at once per contender, contenders in turn.
    let works: &[f64] = if quick { &[1.5] } else { &[1.5, 5.0, 15.0] };
    let mut late = Vec::new();
    for &work in works {
        let work = Duration::from_secs_f64(work);
        for vendor in vendors {
            for who in [Who::Crate, Who::Webhook, Who::Python] {
                // Each run gets a fresh emulator, so one's polls never slow another's.
                let emu = runtime.block_on(emulator(work));
                note(&format!(
                    "lateness: {} {} at {:.1} s jobs",
                    vendor.name(),
                    who.label(vendor),
                    work.as_secs_f64()
                ));
                if let Some((_, report)) = harness.measure(who, vendor, &emu, 4, 4) {
                    late.push(lateness(who, vendor, work, &report, &emu));
                }
            }
        }
    }

    // One job from a command, as a user runs it: the process's wall time, start-up included.
    let command_work = Duration::from_millis(1500);
    let rounds = if quick { 1 } else { 3 };
    let mut commands: BTreeMap<(Vendor, Who), (Vec<Duration>, Vec<Duration>)> = BTreeMap::new();
    for vendor in vendors {
        let emu = runtime.block_on(emulator(command_work));
        for _ in 0..rounds {
            for who in [Who::Cli, Who::Python, Who::Curl] {
                note(&format!(
                    "one command: {} {}",
                    vendor.name(),
                    who.label(vendor)
                ));
                let Some(cmd) = harness.command(who, vendor, &emu, 1, 1) else {
                    continue;
                };
                match run(cmd) {
                    Ok(m) if m.success => {
                        let entry = commands.entry((vendor, who)).or_default();
                        entry.0.push(m.wall);
                        entry.1.push(m.cpu);
                    }
                    Ok(m) => note(&format!("{who:?} failed: {}", m.stderr_tail.trim())),
                    Err(e) => note(&format!("{who:?} could not run: {e}")),
                }
            }
        }
    }

    // Memory per in-flight wait: jobs that run for an hour, all waited on at once.
    let holds: &[usize] = if quick { &[100, 1000] } else { &[1000, 10_000] };
    let mut memory = Vec::new();
    for vendor in vendors {
        let emu = runtime.block_on(emulator(Duration::from_secs(3600)));
        let rss = |h: &mut Harness, n: usize| {
            let spec = Spec {
                client: "hold".into(),
                vendor: vendor.code().into(),
                base: vendor.base(&emu),
                credential: vendor.credential().into(),
                jobs: n,
                concurrency: n,
                input: h.input.clone(),
                out: h.scratch.path().to_path_buf(),
                rate: None,
            };
            let mut cmd = Command::new(std::env::current_exe().unwrap());
            cmd.arg("--child")
                .arg(serde_json::to_string(&spec).unwrap());
            run(cmd)
                .ok()
                .and_then(|m| serde_json::from_value::<ChildReport>(m.report).ok())
                .and_then(|r| r.rss_kib)
        };
        let Some(idle) = rss(&mut harness, 0) else {
            note("hold: no baseline");
            continue;
        };
        for &n in holds {
            note(&format!(
                "memory: {} with {n} waits in flight",
                vendor.name()
            ));
            if let Some(kib) = rss(&mut harness, n) {
                memory.push((vendor, n, (kib.saturating_sub(idle)) as f64 / n as f64));
            }
        }
    }

    let results = Results {
        machine: machine(),
        save,
        throughput_work,
        startup,
        rows,
        lateness: late,
        command_work,
        commands: commands
            .into_iter()
            .map(|(k, (walls, cpus))| (k, (median(walls), median(cpus))))
            .collect(),
        memory,
        python: harness.python.is_some(),
        quick,
    };
    let doc = render(&results);
    print!("{doc}");
    report::write_section(&docs.join("benchmarks.md"), "sdk", &doc).unwrap();
    if let Err(e) = plot(&results.rows, &docs.join("benchmarks-throughput.svg")) {
        note(&format!("the plot could not be drawn: {e}"));
    }
    note("wrote docs/benchmarks.md and docs/benchmarks-throughput.svg");
}

fn find(rows: &[Row], who: Who, vendor: Vendor, c: usize) -> Option<&Row> {
    rows.iter()
        .find(|r| r.who == who && r.vendor == vendor && r.concurrency == c)
}

fn render(r: &Results) -> String {
    let mut d = String::new();
    let _ = writeln!(
        d,
        "Generated by `cargo bench -p multiconvert-bench --bench sdk`{}: every figure below comes from \
         one run of it; do not edit by hand, run it again.\n",
        if r.quick { " with `MC_BENCH_QUICK=1` (a short run: fewer jobs and rounds)" } else { "" }
    );
    let _ = writeln!(d, "- Machine: {}", r.machine);
    let _ = writeln!(
        d,
        "- Every contender runs in a child process of its own; CPU is user + system time and peak RSS the \
         maximum resident set, both from `wait4` (a shell script's children included). Start-up (a run \
         of zero jobs: the interpreter and imports, the runtime) is measured once per contender and \
         subtracted from wall and CPU.\n\
         - The vendors are [the emulator](../emulator) in the harness's own process on loopback (not counted \
         against any contender); it does the real image conversion. The emulator is not the bottleneck \
         at these rates: a conversion of the sample takes it milliseconds, the job's duration is its \
         configured vendor-side work time.\n\
         - The job: `fixtures/samples/photo.png` uploaded, converted to JPEG, the result saved to disk. \
         Each client waits with its own defaults: the crate with each provider's default poll policy \
         (online-convert: 1 s ×1.5 → 5 s, but never more than a tenth of the time waited, at least 0.1 s apart; \
         ConvertAPI: a short job's convert held open until the result, semi-async with a client JobId, so no poll), \
         api2convert with its own (1 s ×1.5 → 5 s), convertapi's SDK with a request held until the result \
         (it has no async JobId); the raw floor makes the crate's calls on the crate's schedule, curl the crate's \
         calls on the plain 1 s ×1.5 → 5 s schedule.\n"
    );
    if !r.python {
        let _ = writeln!(
            d,
            "**The Python SDKs could not be installed on this run: their rows are missing.**\n"
        );
    }

    // save
    let s = &r.save;
    let _ = writeln!(d, "## Downloads: `save()` next to curl\n");
    let _ = writeln!(
        d,
        "{} MiB served from loopback, median of {} alternating rounds. `save()` verifies the length \
         (and the MD5 where the vendor gives one: online-convert), writes to a temporary file, fsyncs \
         it and renames it into place, so the fair baseline is `curl -o F && sync F`.\n",
        s.bytes >> 20,
        s.rounds
    );
    let _ = writeln!(
        d,
        "| contender | MiB/s | peak RSS | vs `curl -o F && sync F` |"
    );
    let _ = writeln!(d, "|---|---:|---:|---:|");
    for c in s
        .curl_sync
        .iter()
        .chain(&s.curl)
        .chain(&s.curl_sync_md5)
        .chain(&s.ours)
    {
        let _ = writeln!(
            d,
            "| {} | {:.0} | {} | {} |",
            c.label,
            s.mib_per_s(c),
            c.peak_kib.map_or("?".into(), mib),
            s.ratio(c).map_or("—".into(), |x| format!("{x:.2}×"))
        );
    }
    let _ = writeln!(
        d,
        "| MD5 of the body in memory, one core | {:.0} | — | — |\n",
        s.bytes as f64 / 1048576.0 / s.md5_alone.as_secs_f64()
    );
    let _ = writeln!(
        d,
        "A download verified by MD5 cannot outrun MD5 itself on one core (the last row): online-convert's \
         path runs at that bound less the cores the network takes, and well ahead of curl verifying \
         the same way (`&& md5sum F`). ConvertAPI's outputs carry only a size, verified for free.\n"
    );

    // per-job cost
    let _ = writeln!(d, "## What a job costs the client\n");
    let _ = writeln!(
        d,
        "Concurrency 1, jobs of {:.0} s at the vendor. Ratios are against the raw-reqwest floor \
         (the same HTTP calls, nothing else: target for the crate ≤ 1.10× CPU).\n",
        r.throughput_work.as_secs_f64()
    );
    for vendor in [Vendor::Oc, Vendor::Ca] {
        let _ = writeln!(d, "### {}\n", vendor.name());
        let _ = writeln!(
            d,
            "| contender | wall/job | CPU/job | CPU vs floor | peak RSS | start-up CPU |"
        );
        let _ = writeln!(d, "|---|---:|---:|---:|---:|---:|");
        let floor = find(&r.rows, Who::Raw, vendor, 1);
        for who in [Who::Crate, Who::Raw, Who::Python, Who::Curl] {
            let Some(row) = find(&r.rows, who, vendor, 1) else {
                continue;
            };
            let ratio = floor.map_or("—".into(), |f| {
                format!(
                    "{:.2}×",
                    row.cpu_per_job().as_secs_f64() / f.cpu_per_job().as_secs_f64().max(1e-9)
                )
            });
            let _ = writeln!(
                d,
                "| {} | {} | {} | {ratio} | {} | {} |",
                who.label(vendor),
                ms(row.wall / row.jobs as u32),
                ms(row.cpu_per_job()),
                mib(row.peak_kib),
                r.startup
                    .get(&(who, vendor))
                    .map_or("—".into(), |m| ms(m.cpu)),
            );
        }
        let _ = writeln!(d);
    }

    // throughput
    let _ = writeln!(d, "## Throughput at concurrency\n");
    let _ = writeln!(
        d,
        "Jobs of {:.0} s at the vendor; the crate runs the jobs as concurrent futures on a 2-thread \
         runtime, the SDKs on a `ThreadPoolExecutor` of the same size. Jobs per CPU-second: the target \
         is ≥ 10× the SDK's.\n\n![jobs per second vs concurrency](benchmarks-throughput.svg)\n",
        r.throughput_work.as_secs_f64()
    );
    let _ = writeln!(d, "| vendor | concurrency | jobs | crate jobs/s | SDK jobs/s | crate CPU/job | SDK CPU/job | jobs per CPU-s, crate ÷ SDK | crate peak RSS | SDK peak RSS |");
    let _ = writeln!(d, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut cs: Vec<usize> = r.rows.iter().map(|x| x.concurrency).collect();
    cs.sort_unstable();
    cs.dedup();
    for vendor in [Vendor::Oc, Vendor::Ca] {
        for &c in &cs {
            let ours = find(&r.rows, Who::Crate, vendor, c);
            let sdk = find(&r.rows, Who::Python, vendor, c);
            let Some(o) = ours else { continue };
            let _ = writeln!(
                d,
                "| {} | {c} | {} | {:.2} | {} | {} | {} | {} | {} | {} |",
                vendor.name(),
                o.jobs,
                o.jobs_per_s(),
                sdk.map_or("—".into(), |s| format!("{:.2}", s.jobs_per_s())),
                ms(o.cpu_per_job()),
                sdk.map_or("—".into(), |s| ms(s.cpu_per_job())),
                sdk.map_or("—".into(), |s| format!(
                    "{:.1}×",
                    o.jobs_per_cpu_s() / s.jobs_per_cpu_s()
                )),
                mib(o.peak_kib),
                sdk.map_or("—".into(), |s| mib(s.peak_kib)),
            );
        }
    }
    let _ = writeln!(d);

    // lateness
    let _ = writeln!(d, "## Polls and lateness\n");
    let _ = writeln!(
        d,
        "Four jobs at once per contender, a fresh emulator each. *Job time*: submit to the vendor's \
         completion (the emulator stamps it); *overshoot*: completion to the client noticing, also as a \
         share of the job time (target ≤ 10 %); *polls*: status requests per job the emulator counted \
         (webhook-woken: the one confirming poll). Medians.\n"
    );
    let _ = writeln!(d, "| vendor | job work | contender | job time | polls/job | overshoot | overshoot ÷ job time | submit → noticed |");
    let _ = writeln!(d, "|---|---:|---|---:|---:|---:|---:|---:|");
    for l in &r.lateness {
        let _ = writeln!(
            d,
            "| {} | {:.1} s | {} | {:.2} s | {:.1} | {} | {} | {:.2} s |",
            l.vendor.name(),
            l.work.as_secs_f64(),
            l.who.label(l.vendor),
            l.job_ms as f64 / 1000.0,
            l.polls,
            l.overshoot_ms
                .map_or("— (held request)".into(), |o| format!(
                    "{:.2} s",
                    o as f64 / 1000.0
                )),
            l.overshoot_ms.map_or("—".into(), |o| format!(
                "{:.0} %",
                100.0 * o as f64 / (l.job_ms as f64).max(1.0)
            )),
            l.wall_ms as f64 / 1000.0,
        );
    }
    let _ = writeln!(d);

    // one command
    let _ = writeln!(d, "## One job from the command line\n");
    let _ = writeln!(
        d,
        "A job of {:.1} s at the vendor, run as a user runs it: one command (the CLI, a Python script on \
         the SDK, the curl script), timed from start to exit, start-up included; medians of {} \
         alternating rounds. Target for the CLI: within 1.2× the SDK's wall time.\n",
        r.command_work.as_secs_f64(),
        if r.quick { 1 } else { 3 }
    );
    let _ = writeln!(d, "| vendor | command | wall | CPU | wall vs SDK |");
    let _ = writeln!(d, "|---|---|---:|---:|---:|");
    for vendor in [Vendor::Oc, Vendor::Ca] {
        let sdk = r.commands.get(&(vendor, Who::Python)).map(|c| c.0);
        for who in [Who::Cli, Who::Python, Who::Curl] {
            let Some((wall, cpu)) = r.commands.get(&(vendor, who)) else {
                continue;
            };
            let _ = writeln!(
                d,
                "| {} | {} | {:.2} s | {} | {} |",
                vendor.name(),
                who.label(vendor),
                wall.as_secs_f64(),
                ms(*cpu),
                sdk.map_or("—".into(), |s| format!(
                    "{:.2}×",
                    wall.as_secs_f64() / s.as_secs_f64()
                ))
            );
        }
    }
    let _ = writeln!(d);

    // memory
    let _ = writeln!(d, "## Memory per in-flight job\n");
    let _ = writeln!(
        d,
        "The crate waiting on N jobs at once (jobs the emulator runs for an hour): the child's RSS once \
         every wait is in flight and has polled, less its RSS with none, per job.\n"
    );
    let _ = writeln!(d, "| vendor | waits in flight | RSS per wait |");
    let _ = writeln!(d, "|---|---:|---:|");
    for (vendor, n, kib) in &r.memory {
        let _ = writeln!(d, "| {} | {n} | {kib:.1} KiB |", vendor.name());
    }
    d
}

/// A thousand waits against one vendor account's request limit.
mod pace {
    use super::*;

    /// The account's limit, and the budget the crate is given in the paced run.
    pub const LIMIT: u32 = 50;

    /// One run of the pace scenario.
    pub struct Run {
        pub label: &'static str,
        pub limit: Option<u32>,
        pub rate: &'static str,
        pub jobs: usize,
        pub completed: usize,
        pub errors: usize,
        pub first_error: Option<String>,
        pub throttled: u64,
        pub wall: Duration,
        pub late: Option<Lateness>,
    }

    pub struct Pace {
        pub jobs: usize,
        pub work: Duration,
        pub runs: Vec<Run>,
    }

    pub fn measure(runtime: &tokio::runtime::Runtime, harness: &mut Harness, quick: bool) -> Pace {
        let (jobs, work) = if quick {
            (100, Duration::from_secs(3))
        } else {
            (1000, Duration::from_secs(15))
        };
        let budget = format!("{LIMIT}/s");
        let plan: [(&'static str, Option<u32>, String); 3] = [
            (
                "no account limit, no budget (the unlimited schedule)",
                None,
                "unlimited".into(),
            ),
            (
                "account limit, instance budget at the limit",
                Some(LIMIT),
                budget,
            ),
            ("account limit, no budget", Some(LIMIT), "unlimited".into()),
        ];
        let mut runs = Vec::new();
        for (label, limit, rate) in plan {
            note(&format!("pace: {jobs} jobs of {work:?}, {label}"));
            let emu = runtime.block_on(async {
                let mut config = EmulatorConfig::default()
                    .online_convert_key(KEY)
                    .convertapi_secret(SECRET)
                    .work(work);
                if let Some(limit) = limit {
                    config = config.rate_limit(limit);
                }
                Emulator::start(config).await.expect("the emulator starts")
            });
            harness.rate = Some(rate.clone());
            let cmd = harness.command(Who::Crate, Vendor::Oc, &emu, jobs, jobs);
            harness.rate = None;
            let Some(cmd) = cmd else { continue };
            let measured = match run(cmd) {
                Ok(m) => m,
                Err(e) => {
                    note(&format!("pace: could not run: {e}"));
                    continue;
                }
            };
            let report: ChildReport =
                serde_json::from_value(measured.report.clone()).unwrap_or_default();
            let late = (!report.jobs.is_empty())
                .then(|| lateness(Who::Crate, Vendor::Oc, work, &report, &emu));
            runs.push(Run {
                label,
                limit,
                rate: if rate == "unlimited" {
                    "unlimited"
                } else {
                    "50/s"
                },
                jobs,
                completed: report.jobs.len(),
                errors: report.errors,
                first_error: report.first_error.clone(),
                throttled: emu.count("oc.throttled"),
                wall: measured.wall,
                late,
            });
            runtime.block_on(emu.shutdown());
        }
        Pace { jobs, work, runs }
    }

    pub fn render(p: &Pace, machine: &str, quick: bool) -> String {
        let mut d =
            String::from("## Spend and pace\n\n### One account limit, a thousand waits\n\n");
        let _ = writeln!(
            d,
            "Generated by `cargo bench -p multiconvert-bench --bench sdk` (this part alone: \
             `MC_BENCH_ONLY=pace`){}; do not edit by hand, run it again.\n\n\
             - Machine: {machine}\n\
             - {} online-convert jobs of {:.0} s at the vendor, all submitted and waited on at once \
             by one provider instance in one child process (the default poll policy), against \
             [the emulator](../emulator) whose account takes {LIMIT} requests a second (a token \
             bucket of a second's worth; past it, online-convert's `429` with `Retry-After: 1`, \
             counted). Every request counts: create, upload, start, polls, download.\n\
             - Overshoot: from the job's end at the vendor to the moment its wait returned, \
             median over the jobs; job time: from submit to the job's end at the vendor.\n",
            if quick { " with `MC_BENCH_QUICK=1` (a short run)" } else { "" },
            p.jobs,
            p.work.as_secs_f64()
        );
        let _ = writeln!(
            d,
            "| run | account limit | instance rate | completed | failed | 429s answered | polls/job | median job time | median overshoot | all done after |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for r in &p.runs {
            let limit = r.limit.map_or("none".to_owned(), |l| format!("{l}/s"));
            let (polls, job, over) = match &r.late {
                Some(l) => (
                    format!("{:.1}", l.polls),
                    format!("{:.1} s", l.job_ms as f64 / 1000.0),
                    l.overshoot_ms
                        .map_or("—".into(), |o| format!("{:.1} s", o as f64 / 1000.0)),
                ),
                None => ("—".into(), "—".into(), "—".into()),
            };
            let _ = writeln!(
                d,
                "| {} | {limit} | {} | {} of {} | {} | {} | {polls} | {job} | {over} | {:.0} s |",
                r.label,
                r.rate,
                r.completed,
                r.jobs,
                r.errors,
                r.throttled,
                r.wall.as_secs_f64()
            );
        }
        for r in p.runs.iter().filter(|r| r.errors > 0) {
            let _ = writeln!(
                d,
                "\n{}: the first failure was {:?}.",
                r.label,
                r.first_error.as_deref().unwrap_or("?")
            );
        }
        d
    }
}

/// What routing by cost saves, and one budget held by two processes.
mod spend {
    use std::sync::Arc;

    use futures_util::{stream, StreamExt};
    use multiconvert_core::failover::{Failover, Route};
    use multiconvert_core::{
        Conversion, ConversionProvider, Input, JobRequest, JobStatus, Price, ProviderExt,
    };

    use super::*;

    /// The price of a unit at each vendor: online-convert three times ConvertAPI's.
    const PRICES: [(&str, f64); 2] = [("online-convert", 3.0), ("convertapi", 1.0)];

    pub struct Routed {
        pub route: Route,
        pub done: usize,
        pub price: f64,
        pub at: BTreeMap<String, u64>,
    }

    pub struct Shared {
        pub state: String,
        pub files: usize,
        pub cap: u64,
        pub done: usize,
        pub converted: u64,
        pub codes: (i32, i32),
    }

    pub struct Spend {
        pub files: usize,
        pub routed: Vec<Routed>,
        pub shared: Option<Shared>,
        pub shared_skipped: Option<String>,
    }

    pub fn measure(
        runtime: &tokio::runtime::Runtime,
        harness: &Harness,
        pace_only: bool,
        quick: bool,
    ) -> Spend {
        let files = if quick { 40 } else { 200 };
        let mut routed = Vec::new();
        for route in [Route::Ordered, Route::Cheapest] {
            note(&format!(
                "spend: {files} jobs over two priced vendors, route {route}"
            ));
            routed.push(runtime.block_on(run_routed(harness, route, files)));
        }
        let (shared, shared_skipped) = match shared_budget(runtime, harness, pace_only, quick) {
            Ok(shared) => (Some(shared), None),
            Err(why) => {
                note(&format!(
                    "spend: two processes on one budget SKIPPED: {why}"
                ));
                (None, Some(why))
            }
        };
        Spend {
            files,
            routed,
            shared,
            shared_skipped,
        }
    }

    /// `files` jobs through a failover of online-convert then ConvertAPI on the emulator, each
    /// priced per unit, in `route` order; what they cost at those prices.
    async fn run_routed(harness: &Harness, route: Route, files: usize) -> Routed {
        let emu = emulator(Duration::from_millis(200)).await;
        let price = |name: &str| {
            PRICES
                .iter()
                .find(|(n, _)| *n == name)
                .and_then(|(_, p)| Price::per_unit(*p))
                .expect("a price")
        };
        let oc = multiconvert_online_convert::OnlineConvert::new(
            multiconvert_online_convert::Config::builder()
                .api_key(KEY)
                .base_url(emu.online_convert_url())
                .price(price("online-convert"))
                .build()
                .expect("a config"),
        )
        .expect("a provider");
        let ca = multiconvert_convertapi::ConvertApi::new(
            multiconvert_convertapi::Config::builder()
                .secret(SECRET)
                .base_url(emu.convertapi_url())
                .price(price("convertapi"))
                .build()
                .expect("a config"),
        )
        .expect("a provider");
        let router = Arc::new(
            Failover::builder()
                .route(route.clone())
                .member(Arc::new(oc))
                .member(Arc::new(ca))
                .build()
                .expect("a router"),
        );
        let input = harness.input.clone();
        let jobs: Vec<Option<(String, f64)>> = stream::iter(0..files)
            .map(|_| {
                let (router, input) = (router.clone(), input.clone());
                async move {
                    let request = JobRequest::new(Input::path(input), Conversion::to("jpg"));
                    let handle = router.submit(&request).await.ok()?;
                    let job = router
                        .wait(&handle, &router.info().poll_policy)
                        .await
                        .ok()?;
                    (job.status == JobStatus::Completed).then_some(())?;
                    let owner = job.handle.provider.clone();
                    let spent = router
                        .member(&owner)
                        .and_then(|m| m.info().price_of(job.cost.as_ref()?))
                        .unwrap_or(0.0);
                    Some((owner, spent))
                }
            })
            .buffer_unordered(16)
            .collect()
            .await;
        let mut at = BTreeMap::new();
        let mut total = 0.0;
        for (owner, spent) in jobs.iter().flatten() {
            *at.entry(owner.clone()).or_insert(0) += 1;
            total += spent;
        }
        emu.shutdown().await;
        Routed {
            route,
            done: jobs.iter().flatten().count(),
            price: total,
            at,
        }
    }

    /// Two `multiconvert batch` processes at once on one state with one ConvertAPI budget:
    /// how many conversions the vendor ran.
    fn shared_budget(
        runtime: &tokio::runtime::Runtime,
        harness: &Harness,
        pace_only: bool,
        quick: bool,
    ) -> Result<Shared, String> {
        let cli = if pace_only {
            cli_binary()
        } else {
            harness.cli.clone()
        }
        .ok_or("the CLI could not be built")?;
        let (files, cap) = if quick { (12, 5) } else { (40, 15) };
        let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
        let input = scratch.path().join("in");
        std::fs::create_dir_all(&input).map_err(|e| e.to_string())?;
        for i in 0..files {
            std::fs::copy(&harness.input, input.join(format!("p{i:03}.png")))
                .map_err(|e| e.to_string())?;
        }
        let postgres = [
            "MULTICONVERT_BENCH_POSTGRES_URL",
            "MULTICONVERT_TEST_POSTGRES_URL",
        ]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()));
        let (state, label) = match &postgres {
            // A database of its own: a budget's period already spent by an earlier run would
            // leave nothing to measure.
            Some(admin) => {
                let name = format!("mc_bench_{}", uuid::Uuid::new_v4().simple());
                let url = runtime
                    .block_on(multiconvert_store::Store::create_postgres_database(
                        admin, &name,
                    ))
                    .map_err(|e| e.to_string())?;
                (url, "PostgreSQL".to_owned())
            }
            None => (
                format!("sqlite:{}", scratch.path().join("state.sqlite").display()),
                "SQLite (no PostgreSQL named by MULTICONVERT_BENCH_POSTGRES_URL)".to_owned(),
            ),
        };
        let emu = runtime.block_on(emulator(Duration::from_millis(200)));
        let spawn = || {
            Command::new(&cli)
                .arg("batch")
                .arg(&input)
                .args(["--to", "jpg", "--provider", "convertapi", "--json"])
                .arg("--out")
                .arg(scratch.path().join("out"))
                .args(["--state", &state, "--concurrency", "4", "--lease", "2"])
                .args(["--budget", &format!("convertapi={cap}/day")])
                .env("CONVERTAPI_SECRET", SECRET)
                .env("CONVERTAPI_BASE_URL", emu.convertapi_url())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .map_err(|e| e.to_string())
        };
        note(&format!(
            "spend: two batch processes, {files} files, a budget of {cap}, on {label}"
        ));
        let (a, b) = (spawn()?, spawn()?);
        let (a, b) = (
            a.wait_with_output().map_err(|e| e.to_string())?,
            b.wait_with_output().map_err(|e| e.to_string())?,
        );
        let done = [&a, &b]
            .iter()
            .flat_map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
            .filter(|v| v["status"] == "done")
            .count();
        let converted = emu.count("ca.conversions");
        runtime.block_on(emu.shutdown());
        Ok(Shared {
            state: label,
            files,
            cap,
            done,
            converted,
            codes: (a.status.code().unwrap_or(-1), b.status.code().unwrap_or(-1)),
        })
    }

    pub fn render(s: &Spend) -> String {
        let mut d = String::from("### Cheapest first\n\n");
        let _ = writeln!(
            d,
            "{} png → jpg jobs, 16 at a time, through one failover of online-convert then ConvertAPI \
             on the emulator (each charges one unit a conversion: online-convert's `spent`, \
             ConvertAPI's `ConversionCost`), a unit priced {} at online-convert and {} at ConvertAPI \
             (`MULTICONVERT_PRICE_*`, 3:1); what the jobs cost at those prices.\n",
            s.files, PRICES[0].1, PRICES[1].1
        );
        let _ = writeln!(
            d,
            "| route | completed | jobs per vendor | cost | vs ordered |\n|---|---:|---|---:|---:|"
        );
        let ordered = s
            .routed
            .iter()
            .find(|r| r.route == Route::Ordered)
            .map(|r| r.price);
        for r in &s.routed {
            let at: Vec<String> = r.at.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let ratio = ordered
                .filter(|o| *o > 0.0)
                .map_or("—".to_owned(), |o| format!("{:.2}×", r.price / o));
            let _ = writeln!(
                d,
                "| `{}` | {} of {} | {} | {:.1} | {ratio} |",
                r.route,
                r.done,
                s.files,
                at.join(", "),
                r.price
            );
        }
        d.push_str("\n### One budget, two processes\n\n");
        match (&s.shared, &s.shared_skipped) {
            (Some(b), _) => {
                let _ = writeln!(
                    d,
                    "Two `multiconvert batch --provider convertapi --budget convertapi={}/day` processes \
                     started together on one state ({}) over the same {} files: conversions the \
                     emulated vendor ran, against the budget.\n\n\
                     | files | budget | files done (both) | conversions at the vendor | exit codes |\n\
                     |---:|---:|---:|---:|---|\n\
                     | {} | {} | {} | {} | {}, {} |\n\n\
                     The files past the budget fail with exit code 4 naming it, and stay in the \
                     state for a rerun once the period turns.",
                    b.cap, b.state, b.files, b.files, b.cap, b.done, b.converted, b.codes.0, b.codes.1
                );
            }
            (None, Some(why)) => {
                let _ = writeln!(d, "SKIPPED: {why}.");
            }
            (None, None) => {}
        }
        d
    }
}
