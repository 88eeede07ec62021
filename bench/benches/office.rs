//! Documents per minute through the office provider's pool at concurrency 1, 2 and 4, next to a
//! naive `soffice --convert-to` per document (a fresh profile each, the same concurrency) in the
//! same run: the ratio is what the pool's warm per-worker profiles are worth.
//!
//! `cargo bench -p multiconvert-bench --bench office` (12 documents per run; `MC_BENCH_DOCS` to
//! change it). Needs LibreOffice; says so and stops without it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use multiconvert_core::{
    Conversion, ConversionProvider, Input, JobRequest, JobStatus, ProviderExt,
};
use multiconvert_office::{find_soffice, Config, Office};

fn sample() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/samples/office/report.docx"
    ))
}

fn per_minute(docs: usize, elapsed: Duration) -> f64 {
    docs as f64 * 60.0 / elapsed.as_secs_f64()
}

async fn pool(docs: usize, workers: usize, root: &Path) -> Duration {
    let office = Arc::new(
        Office::new(
            Config::new()
                .root(root)
                .concurrency(workers)
                .deadline(Duration::from_secs(300)),
        )
        .expect("LibreOffice"),
    );
    let request = JobRequest::new(Input::path(sample()), Conversion::to("pdf"));
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..docs {
        handles.push(office.submit(&request).await.expect("submit"));
    }
    let policy = office.info().poll_policy;
    for handle in &handles {
        let job = office.wait(handle, &policy).await.expect("wait");
        assert_eq!(job.status, JobStatus::Completed, "{:?}", job.messages);
    }
    started.elapsed()
}

async fn naive(docs: usize, workers: usize, soffice: &Path, root: &Path) -> Duration {
    let permits = Arc::new(tokio::sync::Semaphore::new(workers));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..docs {
        let permits = permits.clone();
        let soffice = soffice.to_path_buf();
        let dir = root.join(format!("call-{i}"));
        tasks.push(tokio::spawn(async move {
            let _permit = permits.acquire().await.expect("open");
            std::fs::create_dir_all(&dir).expect("dir");
            let profile = format!(
                "-env:UserInstallation=file://{}",
                dir.join("profile").display()
            );
            let status = tokio::process::Command::new(soffice)
                .args([
                    "--headless",
                    "--norestore",
                    "--nologo",
                    "--nodefault",
                    "--nolockcheck",
                ])
                .arg(profile)
                .args(["--convert-to", "pdf", "--outdir"])
                .arg(&dir)
                .arg(sample())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .await
                .expect("soffice");
            assert!(
                status.success() && dir.join("report.pdf").exists(),
                "naive call {i} failed"
            );
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    started.elapsed()
}

#[tokio::main]
async fn main() {
    let Ok(soffice) = find_soffice(None) else {
        println!("office bench: LibreOffice is not installed; nothing measured");
        return;
    };
    let docs: usize = std::env::var("MC_BENCH_DOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    println!(
        "office bench: {docs} × report.docx → pdf, {}",
        soffice.display()
    );
    println!(
        "{:<12} {:>14} {:>14} {:>8}",
        "concurrency", "pool docs/min", "naive docs/min", "ratio"
    );
    for workers in [1, 2, 4] {
        let scratch = tempfile::tempdir().expect("tempdir");
        // Alternate which goes first, so neither always gets the warmer page cache.
        let (p, n) = if workers % 2 == 0 {
            let n = naive(docs, workers, &soffice, &scratch.path().join("naive")).await;
            (pool(docs, workers, &scratch.path().join("pool")).await, n)
        } else {
            let p = pool(docs, workers, &scratch.path().join("pool")).await;
            (
                p,
                naive(docs, workers, &soffice, &scratch.path().join("naive")).await,
            )
        };
        let (pool_rate, naive_rate) = (per_minute(docs, p), per_minute(docs, n));
        println!(
            "{workers:<12} {pool_rate:>14.1} {naive_rate:>14.1} {:>7.2}×",
            pool_rate / naive_rate
        );
    }
}
