//! Every fuzz target replays every recorded fixture and sample: a seed corpus that catches a
//! parser regression without coverage instrumentation. Run as a test so that `cargo test
//! --workspace` builds the targets with the features the rest of the suite already built (a
//! separate `cargo build -p multiconvert-fuzz` resolved other features and rebuilt much of the
//! dependency tree).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The targets, each with its built binary.
const TARGETS: &[(&str, &str)] = &[
    (
        "online_convert_job",
        env!("CARGO_BIN_EXE_online_convert_job"),
    ),
    (
        "online_convert_webhook",
        env!("CARGO_BIN_EXE_online_convert_webhook"),
    ),
    (
        "convertapi_replies",
        env!("CARGO_BIN_EXE_convertapi_replies"),
    ),
    (
        "convertapi_webhook",
        env!("CARGO_BIN_EXE_convertapi_webhook"),
    ),
    ("headers_and_names", env!("CARGO_BIN_EXE_headers_and_names")),
    ("image_header", env!("CARGO_BIN_EXE_image_header")),
    ("office_inspect", env!("CARGO_BIN_EXE_office_inspect")),
    (
        "cloudconvert_replies",
        env!("CARGO_BIN_EXE_cloudconvert_replies"),
    ),
];

/// Every file under `dir` (recursively) whose name ends in one of `exts`.
fn files(dir: &Path, exts: &[&str], found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().map_while(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            files(&path, exts, found);
        } else if exts
            .iter()
            .any(|e| path.extension().is_some_and(|x| x == *e))
        {
            found.push(path);
        }
    }
}

#[test]
fn every_target_replays_every_fixture_and_sample() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let mut corpus = Vec::new();
    files(&fixtures.join("online-convert"), &["json"], &mut corpus);
    files(&fixtures.join("convertapi"), &["json"], &mut corpus);
    files(&fixtures.join("cloudconvert"), &["json"], &mut corpus);
    files(
        &fixtures.join("samples"),
        &[
            "png", "jpg", "gif", "docx", "odt", "xlsx", "pptx", "html", "fodt", "fods", "fodp",
        ],
        &mut corpus,
    );
    files(&fixtures.join("office"), &["txt"], &mut corpus);
    assert!(corpus.len() > 50, "the corpus was not found: {corpus:?}");
    for (name, binary) in TARGETS {
        // libFuzzer runs each file given as an argument once and exits non-zero on a crash.
        let out = Command::new(binary).args(&corpus).output().unwrap();
        assert!(
            out.status.success(),
            "fuzz target {name} failed on a fixture: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
