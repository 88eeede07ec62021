//! The command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Convert files locally or through a vendor API, with failover between vendors.
///
/// Vendors are configured from the environment: API2CONVERT_API_KEY, API2CONVERT_BASE_URL,
/// CONVERTAPI_SECRET, CONVERTAPI_BASE_URL, CONVERTAPI_ASYNC_ROUTE. With none, conversions run
/// in-process (raster images).
#[derive(Debug, Parser)]
#[command(name = "multiconvert", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Convert a file or URL and save the result.
    Convert(ConvertArgs),
    /// Convert many files (a directory, or a list file), resumably: rerun the same command to
    /// finish a run that was killed; several processes sharing one `--state` split the work.
    Batch(BatchArgs),
    /// Show a job's status.
    Status(JobArgs),
    /// Delete a job and its stored files.
    Delete(JobArgs),
    /// List the providers, configured or not, and what they can do.
    Providers(ProvidersArgs),
    /// The conformance scenarios against the vendor the environment configures (the real one,
    /// or the emulator): `record` writes them as cassettes, `check` compares them with the
    /// committed contract (or `--baseline` recordings) and exits 10 when the vendor changed.
    Conformance(ConformanceArgs),
    /// Serve online-convert's and ConvertAPI's APIs on localhost (the emulator), until
    /// interrupted; prints the base URLs as one JSON line.
    Emulate(multiconvert_emulator::command::EmulateArgs),
}

/// Which provider to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProviderChoice {
    /// The configured vendors with failover (online-convert, then ConvertAPI, then
    /// CloudConvert), then the local providers: raster images in-process, office documents on
    /// LibreOffice when it is installed.
    Auto,
    /// In-process raster image conversion.
    Local,
    /// Office documents on the machine's headless LibreOffice.
    Office,
    /// online-convert / api2convert.
    OnlineConvert,
    /// ConvertAPI.
    Convertapi,
    /// CloudConvert.
    Cloudconvert,
}

/// A provider a job belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum JobProvider {
    /// In-process raster image conversion.
    Local,
    /// Office documents on the machine's headless LibreOffice.
    Office,
    /// online-convert / api2convert.
    OnlineConvert,
    /// ConvertAPI.
    Convertapi,
    /// CloudConvert.
    Cloudconvert,
}

impl From<JobProvider> for ProviderChoice {
    fn from(p: JobProvider) -> Self {
        match p {
            JobProvider::Local => ProviderChoice::Local,
            JobProvider::Office => ProviderChoice::Office,
            JobProvider::OnlineConvert => ProviderChoice::OnlineConvert,
            JobProvider::Convertapi => ProviderChoice::Convertapi,
            JobProvider::Cloudconvert => ProviderChoice::Cloudconvert,
        }
    }
}

/// What to do when an output file already exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnConflict {
    /// Fail and leave the existing file alone.
    Error,
    /// Replace it.
    Overwrite,
    /// Write `name (1).ext` instead.
    Rename,
}

#[derive(Debug, clap::Args)]
pub struct ConvertArgs {
    /// The file to convert: a local path or an http(s) URL.
    pub input: String,
    /// The target format (jpg, png, pdf, …).
    #[arg(long)]
    pub to: String,
    /// The source format, when the input's name does not tell it.
    #[arg(long)]
    pub from: Option<String>,
    /// Which provider converts.
    #[arg(long, value_enum, default_value_t = ProviderChoice::Auto)]
    pub provider: ProviderChoice,
    /// How a failover over several providers orders them: `ordered` (as configured),
    /// `cheapest` (the lowest expected cost at each provider's `MULTICONVERT_PRICE_<NAME>`), or
    /// `prefer=<name>`.
    #[arg(long, default_value = "ordered", value_parser = parse_route)]
    pub route: multiconvert_core::failover::Route,
    /// The directory for the outputs.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// A converter option, `key=value` (repeatable); values are read as JSON when they parse.
    #[arg(long = "option", value_name = "KEY=VALUE", value_parser = parse_option)]
    pub options: Vec<(String, serde_json::Value)>,
    /// A URL the vendor calls back when the job changes.
    #[arg(long)]
    pub callback: Option<url::Url>,
    /// Submit and print the job id without waiting for the result.
    #[arg(long)]
    pub no_wait: bool,
    /// Give up waiting after this many seconds (the job keeps running at the vendor).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// What to do when an output file already exists.
    #[arg(long, value_enum, default_value_t = OnConflict::Error)]
    pub on_conflict: OnConflict,
    /// Print exactly one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct BatchArgs {
    /// A directory (its files, recursively; hidden ones left out) or a list file (one path or
    /// http(s) URL a line, `#` comments, paths relative to the list's directory).
    pub source: PathBuf,
    /// The target format (jpg, png, pdf, …).
    #[arg(long)]
    pub to: String,
    /// The source format, when the inputs' names do not tell it.
    #[arg(long)]
    pub from: Option<String>,
    /// Which provider converts.
    #[arg(long, value_enum, default_value_t = ProviderChoice::Auto)]
    pub provider: ProviderChoice,
    /// How a failover over several providers orders them: `ordered` (as configured),
    /// `cheapest` (the lowest expected cost at each provider's `MULTICONVERT_PRICE_<NAME>`), or
    /// `prefer=<name>`.
    #[arg(long, default_value = "ordered", value_parser = parse_route)]
    pub route: multiconvert_core::failover::Route,
    /// The directory for the outputs (a directory's subdirectories are mirrored under it).
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// How many files convert at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// At most N jobs at once at provider NAME (repeatable); the local image provider defaults
    /// to the machine's cores.
    #[arg(long = "limit", value_name = "NAME=N", value_parser = parse_limit)]
    pub limits: Vec<(String, usize)>,
    /// At most N units of provider NAME's cost per day, week or month (repeatable): every
    /// process sharing the --state counts against one budget; a provider over its budget is
    /// skipped, and a file no provider may take fails with exit code 4.
    #[arg(long = "budget", value_name = "NAME=N/month", value_parser = parse_budget)]
    pub budgets: Vec<(String, multiconvert_core::spend::Budget)>,
    /// Where the journal lives: `sqlite:PATH` (or a path), `postgres://…` to share it between
    /// processes, or `none` (not resumable). Default: a SQLite file in the out directory.
    #[arg(long, value_name = "URL")]
    pub state: Option<String>,
    /// A converter option, `key=value` (repeatable); values are read as JSON when they parse.
    #[arg(long = "option", value_name = "KEY=VALUE", value_parser = parse_option)]
    pub options: Vec<(String, serde_json::Value)>,
    /// Give up waiting for a file after this many seconds (a rerun takes its job up again).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// What to do when an output file already exists.
    #[arg(long, value_enum, default_value_t = OnConflict::Error)]
    pub on_conflict: OnConflict,
    /// Seconds after which another process takes over the files of a process that stopped
    /// renewing its claim on them (it died).
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub lease: u64,
    /// Print one JSON object a line: one per file, then `{"summary": …}`.
    #[arg(long)]
    pub json: bool,
}

/// A job at a provider (`status`, `delete`).
#[derive(Debug, clap::Args)]
pub struct JobArgs {
    /// The provider that owns the job.
    #[arg(long, value_enum)]
    pub provider: JobProvider,
    /// The job id.
    pub job_id: String,
    /// Print exactly one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ProvidersArgs {
    /// Print exactly one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

fn parse_option(text: &str) -> Result<(String, serde_json::Value), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not KEY=VALUE"))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("{text:?} has an empty key"));
    }
    let value =
        serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
    Ok((key.to_owned(), value))
}

fn parse_limit(text: &str) -> Result<(String, usize), String> {
    let (name, n) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not NAME=N"))?;
    let n: usize = n
        .trim()
        .parse()
        .map_err(|_| format!("{text:?}: N must be a whole number"))?;
    if n == 0 || name.trim().is_empty() {
        return Err(format!("{text:?}: a limit needs a name and at least 1"));
    }
    Ok((name.trim().to_owned(), n))
}

fn parse_budget(text: &str) -> Result<(String, multiconvert_core::spend::Budget), String> {
    let (name, budget) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not NAME=N/month"))?;
    if name.trim().is_empty() {
        return Err(format!("{text:?}: a budget needs a provider name"));
    }
    let budget = budget
        .parse()
        .map_err(|e: multiconvert_core::Error| e.message().to_owned())?;
    Ok((name.trim().to_owned(), budget))
}

/// What `conformance` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ConformanceAction {
    /// Run the scenarios and write each as a cassette (secrets replaced by placeholders).
    Record,
    /// Run the scenarios and report, per scenario, same / changed / failed against the
    /// baseline (with `MULTICONVERT_RECORD=1`, also record them).
    Check,
}

/// The vendors `conformance` runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ConformanceProvider {
    /// online-convert / api2convert (`API2CONVERT_API_KEY`, `API2CONVERT_BASE_URL`,
    /// `API2CONVERT_WEBHOOK_SECRET`).
    OnlineConvert,
    /// ConvertAPI (`CONVERTAPI_SECRET`, `CONVERTAPI_BASE_URL`, `CONVERTAPI_ASYNC_ROUTE`).
    Convertapi,
    /// CloudConvert (`CLOUDCONVERT_API_KEY`, `CLOUDCONVERT_BASE_URL`,
    /// `CLOUDCONVERT_SYNC_BASE_URL`, `CLOUDCONVERT_WEBHOOK_SECRET`).
    Cloudconvert,
}

impl ConformanceProvider {
    /// The name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ConformanceProvider::OnlineConvert => "online-convert",
            ConformanceProvider::Convertapi => "convertapi",
            ConformanceProvider::Cloudconvert => "cloudconvert",
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ConformanceArgs {
    /// `record` or `check`.
    #[arg(value_enum)]
    pub action: ConformanceAction,
    /// The vendor.
    #[arg(long, value_enum)]
    pub provider: ConformanceProvider,
    /// Only these scenarios (repeatable; default: all).
    #[arg(long = "scenario", value_name = "NAME")]
    pub scenarios: Vec<String>,
    /// The base URL is a multiconvert emulator (also `MULTICONVERT_CONFORMANCE_EMULATOR=1`):
    /// scenarios that need a fault arm it there, and callbacks and remote inputs use loopback.
    #[arg(long)]
    pub emulator: bool,
    /// Where recordings go (default `recorded/<suite>`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Compare with the recordings in DIR instead of the committed contract.
    #[arg(long, value_name = "DIR")]
    pub baseline: Option<PathBuf>,
    /// List the scenarios and the jobs each would create, and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// One JSON object a line: the plan, one report per scenario, then `{"summary": …}`.
    #[arg(long)]
    pub json: bool,
}

fn parse_route(text: &str) -> Result<multiconvert_core::failover::Route, String> {
    text.parse()
        .map_err(|e: multiconvert_core::Error| e.message().to_owned())
}
