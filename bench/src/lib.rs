//! What the benchmarks share: a minimal loopback HTTP/1.1 server that streams or swallows large
//! bodies through a fixed 64 KiB buffer (so it adds nothing to peak RSS) and answers
//! `Expect: 100-continue` at once, peak-RSS readings, and
//! a `curl` baseline run in the same process lifetime.

pub mod clients;
pub mod measure;
pub mod report;
pub mod saving;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One request as the server saw it.
#[derive(Debug)]
pub struct Seen {
    /// `METHOD /path?query`.
    pub target: String,
    /// Body bytes read (and discarded).
    pub body_len: u64,
}

/// What the server answers: status line text, content type and body; or a body of `n` bytes
/// streamed from a shared buffer.
pub enum Reply {
    /// A small body.
    Small(&'static str, String),
    /// `n` bytes of `x`.
    Stream(u64),
}

async fn discard(reader: &mut BufReader<TcpStream>, buf: &mut [u8], mut left: u64) -> Option<()> {
    while left > 0 {
        let want = left.min(buf.len() as u64) as usize;
        let k = reader.read(&mut buf[..want]).await.ok()?;
        if k == 0 {
            return None;
        }
        left -= k as u64;
    }
    Some(())
}

async fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Seen> {
    let mut line = String::new();
    if reader.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let target = line
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let (mut length, mut chunked, mut expects) = (0u64, false, false);
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).await.ok()?;
        let lower = header.trim_end().to_ascii_lowercase();
        if lower.is_empty() {
            break;
        }
        if lower.starts_with("expect:") && lower.contains("100-continue") {
            expects = true;
        }
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().ok()?;
        }
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
    }
    // A client that asks first (curl does for large bodies) is told to go on at once, as real
    // servers do; left unanswered it would wait a second before sending.
    if expects {
        reader
            .get_mut()
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .ok()?;
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut body_len = 0;
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).await.ok()?;
            let n = u64::from_str_radix(size.trim(), 16).ok()?;
            discard(reader, &mut buf, n + 2).await?;
            body_len += n;
            if n == 0 {
                break;
            }
        }
    } else {
        discard(reader, &mut buf, length).await?;
        body_len = length;
    }
    Some(Seen { target, body_len })
}

/// Starts the server on loopback; `route` decides each answer. Returns `http://127.0.0.1:PORT`.
pub async fn serve(route: fn(&Seen, &str) -> Reply) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server_base = base.clone();
    tokio::spawn(async move {
        static BLOCK: [u8; 1 << 20] = [b'x'; 1 << 20];
        while let Ok((socket, _)) = listener.accept().await {
            let base = server_base.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(socket);
                while let Some(seen) = read_request(&mut reader).await {
                    let socket = reader.get_mut();
                    match route(&seen, &base) {
                        Reply::Small(status, body) => {
                            let head = format!("HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", body.len());
                            if socket.write_all(head.as_bytes()).await.is_err()
                                || socket.write_all(body.as_bytes()).await.is_err()
                            {
                                return;
                            }
                        }
                        Reply::Stream(total) => {
                            let head = format!("HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {total}\r\n\r\n");
                            if socket.write_all(head.as_bytes()).await.is_err() {
                                return;
                            }
                            let mut left = total;
                            while left > 0 {
                                let n = left.min(BLOCK.len() as u64) as usize;
                                if socket.write_all(&BLOCK[..n]).await.is_err() {
                                    return;
                                }
                                left -= n as u64;
                            }
                        }
                    }
                }
            });
        }
    });
    base
}

/// The process's peak resident set (VmHWM) in KiB.
pub fn peak_rss_kib() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0), so the next reading covers what follows.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Runs `curl` with `args`, returning its wall time and, with `/usr/bin/time`, its peak RSS.
pub fn curl(args: &[&str]) -> Option<(Duration, Option<u64>)> {
    let time = Path::new("/usr/bin/time").exists();
    let mut cmd = if time {
        let mut c = Command::new("/usr/bin/time");
        c.args(["-f", "%M", "curl"]);
        c
    } else {
        Command::new("curl")
    };
    cmd.arg("-sS").args(args);
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

/// Bytes to move: `MC_BENCH_BYTES`, else `default`.
pub fn bench_bytes(default: u64) -> u64 {
    std::env::var("MC_BENCH_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Writes a file of `total` bytes.
pub fn write_file(path: &Path, total: u64) {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let block = vec![b'x'; 1 << 20];
    let mut left = total;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n]).unwrap();
        left -= n as u64;
    }
}

/// Prints one result line.
pub fn report(label: &str, mib: f64, elapsed: Duration, peak_kib: Option<u64>) {
    println!(
        "  {label:<30} {:>8.1} MiB/s  peak RSS {} KiB",
        mib / elapsed.as_secs_f64(),
        peak_kib.map_or("?".into(), |v| v.to_string())
    );
}

/// Prints ours against the curl baseline, or says there is none.
pub fn report_with_baseline(
    label: &str,
    mib: f64,
    ours: Duration,
    peak_kib: Option<u64>,
    baseline: Option<(Duration, Option<u64>)>,
) {
    report(label, mib, ours, peak_kib);
    match baseline {
        Some((theirs, rss)) => {
            report("curl (baseline, same run)", mib, theirs, rss);
            println!(
                "  throughput ratio ours/curl = {:.2}",
                theirs.as_secs_f64() / ours.as_secs_f64()
            );
        }
        None => println!("  curl not available: no baseline"),
    }
}

/// Rounds to run: `MC_BENCH_ROUNDS`, else `default` (at least 1).
pub fn bench_rounds(default: usize) -> usize {
    std::env::var("MC_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
        .max(1)
}

/// The median of `v` (the upper one of an even count); `v` must not be empty.
pub fn median<T: Ord + Copy>(mut v: Vec<T>) -> T {
    v.sort();
    v[v.len() / 2]
}
