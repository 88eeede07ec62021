//! Hostile images cost bounded memory: each case runs in a fresh process of this test binary
//! (so no other test's allocations, and no memory an allocator kept from them, land in its
//! figures), measures that process's own peak RSS (Linux's `VmHWM`, reset through
//! `/proc/self/clear_refs`) over the step, and holds it to a bound.
#![cfg(target_os = "linux")]

use std::io::Cursor;

use multiconvert_core::{
    Conversion, ConversionProvider, ErrorKind, Input, JobRequest, JobStatus, ProviderExt,
};
use multiconvert_local::convert::{self, Failure, Options};
use multiconvert_local::{ImageLimits, Limit, Local};

const MIB: u64 = 1024;

/// Runs `case` in a child process of this test binary that runs only the test `name`, and
/// fails if the child does (its output is shown).
fn isolated<F: std::future::Future<Output = ()>>(name: &str, case: impl FnOnce() -> F) {
    const CHILD: &str = "MULTICONVERT_TEST_PEAK_CASE";
    if std::env::var(CHILD).as_deref() == Ok(name) {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(case());
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, name)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprint!("{stderr}");
    assert!(out.status.success(), "{name} failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{name} did not run:\n{stdout}");
}

fn status(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Growth of the process's peak RSS, in KiB, over what `run` does (printed under `case`).
async fn peak_growth<T>(case: &str, run: impl std::future::Future<Output = T>) -> (T, u64) {
    std::fs::write("/proc/self/clear_refs", "5").expect("resetting the peak RSS (Linux ≥ 4.0)");
    let before = status("VmRSS:");
    let out = run.await;
    let growth = status("VmHWM:").saturating_sub(before);
    eprintln!("{case}: peak RSS grew {growth} KiB");
    (out, growth)
}

fn provider(limits: ImageLimits) -> (Local, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let local = Local::new(dir.path().join("jobs"))
        .unwrap()
        .with_limits(limits);
    (local, dir)
}

/// A GIF whose screen is `width`×`height` holding `frames` frames of 1×1 pixel.
fn gif(width: u16, height: u16, frames: usize) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = gif::Encoder::new(&mut out, width, height, &[0, 0, 0, 255, 255, 255])
            .expect("gif header");
        for i in 0..frames {
            let frame = gif::Frame {
                width: 1,
                height: 1,
                buffer: std::borrow::Cow::Owned(vec![(i % 2) as u8]),
                ..Default::default()
            };
            encoder.write_frame(&frame).expect("gif frame");
        }
    }
    out
}

/// A PNG that declares `width`×`height` RGB pixels and holds a few bytes of data.
fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgb);
        let mut writer = encoder.write_header().expect("png header");
        writer
            .write_chunk(
                png::chunk::IDAT,
                &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
            )
            .expect("idat");
    }
    out
}

/// A real `side`×`side` RGB PNG (a gradient, so it compresses but is not trivial).
fn png(side: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(side, side, |x, y| {
        image::Rgb([(x % 251) as u8, (y % 241) as u8, ((x ^ y) % 239) as u8])
    });
    let mut out = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

fn request(bytes: Vec<u8>, name: &str, conversion: Conversion) -> JobRequest {
    JobRequest::new(Input::bytes(bytes, name), conversion)
}

/// Submits and expects an `InvalidInput` refusal naming `limit`.
async fn refused(p: &Local, request: &JobRequest, limit: Limit) -> String {
    let e = p.submit(request).await.expect_err("refused at submit");
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    let message = e.message().to_owned();
    assert!(message.contains(limit.name()), "{limit:?}: {message}");
    assert!(message.contains(limit.variable()), "{limit:?}: {message}");
    message
}

#[test]
fn the_measure_sees_a_real_decode() {
    isolated("the_measure_sees_a_real_decode", || async {
        // The control: without it, a bound below could hold because nothing was measured.
        let (p, _dir) = provider(ImageLimits::default());
        let r = request(png(2000), "real.png", Conversion::to("jpg"));
        let (job, growth) = peak_growth(
            "real 2000x2000 png to jpg",
            p.convert(&r, &p.info().poll_policy),
        )
        .await;
        assert_eq!(job.unwrap().status, JobStatus::Completed);
        // 2000×2000 RGB decodes to 12 MB.
        assert!(growth > 10 * MIB, "peak grew {growth} KiB");
    });
}

#[test]
fn a_small_gif_declaring_a_huge_canvas_is_refused_before_decoding() {
    isolated(
        "a_small_gif_declaring_a_huge_canvas_is_refused_before_decoding",
        || async {
            let bomb = gif(11_000, 11_000, 1);
            assert!(bomb.len() < 100, "{} bytes", bomb.len());
            let (p, _dir) = provider(ImageLimits::default());
            let r = request(bomb.clone(), "bomb.gif", Conversion::to("jpg"));
            let (message, growth) =
                peak_growth("11000x11000 gif at submit", refused(&p, &r, Limit::Pixels)).await;
            assert!(message.contains("11000×11000"), "{message}");
            assert!(growth < 16 * MIB, "peak grew {growth} KiB");
            // The conversion itself holds the same line (a job that skipped the submit check).
            let (out, growth) = peak_growth("11000x11000 gif in convert()", async {
                convert::convert(
                    &bomb,
                    image::ImageFormat::Jpeg,
                    &Options::default(),
                    &ImageLimits::default(),
                )
            })
            .await;
            let Err(Failure::Input(m)) = out else {
                panic!("{out:?}")
            };
            assert!(m.contains("max_pixels"), "{m}");
            assert!(growth < 16 * MIB, "peak grew {growth} KiB");
        },
    );
}

#[test]
fn a_png_declaring_huge_dimensions_is_refused() {
    isolated("a_png_declaring_huge_dimensions_is_refused", || async {
        let (p, _dir) = provider(ImageLimits::default());
        let (_, growth) = peak_growth("huge png headers", async {
            let wide = request(
                png_header_only(20_000, 10),
                "wide.png",
                Conversion::to("jpg"),
            );
            refused(&p, &wide, Limit::Dimension).await;
            let big = request(
                png_header_only(9_000, 9_000),
                "big.png",
                Conversion::to("jpg"),
            );
            refused(&p, &big, Limit::Pixels).await;
        })
        .await;
        assert!(growth < 16 * MIB, "peak grew {growth} KiB");
    });
}

#[test]
fn a_many_frame_gif_is_refused_by_its_frame_count() {
    isolated("a_many_frame_gif_is_refused_by_its_frame_count", || async {
        let many = gif(16, 16, 10_001);
        let (p, _dir) = provider(ImageLimits::default());
        let r = request(many, "many.gif", Conversion::to("png"));
        let (_, growth) = peak_growth("10001-frame gif", refused(&p, &r, Limit::Frames)).await;
        assert!(growth < 16 * MIB, "peak grew {growth} KiB");
        // At the limit it converts (its first frame); one over, it is refused.
        let (p, _dir) = provider(ImageLimits::default().with_max_frames(5));
        let five = request(gif(16, 16, 5), "five.gif", Conversion::to("png"));
        let job = p.convert(&five, &p.info().poll_policy).await.unwrap();
        assert_eq!(job.status, JobStatus::Completed);
        let six = request(gif(16, 16, 6), "six.gif", Conversion::to("png"));
        refused(&p, &six, Limit::Frames).await;
    });
}

#[test]
fn a_truncated_image_fails_its_job_in_bounded_memory() {
    isolated(
        "a_truncated_image_fails_its_job_in_bounded_memory",
        || async {
            let mut bytes = png(2000);
            bytes.truncate(bytes.len() / 2);
            let (p, _dir) = provider(ImageLimits::default());
            let r = request(bytes, "cut.png", Conversion::to("jpg"));
            let (job, growth) = peak_growth("truncated 2000x2000 png", async {
                let handle = p.submit(&r).await.expect("the header is whole");
                p.wait(&handle, &p.info().poll_policy).await.unwrap()
            })
            .await;
            assert_eq!(job.status, JobStatus::Failed);
            assert_eq!(job.messages[0].code.as_deref(), Some("invalid_input"));
            // At most the decoded buffer (12 MB) and the input, once each.
            assert!(growth < 40 * MIB, "peak grew {growth} KiB");
        },
    );
}

#[test]
fn decoder_memory_and_resizes_are_held_to_max_alloc() {
    isolated(
        "decoder_memory_and_resizes_are_held_to_max_alloc",
        || async {
            let limits = ImageLimits::default().with_max_alloc(4 << 20);
            let (p, _dir) = provider(limits);
            // 2000×2000 RGB needs 12 MB decoded.
            let big = request(png(2000), "big.png", Conversion::to("jpg"));
            // 500×500 scaled to 4000 wide needs a 500 × 4000 × 16-byte working buffer.
            let up = request(
                png(500),
                "up.png",
                Conversion::to("jpg").option("width", 4000),
            );
            let (_, growth) = peak_growth("max_alloc refusals", async {
                let m = refused(&p, &big, Limit::Alloc).await;
                assert!(m.contains("12000000"), "{m}");
                refused(&p, &up, Limit::Alloc).await;
            })
            .await;
            assert!(growth < 16 * MIB, "peak grew {growth} KiB");
            // Within the bound, the same image converts.
            let small = request(png(500), "small.png", Conversion::to("jpg"));
            let job = p.convert(&small, &p.info().poll_policy).await.unwrap();
            assert_eq!(job.status, JobStatus::Completed);
        },
    );
}

#[test]
fn an_output_over_the_pixel_limit_is_refused_at_submit() {
    isolated(
        "an_output_over_the_pixel_limit_is_refused_at_submit",
        || async {
            let (p, _dir) = provider(ImageLimits::default().with_max_pixels(1_000_000));
            let r = request(
                png(100),
                "small.png",
                Conversion::to("png")
                    .option("width", 2000)
                    .option("height", 2000),
            );
            let m = refused(&p, &r, Limit::Pixels).await;
            assert!(m.contains("2000×2000"), "{m}");
        },
    );
}

#[test]
fn limits_come_from_the_environment_and_bad_values_are_refused() {
    let env = multiconvert_conformance::fake_env;
    let limits = ImageLimits::from_lookup(env(&[
        ("MULTICONVERT_LOCAL_MAX_DIMENSION", "4096"),
        ("MULTICONVERT_LOCAL_MAX_PIXELS", "1000000"),
        ("MULTICONVERT_LOCAL_MAX_FRAMES", "7"),
        ("MULTICONVERT_LOCAL_MAX_ALLOC", "1048576"),
    ]))
    .unwrap();
    assert_eq!(
        limits,
        ImageLimits::default()
            .with_max_dimension(4096)
            .with_max_pixels(1_000_000)
            .with_max_frames(7)
            .with_max_alloc(1 << 20)
    );
    for bad in ["0", "-1", "many", "1.5"] {
        for limit in [Limit::Dimension, Limit::Pixels, Limit::Frames, Limit::Alloc] {
            let e =
                ImageLimits::from_lookup(|name| (name == limit.variable()).then(|| bad.to_owned()))
                    .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config);
            assert!(e.message().contains(limit.variable()), "{e}");
        }
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any bytes, or a real image's header with its bytes changed, are an image within the
        /// limits or a refusal: never a panic, never more than the limits allow.
        #[test]
        fn no_bytes_pass_the_header_check_over_the_limits(
            noise in prop::collection::vec(any::<u8>(), 0..256),
            at in 0usize..64,
            with in any::<u8>(),
        ) {
            let limits = ImageLimits::default().with_max_pixels(1 << 16).with_max_alloc(1 << 20);
            let mut gif = gif(64, 64, 2);
            let at = at % gif.len();
            gif[at] = with;
            for bytes in [noise, gif] {
                if let Ok(header) = convert::check_header(&bytes, &limits) {
                    prop_assert!(u64::from(header.width) * u64::from(header.height) <= limits.max_pixels);
                    prop_assert!(header.decoded_bytes <= limits.max_alloc);
                }
            }
        }
    }
}
