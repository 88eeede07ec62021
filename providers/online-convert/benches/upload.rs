//! A large upload through the provider to a loopback server, next to `curl -F` of the same file
//! in the same run: throughput ratio and peak RSS.
//!
//! `cargo bench -p multiconvert-online-convert --bench upload` (512 MiB; `MC_BENCH_BYTES` to
//! change it). Peak RSS is the process's VmHWM after a reset, so it covers the submit (and the
//! loopback server, which discards what it reads through a 64 KiB buffer).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use multiconvert_core::http::{HttpConfig, Timeouts};
use multiconvert_core::{Conversion, ConversionProvider, Input, JobRequest};
use multiconvert_online_convert::{Config, OnlineConvert};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const JOB: &str = "8daae6d1-26e0-11e5-b2a1-0800273b325b";

/// Reads one request; returns (method+path, body length read) or None at EOF.
async fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, u64)> {
    let mut line = String::new();
    if reader.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let target = line
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let mut length = 0u64;
    let mut chunked = false;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).await.ok()?;
        let h = header.trim_end();
        if h.is_empty() {
            break;
        }
        let lower = h.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().ok()?;
        }
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).await.ok()?;
            let n = u64::from_str_radix(size.trim(), 16).ok()?;
            let mut left = n + 2;
            while left > 0 {
                let want = left.min(buf.len() as u64) as usize;
                let k = reader.read(&mut buf[..want]).await.ok()?;
                if k == 0 {
                    return None;
                }
                left -= k as u64;
            }
            total += n;
            if n == 0 {
                break;
            }
        }
    } else {
        let mut left = length;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            let k = reader.read(&mut buf[..want]).await.ok()?;
            if k == 0 {
                return None;
            }
            left -= k as u64;
        }
        total = length;
    }
    Some((target, total))
}

async fn serve() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = format!("{base}/dl");
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let server = server.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(socket);
                while let Some((target, received)) = read_request(&mut reader).await {
                    let (status, body) = if target.starts_with("POST /v2/jobs") {
                        (
                            "201 Created",
                            format!(
                                r#"{{"id":"{JOB}","token":"t","status":{{"code":"incomplete"}},"input":[],"server":"{server}"}}"#
                            ),
                        )
                    } else if target.contains("/upload-file/") {
                        (
                            "200 OK",
                            format!(r#"{{"id":"in-1","type":"upload","size":{received}}}"#),
                        )
                    } else {
                        (
                            "200 OK",
                            format!(r#"{{"id":"{JOB}","status":{{"code":"processing"}}}}"#),
                        )
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if reader
                        .get_mut()
                        .write_all(response.as_bytes())
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    base
}

fn peak_rss_kib() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn curl(url: &str, file: &Path) -> Option<(Duration, Option<u64>)> {
    let time = Path::new("/usr/bin/time").exists();
    let mut cmd = if time {
        let mut c = Command::new("/usr/bin/time");
        c.args(["-f", "%M", "curl"]);
        c
    } else {
        Command::new("curl")
    };
    cmd.args(["-sS", "-o", "/dev/null", "-F"])
        .arg(format!("file=@{}", file.display()))
        .arg(url);
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
        .unwrap_or(512 << 20);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let block = vec![b'x'; 1 << 20];
        let mut left = total;
        while left > 0 {
            let n = left.min(block.len() as u64) as usize;
            f.write_all(&block[..n]).unwrap();
            left -= n as u64;
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let base = runtime.block_on(serve());
    let mib = total as f64 / (1024.0 * 1024.0);

    let curl_result = curl(&format!("{base}/dl/upload-file/{JOB}"), &path);

    let mut timeouts = Timeouts::default();
    timeouts.upload = Duration::from_secs(3600);
    let provider = OnlineConvert::new(
        Config::builder()
            .api_key("bench-key")
            .base_url(format!("{base}/v2"))
            .http(HttpConfig::default().with_timeouts(timeouts))
            .build()
            .unwrap(),
    )
    .unwrap();
    let request = JobRequest::new(Input::path(&path), Conversion::to("jpg"));
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = peak_rss_kib();
    let started = Instant::now();
    runtime.block_on(provider.submit(&request)).expect("submit");
    let ours = started.elapsed();
    let peak = peak_rss_kib();

    println!("upload of {mib:.0} MiB through online-convert submit() to loopback");
    println!(
        "  multiconvert submit(): {:>8.1} MiB/s  peak RSS {} KiB (baseline before the run {} KiB)",
        mib / ours.as_secs_f64(),
        peak.map_or("?".into(), |v| v.to_string()),
        before.map_or("?".into(), |v| v.to_string()),
    );
    match curl_result {
        Some((theirs, rss)) => {
            println!(
                "  curl -F:               {:>8.1} MiB/s  peak RSS {} KiB",
                mib / theirs.as_secs_f64(),
                rss.map_or("?".into(), |v| v.to_string())
            );
            println!(
                "  throughput ratio submit()/curl = {:.2}",
                theirs.as_secs_f64() / ours.as_secs_f64()
            );
        }
        None => println!("  curl not available: no baseline"),
    }
    if let Some(peak) = peak {
        println!(
            "  peak RSS budget 32 MiB: {}",
            if peak <= 32 * 1024 { "met" } else { "EXCEEDED" }
        );
    }
}
