//! Embeds the committed contract (each suite's cassettes and insta snapshots) so that
//! `multiconvert conformance check` compares with it wherever the binary runs.

use std::fmt::Write as _;
use std::path::Path;

const SUITES: &[(&str, &str, &str)] = &[
    (
        "online-convert",
        "fixtures/online-convert",
        "providers/online-convert/tests/snapshots",
    ),
    (
        "convertapi-current",
        "fixtures/convertapi/current",
        "providers/convertapi/tests/snapshots",
    ),
    (
        "convertapi-legacy",
        "fixtures/convertapi/legacy",
        "providers/convertapi/tests/snapshots",
    ),
    (
        "cloudconvert",
        "fixtures/cloudconvert",
        "providers/cloudconvert/tests/snapshots",
    ),
];

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut out =
        String::from("/// (suite, scenario, cassette, snapshot) of the committed contract.\n");
    out.push_str("pub const COMMITTED: &[(&str, &str, &str, &str)] = &[\n");
    for (suite, fixtures, snapshots) in SUITES {
        let snapshots = root.join(snapshots);
        println!("cargo:rerun-if-changed={}", root.join(fixtures).display());
        println!("cargo:rerun-if-changed={}", snapshots.display());
        let Ok(entries) = std::fs::read_dir(&snapshots) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|n| {
                Some(
                    n.strip_prefix(&format!("{suite}__"))?
                        .strip_suffix(".snap")?
                        .to_owned(),
                )
            })
            .collect();
        names.sort();
        for scenario in names {
            let cassette = root.join(fixtures).join(format!("{scenario}.json"));
            let snapshot = snapshots.join(format!("{suite}__{scenario}.snap"));
            if cassette.exists() {
                writeln!(
                    out,
                    "    ({suite:?}, {scenario:?}, include_str!({:?}), include_str!({:?})),",
                    cassette.canonicalize().unwrap(),
                    snapshot.canonicalize().unwrap()
                )
                .unwrap();
            }
        }
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("committed.rs");
    std::fs::write(dest, out).unwrap();
}
