//! A fake soffice for tests that need no LibreOffice.
#![allow(dead_code)]

use std::time::Duration;

use multiconvert_office::{Config, Office};

/// Behaves by the input's first word: `HANG <seconds>` sleeps that long (each test its own
/// duration, so it can look for its own sleep among the processes), CRASH dies of SIGSEGV, GARBAGE writes a non-PDF, NOTHING writes nothing, LIMIT
/// writes its address-space limit (`ulimit -v`, KiB) into its PDF; anything else
/// gets a small PDF. `--version` prints a version.
const FAKE: &str = r#"#!/bin/sh
if [ "$1" = "--version" ]; then echo "LibreOffice 0.0.0 fake"; exit 0; fi
outdir=""; input=""; convert_to=""
while [ $# -gt 0 ]; do
  case "$1" in
    --outdir) outdir="$2"; shift ;;
    --convert-to) convert_to="$2"; shift ;;
    -*) ;;
    *) input="$1" ;;
  esac
  shift
done
target="${convert_to%%:*}"
out="$outdir/input.$target"
case "$(head -c 16 "$input")" in
  HANG*) sleep "$(head -c 16 "$input" | cut -d' ' -f2)"; printf '%%PDF-1.4 late\n' > "$out" ;;
  CRASH*) kill -SEGV $$ ;;
  GARBAGE*) printf 'not a pdf' > "$out" ;;
  NOTHING*) ;;
  LIMIT*) printf '%%PDF-1.4 as=%s\n' "$(ulimit -v)" > "$out" ;;
  *) printf '%%PDF-1.4 fake\n' > "$out" ;;
esac
"#;

pub struct Fake {
    dir: tempfile::TempDir,
}

impl Fake {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("soffice");
        std::fs::write(&script, FAKE).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Fake { dir }
    }
    /// Where the fake's offices keep their jobs and profiles.
    pub fn root(&self) -> std::path::PathBuf {
        self.dir.path().join("state")
    }
    pub fn office(&self, workers: usize, deadline: Duration) -> Office {
        Office::new(self.config(workers, deadline)).unwrap()
    }
    /// The fake speaks no UNO: it runs per call.
    pub fn config(&self, workers: usize, deadline: Duration) -> Config {
        Config::new()
            .engine(multiconvert_office::Engine::PerCall)
            .soffice(self.dir.path().join("soffice"))
            .root(self.dir.path().join("state"))
            .concurrency(workers)
            .deadline(deadline)
    }
}
