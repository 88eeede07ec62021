//! Where LibreOffice is, how many conversions run at once, how long one may take.

use std::path::{Path, PathBuf};
use std::time::Duration;

use multiconvert_core::{Error, Result};

use crate::inspect::ArchiveLimits;
use crate::warm::Recycling;
use crate::NAME;

/// How to install what this provider needs, for error messages.
pub const INSTALL_HINT: &str = "install LibreOffice (Debian/Ubuntu: apt-get install \
    libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui python3-uno) or set \
    MULTICONVERT_SOFFICE to its soffice binary";

/// How conversions run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Engine {
    /// Warm workers: each keeps one LibreOffice running and feeds it one document after another
    /// over UNO (needs Debian's `python3-uno`; without it conversions run per call). The default.
    #[default]
    Warm,
    /// A LibreOffice started per conversion (`soffice --convert-to`): about a second each.
    PerCall,
}

/// The office provider's configuration.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// The soffice binary (`None`: `soffice`, then `libreoffice`, on `PATH`).
    pub soffice: Option<PathBuf>,
    /// Where jobs and the workers' LibreOffice profiles are kept: one provider's own (two
    /// providers on one root would run two LibreOffices on one profile).
    pub root: PathBuf,
    /// Conversions at once (default: the number of cores).
    pub concurrency: usize,
    /// How long one conversion may take before it is killed (default 120 s).
    pub deadline: Duration,
    /// The instance name (default `office`).
    pub name: Option<String>,
    /// How conversions run (default [`Engine::Warm`]).
    pub engine: Engine,
    /// The Python that drives the warm workers: one that can `import uno` (default Debian's
    /// `/usr/bin/python3`, with `python3-uno`).
    pub python: PathBuf,
    /// When a warm worker's LibreOffice is replaced by a fresh one (see [`Recycling`]).
    pub recycling: Recycling,
    /// Whether [`Office::new`](crate::Office::new) starts the warm workers at once (default
    /// true: a service's first jobs find them ready); false starts each on its first job, for a
    /// short-lived process that may convert no document at all.
    pub warm_up: bool,
    /// Largest input document taken, in bytes (default 256 MiB).
    pub max_input: u64,
    /// The address space each LibreOffice process may map, in bytes (`RLIMIT_AS`; default
    /// 2 GiB, `None`: unlimited). A document that needs more (an embedded image bomb, a
    /// spreadsheet that expands without end) fails its job instead of taking the machine's
    /// memory. LibreOffice itself starts in well under 256 MiB.
    pub max_memory: Option<u64>,
    /// What a zip-based document (docx, xlsx, pptx, odt, ods, odp) may declare in its central
    /// directory: expanded size, compression ratio, entries (see [`ArchiveLimits`]).
    pub archive: ArchiveLimits,
}

impl Config {
    /// Defaults: soffice from `PATH`, jobs under `<temp>/multiconvert-office`, one worker per
    /// core, 120 s per conversion, inputs up to 256 MiB, 2 GiB of address space per LibreOffice.
    pub fn new() -> Self {
        Config {
            soffice: None,
            root: std::env::temp_dir().join("multiconvert-office"),
            concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            deadline: Duration::from_secs(120),
            name: None,
            engine: Engine::Warm,
            python: PathBuf::from("/usr/bin/python3"),
            recycling: Recycling::default(),
            warm_up: true,
            max_input: 256 << 20,
            max_memory: Some(2 << 30),
            archive: ArchiveLimits::default(),
        }
    }

    /// From the environment: `MULTICONVERT_SOFFICE` (the binary), `MULTICONVERT_OFFICE_DIR` (the
    /// jobs), `MULTICONVERT_OFFICE_CONCURRENCY`, `MULTICONVERT_OFFICE_DEADLINE_SECS`,
    /// `MULTICONVERT_OFFICE_MAX_INPUT` (bytes), `MULTICONVERT_OFFICE_MAX_MEMORY` (bytes; `0`
    /// lifts the limit), and the archive bounds `MULTICONVERT_OFFICE_MAX_EXPANDED` (bytes),
    /// `MULTICONVERT_OFFICE_MAX_RATIO` and `MULTICONVERT_OFFICE_MAX_ENTRIES` (`0` lifts each),
    /// `MULTICONVERT_OFFICE_ENGINE` (`warm` or `per-call`), `MULTICONVERT_OFFICE_PYTHON`,
    /// `MULTICONVERT_OFFICE_MAX_JOBS` (conversions before a warm worker is recycled) and
    /// `MULTICONVERT_OFFICE_MAX_RSS` (bytes; `0` lifts it).
    pub fn from_env() -> Result<Self> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let present = |name: &str| multiconvert_core::config::non_blank(&lookup, name);
        let mut config = Config::new();
        config.soffice = present("MULTICONVERT_SOFFICE").map(PathBuf::from);
        if let Some(dir) = present("MULTICONVERT_OFFICE_DIR") {
            config.root = PathBuf::from(dir);
        }
        if let Some(n) = present("MULTICONVERT_OFFICE_CONCURRENCY") {
            config.concurrency = n.trim().parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                Error::config(
                    NAME,
                    "MULTICONVERT_OFFICE_CONCURRENCY must be a whole number above 0",
                )
            })?;
        }
        if let Some(s) = present("MULTICONVERT_OFFICE_DEADLINE_SECS") {
            let secs: f64 = s
                .trim()
                .parse()
                .ok()
                .filter(|s: &f64| *s > 0.0 && s.is_finite())
                .ok_or_else(|| {
                    Error::config(
                        NAME,
                        "MULTICONVERT_OFFICE_DEADLINE_SECS must be a number of seconds above 0",
                    )
                })?;
            config.deadline = Duration::from_secs_f64(secs);
        }
        if let Some(engine) = present("MULTICONVERT_OFFICE_ENGINE") {
            config.engine = match engine.trim().to_ascii_lowercase().as_str() {
                "warm" => Engine::Warm,
                "per-call" | "percall" => Engine::PerCall,
                _ => {
                    return Err(Error::config(
                        NAME,
                        "MULTICONVERT_OFFICE_ENGINE must be warm or per-call",
                    ))
                }
            };
        }
        if let Some(python) = present("MULTICONVERT_OFFICE_PYTHON") {
            config.python = PathBuf::from(python);
        }
        let number = |name: &str| -> Result<Option<u64>> {
            present(name)
                .map(|n| {
                    n.trim()
                        .parse::<u64>()
                        .map_err(|_| Error::config(NAME, format!("{name} must be a whole number")))
                })
                .transpose()
        };
        // `0` lifts a bound.
        let bound = |name: &str| Ok::<_, Error>(number(name)?.map(|n| (n > 0).then_some(n)));
        if let Some(n) = number("MULTICONVERT_OFFICE_MAX_INPUT")? {
            if n == 0 {
                return Err(Error::config(
                    NAME,
                    "MULTICONVERT_OFFICE_MAX_INPUT must be above 0",
                ));
            }
            config.max_input = n;
        }
        if let Some(n) = bound("MULTICONVERT_OFFICE_MAX_MEMORY")? {
            config.max_memory = n;
        }
        if let Some(n) = bound("MULTICONVERT_OFFICE_MAX_EXPANDED")? {
            config.archive.max_expanded = n;
        }
        if let Some(n) = bound("MULTICONVERT_OFFICE_MAX_RATIO")? {
            config.archive.max_ratio = n;
        }
        if let Some(n) = bound("MULTICONVERT_OFFICE_MAX_ENTRIES")? {
            config.archive.max_entries = n;
        }
        if let Some(n) = number("MULTICONVERT_OFFICE_MAX_JOBS")? {
            config.recycling.max_jobs =
                u32::try_from(n).ok().filter(|&n| n > 0).ok_or_else(|| {
                    Error::config(
                        NAME,
                        "MULTICONVERT_OFFICE_MAX_JOBS must be between 1 and 4294967295",
                    )
                })?;
        }
        if let Some(n) = bound("MULTICONVERT_OFFICE_MAX_RSS")? {
            config.recycling.max_rss = n;
        }
        Ok(config)
    }

    /// Sets the soffice binary.
    pub fn soffice(mut self, path: impl Into<PathBuf>) -> Self {
        self.soffice = Some(path.into());
        self
    }
    /// Sets where jobs are kept.
    pub fn root(mut self, root: impl Into<PathBuf>) -> Self {
        self.root = root.into();
        self
    }
    /// Sets how many conversions run at once.
    pub fn concurrency(mut self, workers: usize) -> Self {
        self.concurrency = workers.max(1);
        self
    }
    /// Sets how long one conversion may take.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }
    /// Sets the largest input document taken, in bytes.
    pub fn max_input(mut self, bytes: u64) -> Self {
        self.max_input = bytes.max(1);
        self
    }
    /// Sets the address space each LibreOffice process may map (`None`: unlimited).
    pub fn max_memory(mut self, bytes: Option<u64>) -> Self {
        self.max_memory = bytes;
        self
    }
    /// Sets what a zip-based document may declare.
    pub fn archive(mut self, limits: ArchiveLimits) -> Self {
        self.archive = limits;
        self
    }
    /// Sets how conversions run.
    pub fn engine(mut self, engine: Engine) -> Self {
        self.engine = engine;
        self
    }
    /// Sets whether the warm workers start with the provider.
    pub fn warm_up(mut self, now: bool) -> Self {
        self.warm_up = now;
        self
    }
    /// Sets when warm workers are recycled.
    pub fn recycling(mut self, recycling: Recycling) -> Self {
        self.recycling = recycling;
        self
    }
    /// Sets the Python that drives the warm workers.
    pub fn python(mut self, python: impl Into<PathBuf>) -> Self {
        self.python = python.into();
        self
    }
    /// Sets the instance name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// The soffice binary: `explicit` when given (it must exist), else `soffice` or `libreoffice` on
/// `PATH`. Not found is a [`Config`](multiconvert_core::ErrorKind::Config) error saying how to
/// install it.
pub fn find_soffice(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = explicit {
        return if is_executable(path) {
            Ok(path.to_path_buf())
        } else {
            Err(Error::config(
                NAME,
                format!(
                    "{} is not an executable soffice: {INSTALL_HINT}",
                    path.display()
                ),
            ))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| ["soffice", "libreoffice"].map(|name| dir.join(name)))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| Error::config(NAME, format!("LibreOffice was not found: {INSTALL_HINT}")))
}
