//! Office documents side by side, in one run: the office provider's warm workers, its per-call
//! path (a LibreOffice per document), `soffice --convert-to` per document on a fresh profile, and
//! unoserver 3.7 (a warm LibreOffice behind XML-RPC, its own `unoconvert` client per document),
//! at concurrency 1 and 2, on a one-page docx, a 20-page docx, an xlsx and a pptx, to PDF.
//!
//! `cargo bench -p multiconvert-bench --bench office`. Writes its section of
//! `docs/benchmarks.md`. Knobs: `MC_BENCH_DOCS` (documents per round for the warm contenders,
//! default 40), `MC_BENCH_COLD_DOCS` (for the ones that start LibreOffice per document, default
//! 4), `MC_BENCH_ROUNDS` (default 3), `MC_BENCH_CONCURRENCY` (default `1,2`),
//! `MC_BENCH_CONTENDERS` (default `warm,percall,soffice,unoserver`), `MC_BENCH_UNOSERVER` (a directory holding `unoserver` and
//! `unoconvert`; otherwise the bench makes a virtualenv under the target directory on Debian's
//! `/usr/bin/python3`, whose `python3-uno` unoserver needs, and installs unoserver 3.7 from PyPI
//! into it). A contender that cannot run here is SKIPPED with the reason. Needs LibreOffice.
//!
//! Every contender is started and warmed (each lane converts the document once) before any
//! timing, and all run in every round, in a rotating order, so none always gets the warmer page
//! cache. Each lane converts one document after another; a document's latency is its own
//! conversion, the rate is documents over the round's wall time. Peak RSS per worker is sampled
//! from `/proc` every 200 ms (peaks are `VmHWM`, so a long-lived process loses none between samples): the largest sum over one process group (a warm worker is its
//! helper and its LibreOffice; unoserver is its server and its LibreOffice, its clients not
//! counted) of each process's peak (`VmHWM`, reset when each document's rounds begin).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use multiconvert_bench::report;
use multiconvert_core::{
    Conversion, ConversionProvider, Input, JobRequest, JobStatus, ProviderExt,
};
use multiconvert_office::{find_soffice, Config, Engine, Office};
use tokio::process::Command;

/// The unoserver release measured against (the one `../shared/reference/office-engines.md` read).
const UNOSERVER: &str = "3.7";

/// A table row: contender, document (its index), concurrency.
type Key = (Who, usize, usize);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Warm,
    PerCall,
    Soffice,
    Unoserver,
}

impl Who {
    const ALL: [Who; 4] = [Who::Warm, Who::PerCall, Who::Soffice, Who::Unoserver];

    fn label(self) -> &'static str {
        match self {
            Who::Warm => "multiconvert office, warm workers",
            Who::PerCall => "multiconvert office, per call",
            Who::Soffice => "`soffice --convert-to`, fresh profile",
            Who::Unoserver => "unoserver + `unoconvert`",
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Who::Warm => "warm",
            Who::PerCall => "percall",
            Who::Soffice => "soffice",
            Who::Unoserver => "unoserver",
        }
    }

    /// Whether it keeps LibreOffice running between documents (and so gets the larger count).
    fn warm(self) -> bool {
        matches!(self, Who::Warm | Who::Unoserver)
    }
}

/// A document measured.
struct Doc {
    label: String,
    path: PathBuf,
}

/// One unoserver instance: a lane's server, in a process group of its own.
struct Server {
    port: u16,
    child: tokio::process::Child,
}

/// A contender, started.
enum Running {
    Office(Box<Office>),
    Soffice(PathBuf),
    Unoserver(Unoservers),
}

/// unoserver instances, one per lane, and what a supervisor does for them: unoserver exits
/// when its LibreOffice dies or a conversion times out, and leaves restarting to whoever runs
/// it ("designed to be started by … Supervisor"), so the harness restarts a dead one before
/// each round, as a user's supervisor would, and counts it.
struct Unoservers {
    bin: PathBuf,
    soffice: PathBuf,
    home: PathBuf,
    servers: Mutex<Vec<Option<Server>>>,
    restarts: AtomicUsize,
}

impl Unoservers {
    fn new(bin: &Path, soffice: &Path, lanes: usize, home: &Path) -> Result<Self, String> {
        let us = Unoservers {
            bin: bin.to_owned(),
            soffice: soffice.to_owned(),
            home: home.to_owned(),
            servers: Mutex::new((0..lanes).map(|_| None).collect()),
            restarts: AtomicUsize::new(0),
        };
        us.revive()?;
        us.restarts.store(0, Ordering::Relaxed);
        Ok(us)
    }

    /// Starts every lane's server that is not running (each on fresh ports and its own profile).
    fn revive(&self) -> Result<(), String> {
        let mut servers = self.servers.lock().unwrap();
        for (lane, slot) in servers.iter_mut().enumerate() {
            if let Some(server) = slot {
                if matches!(server.child.try_wait(), Ok(None)) {
                    continue;
                }
                self.restarts.fetch_add(1, Ordering::Relaxed);
                server.kill();
            }
            let (port, uno_port) = (free_port(), free_port());
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.home.join(format!("lane-{lane}.log")))
                .map_err(|e| format!("unoserver's log: {e}"))?;
            let child = quiet(Command::new(self.bin.join("unoserver")))
                .stderr(log)
                .args(["--interface", "127.0.0.1", "--uno-interface", "127.0.0.1"])
                .args([
                    "--port",
                    &port.to_string(),
                    "--uno-port",
                    &uno_port.to_string(),
                ])
                .arg("--executable")
                .arg(&self.soffice)
                .arg("--user-installation")
                .arg(self.home.join(format!("lane-{lane}")))
                .spawn()
                .map_err(|e| format!("unoserver: {e}"))?;
            *slot = Some(Server { port, child });
        }
        Ok(())
    }

    fn port(&self, lane: usize) -> Option<u16> {
        self.servers.lock().unwrap()[lane].as_ref().map(|s| s.port)
    }
}

impl Drop for Unoservers {
    fn drop(&mut self) {
        for server in self.servers.get_mut().unwrap().iter_mut().flatten() {
            server.kill();
        }
    }
}

impl Server {
    /// Takes the server and its LibreOffice (its process group) down.
    fn kill(&mut self) {
        if let Some(pid) = self.child.id() {
            // SAFETY: a signal to the group this child leads (never 0 or 1: it has a pid).
            unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
        }
        let _ = self.child.start_kill();
        let _ = self.child.try_wait();
    }
}

impl Running {
    /// Restarts what has died, where the contender has a server to restart; how many it did.
    fn revive(&self) -> usize {
        let Running::Unoserver(us) = self else {
            return 0;
        };
        let before = us.restarts.load(Ordering::Relaxed);
        if let Err(e) = us.revive() {
            eprintln!("office bench: unoserver could not be restarted: {e}");
        }
        us.restarts.load(Ordering::Relaxed) - before
    }

    /// Converts `doc` to PDF into the (new) directory `out` on `lane`.
    async fn convert(&self, lane: usize, doc: &Path, out: &Path) -> Result<(), String> {
        std::fs::create_dir_all(out).map_err(|e| e.to_string())?;
        let pdf = out.join(format!(
            "{}.pdf",
            doc.file_stem().unwrap_or_default().to_string_lossy()
        ));
        match self {
            Running::Office(office) => {
                let request = JobRequest::new(Input::path(doc), Conversion::to("pdf"));
                let handle = office.submit(&request).await.map_err(|e| e.to_string())?;
                let job = office
                    .wait(&handle, &office.info().poll_policy)
                    .await
                    .map_err(|e| e.to_string())?;
                if job.status != JobStatus::Completed || job.outputs.len() != 1 {
                    return Err(format!("{:?}: {:?}", job.status, job.messages));
                }
                return Ok(());
            }
            Running::Soffice(soffice) => {
                let profile = format!(
                    "-env:UserInstallation=file://{}",
                    out.join("profile").display()
                );
                let status = quiet(Command::new(soffice))
                    .args(["--headless", "--norestore", "--nologo", "--nodefault"])
                    .args(["--nolockcheck", &profile, "--convert-to", "pdf", "--outdir"])
                    .arg(out)
                    .arg(doc)
                    .status()
                    .await
                    .map_err(|e| e.to_string())?;
                if !status.success() {
                    return Err(format!("soffice: {status}"));
                }
            }
            Running::Unoserver(us) => {
                let port = us.port(lane).ok_or("no server on this lane")?;
                let client = quiet(Command::new(us.bin.join("unoconvert")))
                    .args(["--host", "127.0.0.1", "--port"])
                    .arg(port.to_string())
                    .arg(doc)
                    .arg(&pdf)
                    .stderr(std::process::Stdio::piped())
                    .output();
                // A server that died leaves its client waiting for ever.
                let output = tokio::time::timeout(Duration::from_secs(120), client)
                    .await
                    .map_err(|_| "unoconvert had no answer in 120 s".to_owned())?
                    .map_err(|e| e.to_string())?;
                if !output.status.success() {
                    let tail = String::from_utf8_lossy(&output.stderr);
                    return Err(format!(
                        "unoconvert: {}",
                        tail.trim().lines().last().unwrap_or("")
                    ));
                }
            }
        }
        match std::fs::read(&pdf) {
            Ok(bytes) if bytes.starts_with(b"%PDF-") => Ok(()),
            _ => Err(format!("no PDF at {}", pdf.display())),
        }
    }
}

/// A command with no input or output, in a process group of its own (which the RSS sampler
/// counts as one worker), killed if its future is dropped.
fn quiet(mut command: Command) -> Command {
    command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    command
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// The directory holding `unoserver` and `unoconvert` 3.7, installed when missing; or why not.
async fn find_unoserver() -> Result<PathBuf, String> {
    let has = |dir: &Path| dir.join("unoserver").exists() && dir.join("unoconvert").exists();
    if let Some(dir) = std::env::var_os("MC_BENCH_UNOSERVER").map(PathBuf::from) {
        return if has(&dir) {
            Ok(dir)
        } else {
            Err(format!(
                "MC_BENCH_UNOSERVER={} holds no unoserver",
                dir.display()
            ))
        };
    }
    let venv = target_dir().join(format!("bench-unoserver-{UNOSERVER}"));
    let bin = venv.join("bin");
    if has(&bin) {
        return Ok(bin);
    }
    let debian = Path::new("/usr/bin/python3");
    if !multiconvert_office::warm::python_has_uno(debian).await {
        return Err(
            "Debian's /usr/bin/python3 cannot import uno (apt-get install python3-uno)".into(),
        );
    }
    let step = |program: &Path, args: &[&str]| {
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        command
    };
    let venv_arg = venv.to_string_lossy().into_owned();
    let made = step(debian, &["-m", "venv", "--system-site-packages", &venv_arg])
        .output()
        .await
        .map_err(|e| format!("python3 -m venv: {e}"))?;
    if !made.status.success() {
        return Err(format!(
            "python3 -m venv failed (apt-get install python3-venv): {}",
            String::from_utf8_lossy(&made.stderr).trim()
        ));
    }
    let spec = format!("unoserver=={UNOSERVER}");
    let installed = tokio::time::timeout(
        Duration::from_secs(300),
        step(&bin.join("pip"), &["install", "--quiet", &spec]).output(),
    )
    .await
    .map_err(|_| "pip install took over 5 minutes".to_owned())?
    .map_err(|e| format!("pip: {e}"))?;
    if !installed.status.success() || !has(&bin) {
        let _ = std::fs::remove_dir_all(&venv);
        return Err(format!(
            "pip install {spec} failed: {}",
            String::from_utf8_lossy(&installed.stderr)
                .trim()
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    Ok(bin)
}

/// Peak RSS per worker while a (contender, document, concurrency) runs, sampled from `/proc`.
#[derive(Default)]
struct Sampler {
    /// The contender's marker (a path in its workers' command lines) and the key to charge.
    current: Mutex<Option<(String, Key)>>,
    peaks: Mutex<BTreeMap<Key, u64>>,
    stop: AtomicBool,
}

/// `(pid, pgid, VmHWM KiB)` of every live process whose command line holds `marker`, outside
/// this process's own group.
fn processes(marker: &str) -> Vec<(u32, i32, u64)> {
    let own = unsafe { libc::getpgrp() };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| {
            let entry = e.ok()?;
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(entry.path().join("cmdline")).ok()?;
            if !String::from_utf8_lossy(&cmd).contains(marker) {
                return None;
            }
            let pgid = unsafe { libc::getpgid(pid as i32) };
            if pgid <= 0 || pgid == own {
                return None;
            }
            let status = std::fs::read_to_string(entry.path().join("status")).ok()?;
            let hwm = status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some((pid, pgid, hwm))
        })
        .collect()
}

impl Sampler {
    fn charge(&self, marker: &Path, key: Key) {
        let marker = marker.display().to_string();
        for (pid, _, _) in processes(&marker) {
            // Linux ≥ 4.0: VmHWM starts again from the current RSS.
            let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
        }
        *self.current.lock().unwrap() = Some((marker, key));
    }

    fn idle(&self) {
        *self.current.lock().unwrap() = None;
    }

    fn run(&self) {
        while !self.stop.load(Ordering::Relaxed) {
            let current = self.current.lock().unwrap().clone();
            if let Some((marker, key)) = current {
                let mut groups: BTreeMap<i32, u64> = BTreeMap::new();
                for (_, pgid, hwm) in processes(&marker) {
                    *groups.entry(pgid).or_default() += hwm;
                }
                if let Some(&largest) = groups.values().max() {
                    let mut peaks = self.peaks.lock().unwrap();
                    let peak = peaks.entry(key).or_default();
                    *peak = (*peak).max(largest);
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// What the rounds of one (contender, document, concurrency) came to.
#[derive(Default)]
struct Measured {
    rates: Vec<f64>,
    latencies: Vec<Duration>,
}

impl Measured {
    fn rate(&self) -> f64 {
        let mut rates = self.rates.clone();
        rates.sort_by(f64::total_cmp);
        rates[rates.len() / 2]
    }

    fn percentile(&self, p: f64) -> Duration {
        let mut l = self.latencies.clone();
        l.sort();
        l[((l.len() as f64 * p).ceil() as usize).clamp(1, l.len()) - 1]
    }
}

/// Converts `docs` copies of `doc` on `lanes` lanes, one after another on each; the round's
/// rate and every document's latency.
async fn round(
    running: &Arc<Running>,
    lanes: usize,
    docs: usize,
    doc: &Path,
    out: &Path,
) -> Result<(f64, Vec<Duration>), String> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for lane in 0..lanes {
        let (running, next, doc, out) = (
            running.clone(),
            next.clone(),
            doc.to_owned(),
            out.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= docs {
                    return Ok::<_, String>(latencies);
                }
                let began = Instant::now();
                running
                    .convert(lane, &doc, &out.join(i.to_string()))
                    .await?;
                latencies.push(began.elapsed());
            }
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.map_err(|e| e.to_string())??);
    }
    let elapsed = started.elapsed();
    Ok((docs as f64 * 60.0 / elapsed.as_secs_f64(), latencies))
}

/// Writes a `pages`-page text document as flat ODF (a heading opening each page, four
/// paragraphs and a table under it) and has LibreOffice make a docx of it.
async fn long_docx(soffice: &Path, pages: usize, dir: &Path) -> PathBuf {
    let words = "The quarterly figures show steady growth across every region, with costs held \
        flat and margins widening as the new conversion pipeline took over the manual steps. ";
    let mut body = String::new();
    for page in 1..=pages {
        let style = if page == 1 { "H" } else { "HB" };
        let _ = write!(
            body,
            r#"<text:h text:style-name="{style}" text:outline-level="1">Section {page}</text:h>"#
        );
        for _ in 0..4 {
            let _ = write!(body, "<text:p>{}</text:p>", words.repeat(3));
        }
        body.push_str(r#"<table:table table:name="T"#);
        let _ = write!(
            body,
            "{page}\"><table:table-column table:number-columns-repeated=\"4\"/>"
        );
        for row in 0..5 {
            body.push_str("<table:table-row>");
            for col in 0..4 {
                let _ = write!(
                    body,
                    "<table:table-cell office:value-type=\"string\"><text:p>{page}.{row}.{col}</text:p></table:table-cell>"
                );
            }
            body.push_str("</table:table-row>");
        }
        body.push_str("</table:table>");
    }
    let fodt = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" office:version="1.2" office:mimetype="application/vnd.oasis.opendocument.text">
<office:automatic-styles>
<style:style style:name="H" style:family="paragraph"><style:text-properties fo:font-size="18pt" fo:font-weight="bold"/></style:style>
<style:style style:name="HB" style:family="paragraph"><style:paragraph-properties fo:break-before="page"/><style:text-properties fo:font-size="18pt" fo:font-weight="bold"/></style:style>
</office:automatic-styles>
<office:body><office:text>{body}</office:text></office:body>
</office:document>
"#
    );
    let source = dir.join("long.fodt");
    std::fs::write(&source, fodt).expect("write the long document");
    let profile = format!(
        "-env:UserInstallation=file://{}",
        dir.join("profile").display()
    );
    let status = quiet(Command::new(soffice))
        .args([
            "--headless",
            "--norestore",
            "--nologo",
            "--nodefault",
            "--nolockcheck",
        ])
        .args([profile.as_str(), "--convert-to", "docx", "--outdir"])
        .arg(dir)
        .arg(&source)
        .status()
        .await
        .expect("soffice");
    let docx = dir.join("long.docx");
    assert!(
        status.success() && docx.exists(),
        "LibreOffice made no long.docx"
    );
    docx
}

/// The pages of the PDF LibreOffice makes of `doc` (its page objects, counted in the file).
async fn pages(soffice: &Path, doc: &Path, dir: &Path) -> usize {
    let running = Running::Soffice(soffice.to_owned());
    let out = dir.join("pages");
    running.convert(0, doc, &out).await.expect("a PDF to count");
    let pdf = std::fs::read(out.join(format!(
        "{}.pdf",
        doc.file_stem().unwrap_or_default().to_string_lossy()
    )))
    .unwrap_or_default();
    pdf.windows(11)
        .filter(|w| w.starts_with(b"/Type/Page") && !w[10].is_ascii_alphanumeric())
        .count()
}

fn count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
        .max(1)
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let Ok(soffice) = find_soffice(None) else {
        println!("office bench: LibreOffice is not installed; nothing measured");
        return;
    };
    let (warm_docs, cold_docs) = (count("MC_BENCH_DOCS", 40), count("MC_BENCH_COLD_DOCS", 4));
    let rounds = multiconvert_bench::bench_rounds(3);
    let scratch = tempfile::tempdir().expect("tempdir");
    let root = scratch.path();
    let note = |s: &str| eprintln!("office bench: {s}");

    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/samples/office");
    std::fs::create_dir_all(root.join("long")).unwrap();
    let long = long_docx(&soffice, 20, &root.join("long")).await;
    let mut docs = Vec::new();
    for (label, path) in [
        ("one-page docx", samples.join("report.docx")),
        ("20-page docx", long),
        ("xlsx", samples.join("table.xlsx")),
        ("pptx", samples.join("slides.pptx")),
    ] {
        let n = pages(&soffice, &path, root).await;
        let label = format!("{label} ({n} page{})", if n == 1 { "" } else { "s" });
        note(&label);
        docs.push(Doc { label, path });
    }

    let mut skipped: BTreeMap<Who, String> = BTreeMap::new();
    let python = Path::new("/usr/bin/python3");
    if !multiconvert_office::warm::python_has_uno(python).await {
        skipped.insert(
            Who::Warm,
            "Debian's /usr/bin/python3 cannot import uno (apt-get install python3-uno): the provider would run per call".into(),
        );
    }
    let unoserver = match find_unoserver().await {
        Ok(bin) => Some(bin),
        Err(why) => {
            skipped.insert(Who::Unoserver, why);
            None
        }
    };
    let version = |bin: &Path| {
        std::process::Command::new(bin.join("unoserver"))
            .arg("--version")
            .output()
            .ok()
            .map(|o| {
                let said = String::from_utf8_lossy(&o.stdout);
                let said = said.trim();
                said.strip_prefix("unoserver ").unwrap_or(said).to_owned()
            })
            .filter(|v| !v.is_empty())
    };
    let unoserver_version = unoserver.as_deref().and_then(version);
    for (who, why) in &skipped {
        note(&format!("{} SKIPPED: {why}", who.label()));
    }

    let chosen: Vec<Who> = match std::env::var("MC_BENCH_CONTENDERS") {
        Ok(list) => Who::ALL
            .into_iter()
            .filter(|w| list.split(',').any(|c| c.trim() == w.slug()))
            .collect(),
        Err(_) => Who::ALL.to_vec(),
    };
    let sampler = Arc::new(Sampler::default());
    let sampling = {
        let sampler = sampler.clone();
        std::thread::spawn(move || sampler.run())
    };
    let mut results: BTreeMap<Key, Measured> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut failed: BTreeMap<Key, String> = BTreeMap::new();
    let mut restarts: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    let levels: Vec<usize> = std::env::var("MC_BENCH_CONCURRENCY")
        .ok()
        .map(|v| {
            v.split(',')
                .filter_map(|c| c.trim().parse().ok())
                .filter(|&c| c > 0)
                .collect()
        })
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![1, 2]);
    for &lanes in &levels {
        let present: Vec<Who> = Who::ALL
            .into_iter()
            .filter(|w| !skipped.contains_key(w) && chosen.contains(w))
            .collect();
        let mut running = BTreeMap::new();
        for &who in &present {
            let home = root.join(format!("{}-{lanes}", who.slug()));
            std::fs::create_dir_all(&home).unwrap();
            let started = match who {
                Who::Warm | Who::PerCall => Office::new(
                    Config::new()
                        .soffice(&soffice)
                        .root(&home)
                        .concurrency(lanes)
                        .deadline(Duration::from_secs(300))
                        .engine(if who == Who::Warm {
                            Engine::Warm
                        } else {
                            Engine::PerCall
                        }),
                )
                .map(|office| Running::Office(Box::new(office)))
                .map_err(|e| e.to_string()),
                Who::Soffice => Ok(Running::Soffice(soffice.clone())),
                Who::Unoserver => {
                    Unoservers::new(unoserver.as_deref().unwrap(), &soffice, lanes, &home)
                        .map(Running::Unoserver)
                }
            };
            match started {
                Ok(r) => {
                    running.insert(who, (Arc::new(r), home));
                }
                Err(e) => failures.push(format!("{} could not start: {e}", who.label())),
            }
        }
        // Warm-up: every lane converts every document once; unoserver's LibreOffice takes some
        // seconds to come up, so a first document is tried again for a minute. A contender that
        // cannot convert a document is not timed on it: its row says why.
        for (who, (r, home)) in &running {
            for (d, doc) in docs.iter().enumerate() {
                for lane in 0..lanes {
                    // Only the first document may meet a server still starting.
                    let patience = if d == 0 { 60 } else { 0 };
                    let deadline = Instant::now() + Duration::from_secs(patience);
                    let out = home.join(format!("warm-{d}-{lane}"));
                    let mut first = None;
                    loop {
                        *restarts.entry((lanes, d)).or_default() += r.revive();
                        match r.convert(lane, &doc.path, &out).await {
                            Ok(()) => break,
                            Err(e) if Instant::now() > deadline => {
                                failed.entry((*who, d, lanes)).or_insert(first.unwrap_or(e));
                                break;
                            }
                            Err(e) => {
                                first.get_or_insert(e);
                                tokio::time::sleep(Duration::from_millis(500)).await
                            }
                        }
                    }
                    // A server this document took down is restarted now, and counted against it.
                    *restarts.entry((lanes, d)).or_default() += r.revive();
                }
            }
        }
        for (d, doc) in docs.iter().enumerate() {
            for round_no in 0..rounds {
                let mut order: Vec<Who> = running.keys().copied().collect();
                let turn = (round_no + d) % order.len().max(1);
                order.rotate_left(turn);
                for who in order {
                    let key = (who, d, lanes);
                    if failed.contains_key(&key) {
                        continue;
                    }
                    let (r, home) = &running[&who];
                    *restarts.entry((lanes, d)).or_default() += r.revive();
                    let n = if who.warm() { warm_docs } else { cold_docs };
                    note(&format!(
                        "{} · {} · concurrency {lanes} · round {}",
                        who.label(),
                        doc.label,
                        round_no + 1
                    ));
                    sampler.charge(home, key);
                    let out = home.join(format!("doc-{d}-round-{round_no}"));
                    match round(r, lanes, n, &doc.path, &out).await {
                        Ok((rate, latencies)) => {
                            let m = results.entry(key).or_default();
                            m.rates.push(rate);
                            m.latencies.extend(latencies);
                        }
                        Err(e) => {
                            results.remove(&key);
                            failed.insert(key, e);
                        }
                    }
                    *restarts.entry((lanes, d)).or_default() += r.revive();
                    sampler.idle();
                    let _ = std::fs::remove_dir_all(&out);
                }
            }
        }
        drop(running);
    }
    sampler.stop.store(true, Ordering::Relaxed);
    let _ = sampling.join();
    let peaks = sampler.peaks.lock().unwrap().clone();

    let doc = render(&Report {
        docs: &docs,
        results: &results,
        peaks: &peaks,
        skipped: &skipped,
        failures: &failures,
        failed: &failed,
        restarts: &restarts,
        libreoffice: report::version(&soffice.to_string_lossy(), "--version"),
        unoserver: unoserver_version,
        counts: (warm_docs, cold_docs, rounds),
        levels: &levels,
    });
    print!("{doc}");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/benchmarks.md");
    report::write_section(&path, "office", &doc).expect("write docs/benchmarks.md");
    note("wrote its section of docs/benchmarks.md");
    // Another tool failing a document is a finding for the table; ours failing one is a bug.
    let ours = failed
        .keys()
        .any(|(who, _, _)| matches!(who, Who::Warm | Who::PerCall));
    drop(scratch);
    if ours || !failures.is_empty() {
        std::process::exit(1);
    }
}

struct Report<'a> {
    docs: &'a [Doc],
    results: &'a BTreeMap<Key, Measured>,
    peaks: &'a BTreeMap<Key, u64>,
    skipped: &'a BTreeMap<Who, String>,
    failures: &'a [String],
    failed: &'a BTreeMap<Key, String>,
    restarts: &'a BTreeMap<(usize, usize), usize>,
    libreoffice: String,
    unoserver: Option<String>,
    counts: (usize, usize, usize),
    levels: &'a [usize],
}

fn render(r: &Report) -> String {
    let mut d = String::new();
    let (warm_docs, cold_docs, rounds) = r.counts;
    let _ = writeln!(d, "## Office documents: warm workers beside unoserver\n");
    let _ = writeln!(
        d,
        "Generated by `cargo bench -p multiconvert-bench --bench office`, every figure from one run.\n\n\
         - Machine: {}; {}; unoserver {}.\n\
         - Contenders: {}; {}; {} (what a script does by hand); {} (one server per lane: its XML-RPC \
         server takes one request at a time, so concurrency 2 is two servers, as its users run it).\n\
         - Each contender is started and every lane has converted each document once before any timing. \
         A round is {warm_docs} documents for the contenders that keep LibreOffice running, {cold_docs} for \
         the ones that start it per document; {rounds} rounds in a rotating order; docs/min is the median \
         round, p50 and p95 are over every document of every round (a document's own conversion: \
         submit to completed for the provider, the client process for `unoconvert`).\n\
         - Peak RSS per worker: sampled every 200 ms (each process's `VmHWM`, so nothing is lost between samples but a short-lived LibreOffice's last 200 ms), the largest process group's sum of its processes' \
         peaks (a warm worker: its helper and its LibreOffice; unoserver: its server and its LibreOffice, \
         not its clients; per call: that call's LibreOffice).\n",
        report::machine(),
        r.libreoffice,
        r.unoserver.as_deref().unwrap_or("not run"),
        Who::Warm.label(),
        Who::PerCall.label(),
        Who::Soffice.label(),
        Who::Unoserver.label(),
    );
    for (who, why) in r.skipped {
        let _ = writeln!(d, "**{} SKIPPED**: {why}.\n", who.label());
    }
    for failure in r.failures {
        let _ = writeln!(d, "**Failed**: {failure}\n");
    }
    let _ = writeln!(
        d,
        "| document | concurrency | contender | docs/min | × unoserver | p50 | p95 | peak RSS per worker |\n\
         |---|---:|---|---:|---:|---:|---:|---:|"
    );
    for (i, doc) in r.docs.iter().enumerate() {
        for &lanes in r.levels {
            let baseline = r
                .results
                .get(&(Who::Unoserver, i, lanes))
                .map(Measured::rate);
            for who in Who::ALL {
                if let Some(why) = r.failed.get(&(who, i, lanes)) {
                    let why: String = why.replace('|', "/").chars().take(160).collect();
                    let _ = writeln!(
                        d,
                        "| {} | {lanes} | {} | failed: {why} | | | | |",
                        doc.label,
                        who.label()
                    );
                    continue;
                }
                let Some(m) = r.results.get(&(who, i, lanes)) else {
                    continue;
                };
                let ratio = baseline.map_or("–".into(), |b| format!("{:.2}×", m.rate() / b));
                let rss = r.peaks.get(&(who, i, lanes)).map_or("–".into(), |kib| {
                    format!("{:.0} MiB", *kib as f64 / 1024.0)
                });
                let _ = writeln!(
                    d,
                    "| {} | {lanes} | {} | {:.0} | {ratio} | {} | {} | {rss} |",
                    doc.label,
                    who.label(),
                    m.rate(),
                    ms(m.percentile(0.5)),
                    ms(m.percentile(0.95)),
                );
            }
        }
    }
    for ((lanes, doc), n) in r.restarts {
        if *n > 0 {
            let _ = writeln!(
                d,
                "\nOn the {} at concurrency {lanes} the harness restarted a dead unoserver {n} time{} \
                 (unoserver exits when its LibreOffice dies and leaves restarting to a supervisor).",
                r.docs[*doc].label,
                if *n == 1 { "" } else { "s" }
            );
        }
    }
    let _ = writeln!(d, "\nAgainst the targets (issue 31):\n");
    let get = |who, doc, lanes| r.results.get(&(who, doc, lanes));
    let verdict = |ok: bool| if ok { "met" } else { "**not met**" };
    if let (Some(warm), Some(uno)) = (get(Who::Warm, 0, 1), get(Who::Unoserver, 0, 1)) {
        let ratio = warm.rate() / uno.rate();
        let _ = writeln!(
            d,
            "- One-page docx at concurrency 1: warm workers {:.0} docs/min, unoserver {:.0}: **{ratio:.2}×** (target ≥ 1.0×: {}).",
            warm.rate(),
            uno.rate(),
            verdict(ratio >= 1.0)
        );
    }
    if let Some(warm) = get(Who::Warm, 0, 1) {
        let p50 = warm.percentile(0.5);
        let _ = writeln!(
            d,
            "- Its p50: **{}** (target ≤ 150 ms: {}).",
            ms(p50),
            verdict(p50 <= Duration::from_millis(150))
        );
    }
    if let (Some(one), Some(two)) = (get(Who::Warm, 0, 1), get(Who::Warm, 0, 2)) {
        let scale = two.rate() / one.rate();
        let _ = writeln!(
            d,
            "- Concurrency 2 over concurrency 1, one-page docx: **{scale:.2}×** (target ≥ 1.6×: {}).",
            verdict(scale >= 1.6)
        );
    }
    for &lanes in r.levels {
        if let (Some(warm), Some(per_call)) =
            (get(Who::Warm, 1, lanes), get(Who::PerCall, 1, lanes))
        {
            let ratio = warm.rate() / per_call.rate();
            let _ = writeln!(
                d,
                "- 20-page docx at concurrency {lanes}: warm workers **{ratio:.2}×** today's per-call path (no regression: {}).",
                verdict(ratio >= 1.0)
            );
        }
    }
    d
}
