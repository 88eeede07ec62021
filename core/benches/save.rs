//! `save()` of a large file served from loopback, next to `curl -o` of the same URL in the same
//! run: throughput ratio and peak RSS.
//!
//! `cargo bench -p multiconvert-core --bench save` (1 GiB; `MC_BENCH_BYTES` to change it).
//! Peak RSS is read from `/proc/self/status` (VmHWM) after resetting it, so it covers `save()`
//! alone; curl's comes from `/usr/bin/time` when present.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use multiconvert_core::download::save_stream;
use multiconvert_core::http::{HttpClient, HttpConfig, Timeouts};
use multiconvert_core::{Output, Overwrite, SaveOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const CHUNK: usize = 1 << 20;

/// Serves `total` bytes to every connection, from one shared 1 MiB buffer.
async fn serve(total: u64) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        static ZEROS: [u8; CHUNK] = [b'x'; CHUNK];
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {total}\r\ncontent-type: application/octet-stream\r\nconnection: close\r\n\r\n"
                );
                socket.write_all(head.as_bytes()).await.unwrap();
                let mut left = total;
                while left > 0 {
                    let n = left.min(CHUNK as u64) as usize;
                    if socket.write_all(&ZEROS[..n]).await.is_err() {
                        return;
                    }
                    left -= n as u64;
                }
                let _ = socket.shutdown().await;
            });
        }
    });
    format!("http://{addr}/big.bin")
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn reset_peak_rss() {
    // Writing 5 to clear_refs resets VmHWM to the current RSS (Linux ≥ 4.0).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn curl(url: &str, dest: &Path) -> Option<(Duration, Option<u64>)> {
    let time = Path::new("/usr/bin/time").exists();
    let mut cmd = if time {
        let mut c = Command::new("/usr/bin/time");
        c.args(["-f", "%M", "curl"]);
        c
    } else {
        Command::new("curl")
    };
    cmd.args(["-sS", "-o"]).arg(dest).arg(url);
    let started = Instant::now();
    let out = cmd.output().ok()?;
    let elapsed = started.elapsed();
    if !out.status.success() {
        return None;
    }
    let rss = time
        .then(|| {
            String::from_utf8_lossy(&out.stderr)
                .trim()
                .lines()
                .last()?
                .parse()
                .ok()
        })
        .flatten();
    Some((elapsed, rss))
}

fn main() {
    let total: u64 = std::env::var("MC_BENCH_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 30);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = runtime.block_on(serve(total));
    let mib = total as f64 / (1024.0 * 1024.0);

    let curl_result = curl(&url, &dir.path().join("curl.bin"));
    let _ = std::fs::remove_file(dir.path().join("curl.bin"));

    let mut timeouts = Timeouts::default();
    timeouts.download = Duration::from_secs(3600);
    let client = HttpClient::new("bench", HttpConfig::default().with_timeouts(timeouts)).unwrap();
    let output = Output::new(&url).with_filename("big.bin").with_size(total);
    let options = SaveOptions::default().overwrite(Overwrite::Replace);
    reset_peak_rss();
    let baseline_rss = peak_rss_kib();
    let started = Instant::now();
    let saved = runtime
        .block_on(async {
            let stream = client.download(&url, Default::default(), false).await?;
            save_stream("bench", &output, stream, dir.path(), &options).await
        })
        .expect("save");
    let ours = started.elapsed();
    let our_rss = peak_rss_kib();
    assert_eq!(saved.size, total);

    println!("save() of {mib:.0} MiB from loopback");
    println!(
        "  multiconvert save(): {:>8.1} MiB/s  peak RSS {} KiB (process baseline before the run {} KiB)",
        mib / ours.as_secs_f64(),
        our_rss.map_or("?".into(), |v| v.to_string()),
        baseline_rss.map_or("?".into(), |v| v.to_string()),
    );
    match curl_result {
        Some((theirs, rss)) => {
            println!(
                "  curl -o:             {:>8.1} MiB/s  peak RSS {} KiB",
                mib / theirs.as_secs_f64(),
                rss.map_or("?".into(), |v| v.to_string())
            );
            println!(
                "  throughput ratio save()/curl = {:.2}",
                theirs.as_secs_f64() / ours.as_secs_f64()
            );
        }
        None => println!("  curl not available: no baseline"),
    }
}
