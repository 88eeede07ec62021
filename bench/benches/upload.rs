//! A large upload through each vendor provider to a loopback server, next to `curl` uploading the
//! same file in the same run: throughput ratio and peak RSS (budget: 32 MiB).
//!
//! `cargo bench -p multiconvert-bench --bench upload` (512 MiB; `MC_BENCH_BYTES` to change it).
//! Peak RSS is the process's VmHWM after a reset, so it covers one provider's `submit()`.

use std::time::{Duration, Instant};

use multiconvert_bench::{
    bench_bytes, curl, peak_rss_kib, report_with_baseline, reset_peak_rss, serve, write_file,
    Reply, Seen,
};
use multiconvert_core::http::{HttpConfig, Timeouts};
use multiconvert_core::{Conversion, ConversionProvider, Input, JobRequest};

const JOB: &str = "8daae6d1-26e0-11e5-b2a1-0800273b325b";
const BUDGET_KIB: u64 = 32 * 1024;

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

fn main() {
    let total = bench_bytes(512 << 20);
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
    let multipart_baseline = curl(&[
        "-o",
        "/dev/null",
        "-F",
        &file_arg,
        &format!("{base}/dl/upload-file/{JOB}"),
    ]);
    // `-T` streams the file (`--data-binary @file` would read it all into memory first).
    let raw_baseline = curl(&[
        "-o",
        "/dev/null",
        "-X",
        "POST",
        "-H",
        "content-type: application/octet-stream",
        "-T",
        path.to_str().unwrap(),
        &format!("{base}/upload"),
    ]);

    let online_convert: Box<dyn ConversionProvider> = Box::new(
        multiconvert_online_convert::OnlineConvert::new(
            multiconvert_online_convert::Config::builder()
                .api_key("bench-key")
                .base_url(format!("{base}/v2"))
                .http(http())
                .build()
                .unwrap(),
        )
        .unwrap(),
    );
    let convertapi: Box<dyn ConversionProvider> = Box::new(
        multiconvert_convertapi::ConvertApi::new(
            multiconvert_convertapi::Config::builder()
                .secret("bench-secret")
                .base_url(&base)
                .http(http())
                .build()
                .unwrap(),
        )
        .unwrap(),
    );
    let request = JobRequest::new(Input::path(&path), Conversion::to("pdf").from("bin"));
    println!("upload of {mib:.0} MiB through submit() to loopback");
    for (provider, baseline, what) in [
        (online_convert, multipart_baseline, "multipart"),
        (convertapi, raw_baseline, "raw body"),
    ] {
        reset_peak_rss();
        let started = Instant::now();
        runtime.block_on(provider.submit(&request)).expect("submit");
        let ours = started.elapsed();
        let peak = peak_rss_kib();
        let label = format!("{} ({what})", provider.info().name);
        report_with_baseline(&label, mib, ours, peak, baseline);
        if let Some(peak) = peak {
            println!(
                "  peak RSS budget 32 MiB: {}",
                if peak <= BUDGET_KIB {
                    "met"
                } else {
                    "EXCEEDED"
                }
            );
        }
    }
}
