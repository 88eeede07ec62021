//! `save()` of a large file served from loopback, through both vendor providers' download paths,
//! next to `curl -o F && sync F` of the same URL in the same run: throughput ratio and peak RSS.
//!
//! `cargo bench -p multiconvert-bench --bench save` (1 GiB, three alternating rounds, medians;
//! `MC_BENCH_BYTES` and `MC_BENCH_ROUNDS` change that). Goal: ≥ 0.9× the baseline at ≤ 32 MiB
//! peak RSS.

use multiconvert_bench::saving::measure;

fn main() {
    let rounds = multiconvert_bench::bench_rounds(3);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let results = measure(&runtime, rounds);
    println!(
        "save() of {} MiB from loopback, median of {rounds} rounds",
        results.bytes >> 20
    );
    println!(
        "  {:<34} {:>8.1} MiB/s  (in memory, one core: the bound of a verified download)",
        "MD5 alone",
        results.bytes as f64 / (1024.0 * 1024.0) / results.md5_alone.as_secs_f64()
    );
    for c in results
        .curl_sync
        .iter()
        .chain(&results.curl)
        .chain(&results.curl_sync_md5)
        .chain(&results.ours)
    {
        let ratio = results
            .ratio(c)
            .map_or("no baseline".into(), |r| format!("{r:.2}× curl+sync"));
        println!(
            "  {:<34} {:>8.1} MiB/s  peak RSS {:>6} KiB  {ratio}",
            c.label,
            results.mib_per_s(c),
            c.peak_kib.map_or("?".into(), |v| v.to_string()),
        );
    }
}
