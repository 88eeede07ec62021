//! `save()` of a large file from loopback through both vendor providers' download paths, next to
//! `curl -o F && sync F` in the same run. `save()` syncs the file before renaming it into place (a
//! crash never leaves a truncated output under the final name), so the fair baseline syncs too;
//! `curl` alone is shown beside it for reference.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use multiconvert_core::http::{HttpConfig, Timeouts};
use multiconvert_core::{
    Checksum, ConversionProvider, Output, Overwrite, ProviderExt, SaveOptions,
};

use crate::{curl, median, peak_rss_kib, reset_peak_rss, serve, Reply, Seen};

/// One contender's medians.
#[derive(Clone, Debug)]
pub struct Contender {
    /// What ran.
    pub label: String,
    /// Median wall time of a save.
    pub wall: Duration,
    /// Highest peak RSS over the rounds, KiB.
    pub peak_kib: Option<u64>,
}

/// What [`measure`] found.
#[derive(Clone, Debug)]
pub struct SaveResults {
    /// Bytes per save.
    pub bytes: u64,
    /// Rounds (medians are over them).
    pub rounds: usize,
    /// `curl -o F && sync F`, when curl is installed.
    pub curl_sync: Option<Contender>,
    /// `curl -o F && sync F && md5sum F`: a download verified as online-convert's are.
    pub curl_sync_md5: Option<Contender>,
    /// `curl -o F` alone.
    pub curl: Option<Contender>,
    /// The providers' `save()`.
    pub ours: Vec<Contender>,
    /// MD5 of the whole body in memory, on one core: the bound of any download verified by it.
    pub md5_alone: Duration,
}

impl SaveResults {
    /// MiB/s of a contender.
    pub fn mib_per_s(&self, c: &Contender) -> f64 {
        self.bytes as f64 / (1024.0 * 1024.0) / c.wall.as_secs_f64()
    }

    /// Throughput of `c` over the `curl -o F && sync F` baseline.
    pub fn ratio(&self, c: &Contender) -> Option<f64> {
        self.curl_sync
            .as_ref()
            .map(|b| b.wall.as_secs_f64() / c.wall.as_secs_f64())
    }
}

fn route(_: &Seen, _: &str) -> Reply {
    Reply::Stream(crate::bench_bytes(1 << 30))
}

fn http() -> HttpConfig {
    let mut timeouts = Timeouts::default();
    timeouts.download = Duration::from_secs(3600);
    HttpConfig::default().with_timeouts(timeouts)
}

/// Removes `path` and syncs its file system, untimed: ext4 frees (and, mounted with `discard`,
/// trims) a deleted file's blocks in the next journal commit, which would otherwise land in the
/// next contender's fsync.
fn remove_settled(path: &Path) {
    let _ = std::fs::remove_file(path);
    if let Some(dir) = path.parent() {
        let _ = Command::new("sync").arg("-f").arg(dir).status();
    }
}

fn sync_file(path: &Path) -> bool {
    Command::new("sync")
        .arg(path)
        .status()
        .is_ok_and(|s| s.success())
}

/// The MD5 of the body [`serve`] streams: `bytes` bytes of `x`.
fn body_md5(bytes: u64) -> String {
    let block = [b'x'; 1 << 16];
    let mut h = Md5::new();
    let mut left = bytes;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        h.update(&block[..n]);
        left -= n as u64;
    }
    hex::encode(h.finalize())
}

/// Runs `rounds` alternating rounds of each contender saving `bytes` (served by the loopback
/// server of [`serve`]; the size is read from `MC_BENCH_BYTES` by the route, so set it first).
pub fn measure(runtime: &tokio::runtime::Runtime, rounds: usize) -> SaveResults {
    let bytes = crate::bench_bytes(1 << 30);
    let dir = tempfile::tempdir().unwrap();
    let base = runtime.block_on(serve(route));
    let url = format!("{base}/big.bin");

    let online_convert = multiconvert_online_convert::OnlineConvert::new(
        multiconvert_online_convert::Config::builder()
            .api_key("bench-key")
            .base_url(format!("{base}/v2"))
            .http(http())
            .build()
            .unwrap(),
    )
    .unwrap();
    let convertapi = multiconvert_convertapi::ConvertApi::new(
        multiconvert_convertapi::Config::builder()
            .secret("bench-secret")
            .base_url(&base)
            .http(http())
            .build()
            .unwrap(),
    )
    .unwrap();
    let providers: [(&str, &dyn ConversionProvider); 2] = [
        ("convertapi save()", &convertapi),
        ("online-convert save() +md5", &online_convert),
    ];
    // online-convert announces an MD5 for each output, ConvertAPI only a size: each path verifies
    // what its vendor gives.
    let started = Instant::now();
    let md5 = body_md5(bytes);
    let md5_alone = started.elapsed();
    let outputs = [
        Output::new(&url).with_filename("big.bin").with_size(bytes),
        Output::new(&url)
            .with_filename("big.bin")
            .with_size(bytes)
            .with_checksum(Checksum::Md5(md5)),
    ];
    let options = SaveOptions::default().overwrite(Overwrite::Replace);
    let curl_out = dir.path().join("curl.bin");
    let curl_arg = curl_out.to_str().unwrap().to_owned();

    let mut curl_sync: (Vec<Duration>, u64) = (Vec::new(), 0);
    let mut curl_only: (Vec<Duration>, u64) = (Vec::new(), 0);
    let mut curl_md5: (Vec<Duration>, u64) = (Vec::new(), 0);
    let mut ours: Vec<(Vec<Duration>, u64)> = vec![(Vec::new(), 0); providers.len()];
    for _ in 0..rounds {
        if let Some((elapsed, rss)) = curl(&["-o", &curl_arg, &url]) {
            curl_only.0.push(elapsed);
            curl_only.1 = curl_only.1.max(rss.unwrap_or(0));
        }
        remove_settled(&curl_out);
        let started = Instant::now();
        if let Some((_, rss)) = curl(&["-o", &curl_arg, &url]) {
            if sync_file(&curl_out) {
                curl_sync.0.push(started.elapsed());
                curl_sync.1 = curl_sync.1.max(rss.unwrap_or(0));
            }
        }
        remove_settled(&curl_out);
        let started = Instant::now();
        if let Some((_, rss)) = curl(&["-o", &curl_arg, &url]) {
            let synced = sync_file(&curl_out);
            let summed = Command::new("md5sum")
                .arg(&curl_out)
                .stdout(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if synced && summed {
                curl_md5.0.push(started.elapsed());
                curl_md5.1 = curl_md5.1.max(rss.unwrap_or(0));
            }
        }
        remove_settled(&curl_out);

        for (((_, provider), output), (walls, peak)) in
            providers.iter().zip(&outputs).zip(ours.iter_mut())
        {
            reset_peak_rss();
            let started = Instant::now();
            let saved = runtime
                .block_on(provider.save(output, dir.path(), &options))
                .expect("save");
            walls.push(started.elapsed());
            *peak = (*peak).max(peak_rss_kib().unwrap_or(0));
            assert_eq!(saved.size, bytes);
            remove_settled(&saved.path);
        }
    }
    let contender = |label: &str, (walls, peak): (Vec<Duration>, u64)| {
        (!walls.is_empty()).then(|| Contender {
            label: label.to_owned(),
            wall: median(walls),
            peak_kib: (peak > 0).then_some(peak),
        })
    };
    SaveResults {
        bytes,
        rounds,
        curl_sync: contender("curl -o F && sync F", curl_sync),
        curl: contender("curl -o F (no sync)", curl_only),
        curl_sync_md5: contender("curl -o F && sync F && md5sum F", curl_md5),
        ours: providers
            .iter()
            .zip(ours)
            .filter_map(|((label, _), r)| contender(label, r))
            .collect(),
        md5_alone,
    }
}
