//! `save()` of a large file served from loopback, next to `curl -o` of the same URL in the same
//! run: throughput ratio and peak RSS.
//!
//! `cargo bench -p multiconvert-bench --bench save` (1 GiB, three alternating rounds, medians;
//! `MC_BENCH_BYTES` and `MC_BENCH_ROUNDS` change that). `save()` syncs the file to disk before
//! renaming it into place (a crash never leaves a truncated output under the final name); `curl`
//! does not, so the page cache's writeback state moves both numbers from run to run: compare the
//! medians.

use std::time::{Duration, Instant};

use multiconvert_bench::{
    bench_bytes, curl, peak_rss_kib, report_with_baseline, reset_peak_rss, serve, Reply, Seen,
};
use multiconvert_core::download::save_stream;
use multiconvert_core::http::{HttpClient, HttpConfig, Timeouts};
use multiconvert_core::{Output, Overwrite, SaveOptions};

fn route(_: &Seen, _: &str) -> Reply {
    Reply::Stream(bench_bytes(1 << 30))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let total = bench_bytes(1 << 30);
    let rounds: usize = std::env::var("MC_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/big.bin", runtime.block_on(serve(route)));
    let mib = total as f64 / (1024.0 * 1024.0);

    let mut timeouts = Timeouts::default();
    timeouts.download = Duration::from_secs(3600);
    let client = HttpClient::new("bench", HttpConfig::default().with_timeouts(timeouts)).unwrap();
    let output = Output::new(&url).with_filename("big.bin").with_size(total);
    let options = SaveOptions::default().overwrite(Overwrite::Replace);
    let curl_out = dir.path().join("curl.bin");

    let (mut ours, mut theirs, mut our_peak, mut their_peak) = (Vec::new(), Vec::new(), 0, 0);
    for _ in 0..rounds {
        if let Some((elapsed, rss)) = curl(&["-o", curl_out.to_str().unwrap(), &url]) {
            theirs.push(elapsed);
            their_peak = their_peak.max(rss.unwrap_or(0));
        }
        let _ = std::fs::remove_file(&curl_out);

        reset_peak_rss();
        let started = Instant::now();
        let saved = runtime
            .block_on(async {
                let stream = client.download(&url, Default::default(), false).await?;
                save_stream("bench", &output, stream, dir.path(), &options).await
            })
            .expect("save");
        ours.push(started.elapsed());
        our_peak = our_peak.max(peak_rss_kib().unwrap_or(0));
        assert_eq!(saved.size, total);
        let _ = std::fs::remove_file(&saved.path);
    }

    println!("save() of {mib:.0} MiB from loopback, median of {rounds} rounds");
    let baseline = (!theirs.is_empty()).then(|| (median(theirs), Some(their_peak)));
    report_with_baseline(
        "multiconvert save()",
        mib,
        median(ours),
        Some(our_peak),
        baseline,
    );
}
