//! A large upload through each vendor provider to a loopback server, next to `curl` uploading the
//! same file, in alternating rounds: throughput, CPU and peak RSS (budget: 32 MiB).
//!
//! `cargo bench -p multiconvert-bench --bench upload` (512 MiB, 9 rounds, medians;
//! `MC_BENCH_BYTES` and `MC_BENCH_ROUNDS` change that). Fair by construction: the server answers
//! `Expect: 100-continue` at once (curl would otherwise stall a second before each upload), and
//! both sides run as child processes of their own, measured the same way (wall, CPU from
//! `wait4`, peak RSS), while the server stays in this process.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use multiconvert_bench::measure::{run, trampoline, Measured, TRAMPOLINE};
use multiconvert_bench::{bench_bytes, bench_rounds, median, serve, write_file, Reply, Seen};
use multiconvert_core::http::{HttpConfig, Timeouts};
use multiconvert_core::{Conversion, ConversionProvider, Input, JobRequest};

const JOB: &str = "8daae6d1-26e0-11e5-b2a1-0800273b325b";
const BUDGET_KIB: u64 = 32 * 1024;
const CHILD: &str = "--upload-child";

/// Answers like online-convert (jobs, upload-file) and ConvertAPI (upload, async convert).
fn route(seen: &Seen, base: &str) -> Reply {
    let t = seen.target.as_str();
    if t.starts_with("POST /v2/jobs") {
        Reply::Small(
            "201 Created",
            format!(
                r#"{{"id":"{JOB}","token":"t","status":{{"code":"incomplete"}},"input":[],"server":"{base}/dl"}}"#
            ),
        )
    } else if t.contains("/upload-file/") {
        Reply::Small(
            "200 OK",
            format!(
                r#"{{"id":"in-1","type":"upload","size":{}}}"#,
                seen.body_len
            ),
        )
    } else if t.starts_with("PATCH") {
        Reply::Small(
            "200 OK",
            format!(r#"{{"id":"{JOB}","status":{{"code":"processing"}}}}"#),
        )
    } else if t.starts_with("POST /upload") {
        Reply::Small(
            "200 OK",
            r#"{"FileId":"25811safe8e61dd3f51ef00ee5f58b92","FileName":"big.bin","FileExt":"bin"}"#
                .into(),
        )
    } else if t.starts_with("POST /async/convert") {
        Reply::Small(
            "200 OK",
            r#"{"JobId":"rwvd6vtq58eurfwv5zw5h2ci2pgno1pn"}"#.into(),
        )
    } else {
        Reply::Small("404 Not Found", "{}".into())
    }
}

fn http() -> HttpConfig {
    let mut timeouts = Timeouts::default();
    timeouts.upload = Duration::from_secs(3600);
    HttpConfig::default().with_timeouts(timeouts)
}

/// The child: one `submit()` of `path` through `vendor`'s provider at `base`.
fn child(vendor: &str, base: &str, path: &Path) {
    let provider: Box<dyn ConversionProvider> = match vendor {
        "online-convert" => Box::new(
            multiconvert_online_convert::OnlineConvert::new(
                multiconvert_online_convert::Config::builder()
                    .api_key("bench-key")
                    .base_url(format!("{base}/v2"))
                    .http(http())
                    .build()
                    .unwrap(),
            )
            .unwrap(),
        ),
        _ => Box::new(
            multiconvert_convertapi::ConvertApi::new(
                multiconvert_convertapi::Config::builder()
                    .secret("bench-secret")
                    .base_url(base)
                    // The async submit: its upload is the part measured, the answer is at once.
                    .submit_style(multiconvert_convertapi::SubmitStyle::Async)
                    .http(http())
                    .build()
                    .unwrap(),
            )
            .unwrap(),
        ),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let request = JobRequest::new(Input::path(path), Conversion::to("pdf").from("bin"));
    runtime.block_on(provider.submit(&request)).expect("submit");
    println!("{{}}");
}

#[derive(Default)]
struct Runs {
    walls: Vec<Duration>,
    cpus: Vec<Duration>,
    peak_kib: u64,
}

impl Runs {
    fn add(&mut self, m: &Measured) {
        self.walls.push(m.wall);
        self.cpus.push(m.cpu);
        self.peak_kib = self.peak_kib.max(m.peak_kib);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == TRAMPOLINE) {
        trampoline(&args[i + 1..]);
    }
    if let Some(i) = args.iter().position(|a| a == CHILD) {
        child(&args[i + 1], &args[i + 2], Path::new(&args[i + 3]));
        return;
    }
    let total = bench_bytes(512 << 20);
    let rounds = bench_rounds(9);
    let mib = total as f64 / (1024.0 * 1024.0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    write_file(&path, total);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let base = runtime.block_on(serve(route));

    let file_arg = format!("file=@{}", path.display());
    let curl = |args: &[&str]| {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-o", "/dev/null"]).args(args);
        cmd
    };
    // What each vendor's upload is: a multipart form (online-convert), a raw body (ConvertAPI).
    let multipart_url = format!("{base}/dl/upload-file/{JOB}");
    let raw_url = format!("{base}/upload");
    let contenders: [(&str, &str, Command); 2] = [
        (
            "online-convert",
            "multipart",
            curl(&["-F", &file_arg, &multipart_url]),
        ),
        (
            "convertapi",
            "raw body",
            // `-T` streams the file (`--data-binary @file` would read it all into memory first).
            curl(&[
                "-X",
                "POST",
                "-H",
                "content-type: application/octet-stream",
                "-T",
                path.to_str().unwrap(),
                &raw_url,
            ]),
        ),
    ];
    let exe = std::env::current_exe().unwrap();
    println!("upload of {mib:.0} MiB through submit() to loopback, medians of {rounds} alternating rounds");
    for (vendor, what, curl_cmd) in contenders {
        let (mut ours, mut theirs) = (Runs::default(), Runs::default());
        for _ in 0..rounds {
            let mut cmd = Command::new(&exe);
            cmd.args([CHILD, vendor, &base]).arg(&path);
            let m = run(cmd).expect("the upload child runs");
            assert!(m.success, "{vendor}: {}", m.stderr_tail);
            ours.add(&m);
            let mut again = Command::new(curl_cmd.get_program());
            again.args(curl_cmd.get_args());
            match run(again) {
                Ok(m) if m.success => theirs.add(&m),
                _ => println!("  curl not available: no baseline"),
            }
        }
        let line = |label: &str, runs: &Runs| {
            let wall = median(runs.walls.clone());
            let cpu = median(runs.cpus.clone());
            println!(
                "  {label:<32} {:>8.1} MiB/s  CPU {:>6.3} s  peak RSS {:>6} KiB",
                mib / wall.as_secs_f64(),
                cpu.as_secs_f64(),
                runs.peak_kib
            );
            (wall, cpu)
        };
        let (wall, cpu) = line(&format!("{vendor} ({what})"), &ours);
        if theirs.walls.is_empty() {
            continue;
        }
        let (curl_wall, curl_cpu) = line("curl (baseline, same rounds)", &theirs);
        println!(
            "  throughput ours/curl = {:.2}, CPU ours/curl = {:.2}, peak RSS budget 32 MiB: {}",
            curl_wall.as_secs_f64() / wall.as_secs_f64(),
            cpu.as_secs_f64() / curl_cpu.as_secs_f64().max(1e-9),
            if ours.peak_kib <= BUDGET_KIB {
                "met"
            } else {
                "EXCEEDED"
            }
        );
    }
}
