//! `multiconvert batch` at volume on the local provider: the same files with no journal
//! (`--state none`, the baseline), the embedded SQLite journal and a PostgreSQL one, in one run.
//! Reports throughput as a ratio to the baseline and the journal's write statements per file.
//!
//! `cargo bench -p multiconvert-cli --bench batch` (1000 files, 3 alternating rounds, medians;
//! `MC_BENCH_FILES` and `MC_BENCH_ROUNDS` to change them). The PostgreSQL row needs a server:
//! `MULTICONVERT_BENCH_POSTGRES_URL` (or `MULTICONVERT_TEST_POSTGRES_URL`, as `.ci/run` sets),
//! an admin URL ending in `/DATABASE`; each round gets a database of its own.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// `n` distinct small PNGs (a real picture, 477 bytes: the journal's cost is not hidden behind
/// decoding) spread over ten subdirectories.
fn inputs(dir: &Path, n: usize) -> PathBuf {
    let photo = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/samples/photo.png"
    ))
    .expect("sample");
    let input = dir.join("in");
    for i in 0..n {
        let sub = input.join(format!("d{}", i % 10));
        std::fs::create_dir_all(&sub).expect("dir");
        std::fs::write(sub.join(format!("f{i:05}.png")), &photo).expect("write");
    }
    input
}

struct Run {
    wall: Duration,
    writes: u64,
}

fn batch(input: &Path, out: &Path, state: &str, files: usize) -> Run {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_multiconvert"))
        .arg("batch")
        .arg(input)
        .args([
            "--to",
            "jpg",
            "--provider",
            "local",
            "--json",
            "--state",
            state,
        ])
        .arg("--out")
        .arg(out)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("run multiconvert");
    let wall = started.elapsed();
    assert!(output.status.success(), "batch on {state} failed");
    let summary = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find_map(|v| v.get("summary").cloned())
        .expect("a summary line");
    assert_eq!(summary["done"], files as u64, "{state}: {summary}");
    Run {
        wall,
        writes: summary["state_writes"].as_u64().unwrap_or(0),
    }
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

#[derive(Clone, Copy, PartialEq)]
enum Backend {
    None,
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::None => "none",
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

fn main() {
    let files = env_usize("MC_BENCH_FILES", 1000);
    let rounds = env_usize("MC_BENCH_ROUNDS", 3);
    let postgres = std::env::var("MULTICONVERT_BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var("MULTICONVERT_TEST_POSTGRES_URL"))
        .ok()
        .filter(|u| !u.is_empty());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let scratch = tempfile::tempdir().expect("tempdir");
    let input = inputs(scratch.path(), files);

    let mut backends = vec![Backend::None, Backend::Sqlite];
    if postgres.is_some() {
        backends.push(Backend::Postgres);
    }
    let mut walls: Vec<Vec<Duration>> = vec![Vec::new(); backends.len()];
    let mut writes = vec![0u64; backends.len()];
    for round in 0..rounds {
        // Rotate the order, so no backend always runs first (cold page cache) or last.
        for step in 0..backends.len() {
            let at = (step + round) % backends.len();
            let backend = backends[at];
            let out = scratch
                .path()
                .join(format!("out-{}-{round}", backend.name()));
            let state = match backend {
                Backend::None => "none".to_string(),
                Backend::Sqlite => format!("sqlite:{}", out.join("state.sqlite").display()),
                Backend::Postgres => {
                    let admin = postgres.as_deref().expect("a PostgreSQL URL");
                    let name = format!("mc_bench_{}_{round}", uuid::Uuid::new_v4().simple());
                    runtime
                        .block_on(multiconvert_store::Store::create_postgres_database(
                            admin, &name,
                        ))
                        .expect("create a database")
                }
            };
            let run = batch(&input, &out, &state, files);
            walls[at].push(run.wall);
            writes[at] = run.writes;
            // The outputs are not what is measured; keep the scratch disk small.
            let _ = std::fs::remove_dir_all(&out);
        }
    }

    println!(
        "batch bench: {files} × photo.png → jpg on the local provider, median of {rounds} rounds"
    );
    println!(
        "{:<10} {:>9} {:>9} {:>16} {:>16}",
        "state", "wall s", "files/s", "vs --state none", "writes per file"
    );
    let baseline = median(walls[0].clone()).as_secs_f64();
    for (at, backend) in backends.iter().enumerate() {
        let wall = median(walls[at].clone()).as_secs_f64();
        println!(
            "{:<10} {:>9.2} {:>9.0} {:>15.2}× {:>16.2}",
            backend.name(),
            wall,
            files as f64 / wall,
            baseline / wall,
            writes[at] as f64 / files as f64,
        );
    }
    if postgres.is_none() {
        println!("postgres: not measured (set MULTICONVERT_BENCH_POSTGRES_URL)");
    }
}
