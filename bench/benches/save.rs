//! `save()` of a large file served from loopback, next to `curl -o` of the same URL in the same
//! run: throughput ratio and peak RSS.
//!
//! `cargo bench -p multiconvert-bench --bench save` (1 GiB; `MC_BENCH_BYTES` to change it).

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

fn main() {
    let total = bench_bytes(1 << 30);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/big.bin", runtime.block_on(serve(route)));
    let mib = total as f64 / (1024.0 * 1024.0);

    let curl_out = dir.path().join("curl.bin");
    let baseline = curl(&["-o", curl_out.to_str().unwrap(), &url]);
    let _ = std::fs::remove_file(&curl_out);

    let mut timeouts = Timeouts::default();
    timeouts.download = Duration::from_secs(3600);
    let client = HttpClient::new("bench", HttpConfig::default().with_timeouts(timeouts)).unwrap();
    let output = Output::new(&url).with_filename("big.bin").with_size(total);
    let options = SaveOptions::default().overwrite(Overwrite::Replace);
    reset_peak_rss();
    let started = Instant::now();
    let saved = runtime
        .block_on(async {
            let stream = client.download(&url, Default::default(), false).await?;
            save_stream("bench", &output, stream, dir.path(), &options).await
        })
        .expect("save");
    let ours = started.elapsed();
    assert_eq!(saved.size, total);

    println!("save() of {mib:.0} MiB from loopback");
    report_with_baseline("multiconvert save()", mib, ours, peak_rss_kib(), baseline);
}
