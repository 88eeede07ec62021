//! `multiconvert batch`: many files at bounded concurrency, journaled so that a run killed at
//! any moment is finished by running it again, and shared by several processes on one store.
//!
//! Every file is journaled under a key made of its path, the target, the options and the
//! provider choice (the request's idempotency key, hence ConvertAPI's client JobId). The
//! provider reports each job's handle to the journal before the job can start, so a rerun
//! resumes the job it finds ([`ConversionProvider::resume`]) and never submits one twice.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use multiconvert_core::failover::Failover;
use multiconvert_core::journal::Journaled;
use multiconvert_core::wrappers::Limited;
use multiconvert_core::{
    failed_job_error, Conversion, ConversionProvider, Error, ErrorKind, Job, JobHandle, JobRequest,
    JobStatus, Operation, Overwrite, ProviderExt, SaveOptions,
};
use multiconvert_store::{Entry, State, Store, Submission};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::task::JoinSet;

use crate::args::{BatchArgs, OnConflict};
use crate::report::{error_json, exit, exit_code};

/// The state file `batch` keeps in the out directory when `--state` is not given.
pub const DEFAULT_STATE_FILE: &str = "multiconvert-batch.sqlite";

/// One file (or URL) of the batch.
#[derive(Clone, Debug)]
struct Item {
    /// What the journal records: a canonical path, or a URL.
    source: String,
    /// Where its outputs go, under `--out`.
    subdir: PathBuf,
    key: String,
    digest: String,
}

/// What became of one file.
#[derive(Debug)]
struct Report {
    source: String,
    status: &'static str,
    provider: Option<String>,
    job_id: Option<String>,
    outputs: Vec<Value>,
    /// What the job cost, in the vendor's unit (the journal keeps the amount alone).
    cost: Option<u64>,
    cost_unit: Option<String>,
    /// What that comes to at the provider's price, when it has one.
    price: Option<f64>,
    resumed: bool,
    /// Left unfinished in the journal: a rerun takes it up again.
    retry: bool,
    note: Option<String>,
    error: Option<Error>,
}

impl Report {
    fn new(item: &Item, status: &'static str) -> Self {
        Report {
            source: item.source.clone(),
            status,
            provider: None,
            job_id: None,
            outputs: Vec::new(),
            cost: None,
            cost_unit: None,
            price: None,
            resumed: false,
            retry: false,
            note: None,
            error: None,
        }
    }

    fn json(&self) -> Value {
        json!({
            "source": self.source,
            "status": self.status,
            "provider": self.provider,
            "job_id": self.job_id,
            "outputs": self.outputs,
            "cost": self.cost,
            "cost_unit": self.cost_unit,
            "price": self.price,
            "resumed": self.resumed,
            "retry": self.retry,
            "note": self.note,
            "error": self.error.as_ref().map(|e| error_json(e)["error"].clone()),
        })
    }

    fn line(&self) -> String {
        let mut line = format!("{:<7} {}", self.status, self.source);
        for output in &self.outputs {
            line.push_str(&format!(" -> {}", output["path"].as_str().unwrap_or("?")));
        }
        if let Some(e) = &self.error {
            line.push_str(&format!(": {e}"));
        }
        if let Some(note) = &self.note {
            line.push_str(&format!(" ({note})"));
        }
        line
    }
}

/// What every file's task shares.
struct Ctx {
    /// This process's name in the state's claims.
    worker: String,
    provider: Arc<dyn ConversionProvider>,
    router: Option<Arc<Failover>>,
    limited: HashMap<String, Arc<Limited>>,
    store: Option<Store>,
    conversion: Conversion,
    out: PathBuf,
    overwrite: Overwrite,
    policy: multiconvert_core::PollPolicy,
}

impl Ctx {
    /// What `amount` of `provider`'s cost comes to at its price, when it has one.
    fn price_of(&self, provider: &str, amount: Option<u64>) -> Option<f64> {
        crate::providers::price_of(&self.provider, self.router.as_deref(), provider, amount)
    }
}

/// The bars of a batch: one overall, one line per active file; nothing off a terminal.
struct Bars {
    multi: Option<MultiProgress>,
    overall: ProgressBar,
    json: bool,
}

impl Bars {
    fn new(json: bool, total: u64) -> Self {
        if json || !std::io::stderr().is_terminal() {
            return Bars {
                multi: None,
                overall: ProgressBar::hidden(),
                json,
            };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let overall = multi.add(
            ProgressBar::new(total).with_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} files ({elapsed})")
                    .expect("a valid template")
                    .progress_chars("=> "),
            ),
        );
        overall.set_prefix("batch");
        Bars {
            multi: Some(multi),
            overall,
            json,
        }
    }

    fn line(&self, name: &str) -> ProgressBar {
        let Some(multi) = &self.multi else {
            return ProgressBar::hidden();
        };
        let bar = multi.add(
            ProgressBar::new_spinner()
                .with_style(ProgressStyle::with_template("  {spinner} {msg}").expect("valid")),
        );
        bar.set_message(format!("{name}: submitting"));
        bar.enable_steady_tick(Duration::from_millis(150));
        bar
    }

    fn report(&self, report: &Report) {
        self.overall.inc(1);
        if self.json {
            println!("{}", report.json());
        } else if let Some(multi) = &self.multi {
            let _ = multi.println(report.line());
        } else {
            println!("{}", report.line());
        }
    }
}

fn hex_digest(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hex::encode(hasher.finalize())
}

/// The batch's identity: what it converts to and how, whatever files it lists.
fn batch_id(args: &BatchArgs) -> String {
    let options: std::collections::BTreeMap<_, _> = args.options.iter().cloned().collect();
    let spec = json!({
        "to": args.to.to_ascii_lowercase(),
        "from": args.from.as_deref().map(str::to_ascii_lowercase),
        "provider": format!("{:?}", args.provider).to_ascii_lowercase(),
        "options": options,
    });
    format!("batch-{}", &hex_digest(&[&spec.to_string()])[..24])
}

fn usage(message: impl Into<String>) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        "batch",
        Operation::Other("batch"),
        message,
    )
}

/// A file's digest: its size and modification time (a changed file is told from a resumed one
/// without reading it).
fn digest_of(source: &str) -> String {
    match std::fs::metadata(source) {
        Ok(meta) => {
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            format!("size={};mtime={modified}", meta.len())
        }
        Err(_) => "remote".to_owned(),
    }
}

fn is_url(text: &str) -> bool {
    url::Url::parse(text).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

/// Sources found, each with its output subdirectory, and a directory's canonical root.
type Listing = (Vec<(String, PathBuf)>, Option<PathBuf>);

/// The files of a directory (recursively, hidden entries and the out directory left out), or
/// of a list file (a path or URL a line; `#` comments; paths relative to the list's directory).
/// For a directory, also its canonical root.
fn list_sources(source: &Path, out: &Path) -> multiconvert_core::Result<Listing> {
    let io = |what: &str, e: std::io::Error| usage(format!("{what}: {e}"));
    let meta = std::fs::metadata(source).map_err(|e| io(&source.display().to_string(), e))?;
    if meta.is_dir() {
        let root = source
            .canonicalize()
            .map_err(|e| io(&source.display().to_string(), e))?;
        let out = out.canonicalize().ok();
        if out.as_deref() == Some(root.as_path()) {
            return Err(usage(
                "--out must not be the source directory: a rerun would read the outputs as inputs",
            ));
        }
        let mut found = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            let entries = std::fs::read_dir(&dir).map_err(|e| io(&dir.display().to_string(), e))?;
            for entry in entries {
                let entry = entry.map_err(|e| io(&dir.display().to_string(), e))?;
                let path = entry.path();
                if entry.file_name().to_string_lossy().starts_with('.')
                    || out.as_deref() == Some(path.as_path())
                {
                    continue;
                }
                // Symbolic links to directories are not followed (no loops, nothing outside).
                let kind = entry
                    .file_type()
                    .map_err(|e| io(&path.display().to_string(), e))?;
                if kind.is_dir() {
                    dirs.push(path);
                } else if std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
                    let subdir = path
                        .parent()
                        .and_then(|p| p.strip_prefix(&root).ok())
                        .map(Path::to_path_buf)
                        .unwrap_or_default();
                    found.push((path.to_string_lossy().into_owned(), subdir));
                }
            }
        }
        found.sort();
        return Ok((found, Some(root)));
    }
    let text = std::fs::read_to_string(source).map_err(|e| io(&source.display().to_string(), e))?;
    let base = source.parent().unwrap_or(Path::new("."));
    let mut seen = BTreeSet::new();
    let mut found = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let source = if is_url(line) {
            line.to_owned()
        } else {
            let path = base.join(line);
            path.canonicalize()
                .unwrap_or(path)
                .to_string_lossy()
                .into_owned()
        };
        if seen.insert(source.clone()) {
            found.push((source, PathBuf::new()));
        }
    }
    Ok((found, None))
}

fn request_for(ctx: &Ctx, item: &Item) -> JobRequest {
    JobRequest::new(crate::input_of(&item.source), ctx.conversion.clone())
        .idempotency_key(item.key.clone())
}

/// Whether an error ends the file for good (a rerun would fail the same way) rather than
/// leaving it to a rerun (the network, the vendor's servers, credentials, a deadline).
fn is_definitive(error: &Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::InvalidInput | ErrorKind::Unsupported | ErrorKind::ConversionFailed
    )
}

async fn journal<T>(result: multiconvert_core::Result<T>) {
    if let Err(e) = result {
        tracing::warn!(error = %e, "the batch journal could not be written");
    }
}

/// Converts one file (or takes up its journaled job) and saves its outputs.
async fn process(ctx: Arc<Ctx>, item: Item, entry: Option<Entry>, line: ProgressBar) -> Report {
    let name = Path::new(&item.source)
        .file_name()
        .map_or_else(|| item.source.clone(), |n| n.to_string_lossy().into_owned());
    let mut report = Report::new(&item, "done");
    let journaled = entry.and_then(|e| e.handle);
    report.resumed = journaled.is_some();
    let request = request_for(&ctx, &item);

    // Status changes go to the journal in order, off the polling path.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<JobStatus>();
    let writer = ctx.store.clone().map(|store| {
        let key = item.key.clone();
        tokio::spawn(async move {
            while let Some(status) = rx.recv().await {
                journal(store.record_status(&key, &status).await).await;
            }
        })
    });
    let last = Mutex::new(None::<JobStatus>);
    let observe = |job: &Job| {
        line.set_message(format!("{name}: {}", job.status));
        let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
        if !job.status.is_terminal() && last.as_ref() != Some(&job.status) {
            *last = Some(job.status.clone());
            let _ = tx.send(job.status.clone());
        }
    };
    let converted = async {
        match &journaled {
            Some(handle) => match ctx.provider.resume(handle, &request).await {
                Ok(handle) => ctx.provider.wait_with(&handle, &ctx.policy, &observe).await,
                Err(e) => Err(e),
            },
            None => match &ctx.router {
                // A vendor that fails the job on its own side hands it to the next member.
                Some(router) => {
                    router
                        .convert_resubmitting_with(&request, &ctx.policy, &observe)
                        .await
                }
                None => match ctx.provider.submit(&request).await {
                    Ok(handle) => ctx.provider.wait_with(&handle, &ctx.policy, &observe).await,
                    Err(e) => Err(e),
                },
            },
        }
    };
    // Every handle a submission (a resumed one, a router's next member) creates reaches the
    // journal before the job can start.
    let converted = match &ctx.store {
        Some(store) => Journaled::scope(store.journal(&item.key), converted).await,
        None => converted.await,
    };
    drop(tx);
    if let Some(writer) = writer {
        let _ = writer.await;
    }
    let job = match converted {
        Ok(job) => job,
        Err(e) => return failed(&ctx, &item, report, e).await,
    };
    release(&ctx, &job.handle);
    report.provider = Some(job.handle.provider.clone());
    report.job_id = Some(job.handle.id.clone());
    report.cost = job.cost.as_ref().map(|c| c.amount);
    report.cost_unit = job.cost.as_ref().map(|c| c.unit.to_string());
    report.price = ctx.price_of(&job.handle.provider, report.cost);
    if job.status != JobStatus::Completed {
        let e = failed_job_error(&job.handle.provider, &job).with_job(job.handle.clone());
        if let Some(store) = &ctx.store {
            journal(store.record_handle(&item.key, &job.handle).await).await;
            if let Some(cost) = report.cost {
                journal(store.record_cost(&item.key, cost).await).await;
            }
            journal(store.record_status(&item.key, &job.status).await).await;
        }
        return failed(&ctx, &item, report, e).await;
    }
    line.set_message(format!("{name}: saving"));
    match save_outputs(&ctx, &item, &job, report.resumed).await {
        Ok(outputs) => report.outputs = outputs,
        Err(e) => return failed(&ctx, &item, report, e.with_job(job.handle.clone())).await,
    }
    if let Some(store) = &ctx.store {
        // The handle, cost, sizes and status in one commit: the journal's cost per file is what
        // bounds a batch of small files on a durable store.
        let sizes: Vec<(String, u64)> = report
            .outputs
            .iter()
            .filter_map(|o| Some((o["path"].as_str()?.to_owned(), o["size"].as_u64()?)))
            .collect();
        let recorded = store
            .record_completed(&item.key, &job.handle, report.cost, &sizes)
            .await;
        journal(recorded).await;
    }
    report
}

fn release(ctx: &Ctx, handle: &JobHandle) {
    if let Some(limited) = ctx.limited.get(&handle.provider) {
        limited.release(handle);
    }
}

/// Ends a file's report in failure: journaled as failed when a rerun would fail the same way,
/// else left (with the job's handle, when the error names one) for a rerun to take up.
async fn failed(ctx: &Ctx, item: &Item, mut report: Report, error: Error) -> Report {
    if let Some(handle) = error.job() {
        release(ctx, handle);
        report.provider = Some(handle.provider.clone());
        report.job_id = Some(handle.id.clone());
    }
    report.status = "failed";
    report.retry = !is_definitive(&error);
    if let Some(store) = &ctx.store {
        if report.retry {
            if let Some(handle) = error.job() {
                journal(store.record_handle(&item.key, handle).await).await;
            }
            // Left for a rerun: no other process of this run takes it up, none waits for it.
            journal(store.defer(&ctx.worker, &item.key).await).await;
        } else {
            journal(store.record_error(&item.key, &error.to_string()).await).await;
        }
    }
    report.error = Some(error);
    report
}

/// Saves every output under distinct names in the item's directory. On a resumed job, a path
/// the journal holds is this job's: one saved whole is kept, any other is replaced.
async fn save_outputs(
    ctx: &Ctx,
    item: &Item,
    job: &Job,
    resumed: bool,
) -> multiconvert_core::Result<Vec<Value>> {
    let dir = ctx.out.join(&item.subdir);
    let ours: HashMap<String, u64> = match (&ctx.store, resumed) {
        (Some(store), true) => store.outputs(&item.key).await?.into_iter().collect(),
        _ => HashMap::new(),
    };
    let names = multiconvert_core::distinct_filenames(&job.outputs);
    let mut saved = Vec::new();
    for (output, name) in job.outputs.iter().zip(names) {
        let path = dir.join(&name);
        let shown = path.display().to_string();
        let on_disk = std::fs::metadata(&path).ok().map(|m| m.len());
        let mut overwrite = ctx.overwrite;
        match (ours.get(&shown), on_disk) {
            (Some(&size), Some(len)) if size > 0 && size == len => {
                saved.push(json!({"path": shown, "filename": name, "size": size}));
                continue;
            }
            (Some(_), _) => overwrite = Overwrite::Replace,
            (None, Some(_)) if overwrite == Overwrite::Never => {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    job.handle.provider.clone(),
                    Operation::Save,
                    format!("{shown} already exists (see --on-conflict)"),
                ));
            }
            _ => {}
        }
        if let Some(store) = &ctx.store {
            // Marked as this job's before the download: a rerun may replace a partial save.
            if overwrite != Overwrite::Rename {
                store.record_output(&item.key, &shown, 0).await?;
            }
        }
        if resumed {
            // This worker holds the claim on a job a dead worker journaled: a partial file
            // beside the target is that worker's, never a live save's.
            let target = dir.join(multiconvert_core::safe_filename(&name));
            multiconvert_core::remove_partial_saves(&target).map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    job.handle.provider.clone(),
                    Operation::Save,
                    format!("could not sweep partial saves of {}: {e}", target.display()),
                )
            })?;
        }
        let options = SaveOptions::default().overwrite(overwrite).filename(name);
        let result = ctx.provider.save(output, &dir.join(""), &options).await?;
        let shown = result.path.display().to_string();
        saved.push(json!({
            "path": shown,
            "filename": result.path.file_name().map(|n| n.to_string_lossy().into_owned()),
            "size": result.size,
        }));
    }
    Ok(saved)
}

/// Per-provider limits: `--limit NAME=N`, and the local image provider at the machine's cores
/// unless told otherwise (its work is CPU-bound, in this process).
fn limit_for(args: &BatchArgs, name: &str) -> Option<usize> {
    args.limits
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, limit)| *limit)
        .or_else(|| {
            (name == multiconvert_local::NAME).then(|| {
                std::thread::available_parallelism()
                    .map(usize::from)
                    .unwrap_or(1)
            })
        })
}

/// Runs the batch; returns the exit code.
pub async fn run(args: BatchArgs) -> u8 {
    match run_inner(&args).await {
        Ok(code) => code,
        Err(e) => crate::report::fail(&e, args.json),
    }
}

async fn run_inner(args: &BatchArgs) -> multiconvert_core::Result<u8> {
    if args.concurrency == 0 {
        return Err(usage("--concurrency must be at least 1"));
    }
    tokio::fs::create_dir_all(&args.out)
        .await
        .map_err(|e| usage(format!("{}: {e}", args.out.display())))?;
    let (sources, root) = list_sources(&args.source, &args.out)?;
    let store = match args.state.as_deref() {
        Some("none") => None,
        Some(url) => Some(Store::open(url).await?),
        None => Some(Store::open(&args.out.join(DEFAULT_STATE_FILE).to_string_lossy()).await?),
    };

    if let Some(store) = &store {
        // Processes on one state share each vendor instance's request rate too.
        multiconvert_core::pace::share_through(Arc::new(store.clone()));
    }
    let mut limited = HashMap::new();
    let mut members = Vec::new();
    for member in crate::providers::members(args.provider)? {
        let name = member.info().name.to_string();
        match limit_for(args, &name) {
            Some(n) => {
                let wrapped = Arc::new(Limited::new(member, n));
                limited.insert(name, wrapped.clone());
                members.push(wrapped as Arc<dyn ConversionProvider>);
            }
            None => members.push(member),
        }
    }
    // Budgets are kept by the router, so a budgeted provider gets one even alone.
    let (provider, router): (Arc<dyn ConversionProvider>, _) =
        if members.len() == 1 && args.budgets.is_empty() {
            (members.remove(0), None)
        } else {
            let mut builder = Failover::builder().route(args.route.clone());
            for member in members {
                builder = builder.member(member);
            }
            for (name, budget) in &args.budgets {
                builder = builder.budget(name, *budget);
            }
            if let Some(store) = &store {
                builder = builder
                    .cooldowns(Arc::new(store.clone()))
                    .ledger(Arc::new(store.clone()));
            }
            let router = Arc::new(builder.build()?);
            (router.clone() as Arc<dyn ConversionProvider>, Some(router))
        };
    let mut conversion = Conversion::to(&args.to);
    if let Some(from) = &args.from {
        conversion = conversion.from(from);
    }
    for (key, value) in &args.options {
        conversion = conversion.option(key.clone(), value.clone());
    }
    let mut policy = provider.info().poll_policy;
    if let Some(secs) = args.timeout {
        policy = policy.with_deadline(Duration::from_secs(secs));
    }
    let worker = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
    let ctx = Arc::new(Ctx {
        worker: worker.clone(),
        provider,
        router,
        limited,
        store,
        conversion,
        out: args.out.clone(),
        overwrite: match args.on_conflict {
            OnConflict::Error => Overwrite::Never,
            OnConflict::Overwrite => Overwrite::Replace,
            OnConflict::Rename => Overwrite::Rename,
        },
        policy,
    });

    let batch = batch_id(args);
    let bars = Bars::new(args.json, sources.len() as u64);
    let mut reports = Vec::new();
    let mut items: HashMap<String, Item> = HashMap::new();
    let mut order = Vec::new();
    for (source, subdir) in sources {
        let item = Item {
            key: format!("mc-{}", &hex_digest(&[&batch, &source])[..40]),
            digest: digest_of(&source),
            source,
            subdir,
        };
        // A directory's files that no provider here converts to the target are left out; a
        // list file's are tried (and fail with the provider's reason).
        if root.is_some() {
            if let Some(reason) = ctx
                .provider
                .info()
                .capabilities
                .refusal(&request_for(&ctx, &item))
            {
                let mut report = Report::new(&item, "skipped");
                report.note = Some(format!("not convertible here: {reason}"));
                bars.report(&report);
                reports.push(report);
                continue;
            }
        }
        order.push(item.key.clone());
        items.insert(item.key.clone(), item);
    }

    let mut queue: Vec<(Item, Option<Entry>)> = Vec::new();
    if let Some(store) = &ctx.store {
        let submissions: Vec<Submission> = order
            .iter()
            .map(|key| {
                let item = &items[key];
                Submission::new(key.clone(), args_provider(args), &item.digest, &item.source)
                    .in_batch(&batch)
            })
            .collect();
        store.record_submissions(&submissions).await?;
        for entry in store.batch_entries(&batch).await? {
            let Some(item) = items.get(&entry.submission.key) else {
                continue;
            };
            let changed = entry.submission.digest != item.digest;
            let report = match entry.state {
                State::Done => Some(Report {
                    note: Some(if changed {
                        "changed since it was converted: use another --state to convert it again"
                            .into()
                    } else {
                        "converted by an earlier run".into()
                    }),
                    provider: entry.handle.as_ref().map(|h| h.provider.clone()),
                    job_id: entry.handle.as_ref().map(|h| h.id.clone()),
                    cost: entry.cost,
                    price: entry
                        .handle
                        .as_ref()
                        .and_then(|h| ctx.price_of(&h.provider, entry.cost)),
                    outputs: store
                        .outputs(&entry.submission.key)
                        .await?
                        .into_iter()
                        .map(|(path, size)| json!({"path": path, "size": size}))
                        .collect(),
                    ..Report::new(item, "skipped")
                }),
                State::Failed => Some(Report {
                    note: Some("failed in an earlier run".into()),
                    error: Some(usage(
                        entry
                            .error
                            .clone()
                            .unwrap_or_else(|| "the job failed".into()),
                    )),
                    ..Report::new(item, "failed")
                }),
                _ => None,
            };
            if let Some(report) = report {
                bars.report(&report);
                reports.push(report);
            }
        }
    } else {
        queue = order
            .iter()
            .rev()
            .map(|key| (items[key].clone(), None))
            .collect();
    }

    let lease = Duration::from_secs(args.lease.max(1));
    let heartbeat = ctx.store.clone().map(|store| {
        let worker = worker.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(lease / 3);
            loop {
                tick.tick().await;
                journal(store.renew(&worker).await).await;
            }
        })
    });
    let mut running: JoinSet<Report> = JoinSet::new();
    // Claimed ahead of a free slot: a claim is a durable write, so it takes up to a
    // concurrency's worth at once rather than one per finished file.
    let mut ready: std::collections::VecDeque<(Item, Option<Entry>)> = Default::default();
    loop {
        let free = args.concurrency.saturating_sub(running.len());
        if free > ready.len() {
            match &ctx.store {
                Some(store) => {
                    let want = (free - ready.len()).max(args.concurrency);
                    let want = u32::try_from(want).unwrap_or(u32::MAX);
                    for entry in store.claim(&batch, &worker, want, lease).await? {
                        let item = items
                            .get(&entry.submission.key)
                            .cloned()
                            .unwrap_or_else(|| {
                                // Listed by another process of the batch: its source says it all.
                                Item {
                                    subdir: root
                                        .as_deref()
                                        .and_then(|r| {
                                            Path::new(&entry.submission.source)
                                                .parent()?
                                                .strip_prefix(r)
                                                .ok()
                                        })
                                        .map(Path::to_path_buf)
                                        .unwrap_or_default(),
                                    source: entry.submission.source.clone(),
                                    key: entry.submission.key.clone(),
                                    digest: entry.submission.digest.clone(),
                                }
                            });
                        ready.push_back((item, Some(entry)));
                    }
                }
                None => {
                    while ready.len() < free {
                        let Some(next) = queue.pop() else { break };
                        ready.push_back(next);
                    }
                }
            }
        }
        let start = free.min(ready.len());
        for (item, entry) in ready.drain(..start) {
            let name = Path::new(&item.source)
                .file_name()
                .map_or_else(|| item.source.clone(), |n| n.to_string_lossy().into_owned());
            let line = bars.line(&name);
            let ctx = ctx.clone();
            running.spawn(async move {
                let report = process(ctx, item, entry, line.clone()).await;
                line.finish_and_clear();
                report
            });
        }
        if running.is_empty() {
            let others = match &ctx.store {
                Some(store) => store.remaining(&batch).await?,
                None => queue.len() as u64,
            };
            if others == 0 {
                break;
            }
            // Another worker holds the rest: wait for it to finish them, or for its claims to
            // go stale (it died) and take them over.
            tokio::time::sleep((lease / 4).min(Duration::from_millis(500))).await;
            continue;
        }
        tokio::select! {
            Some(done) = running.join_next() => {
                let report = done.unwrap_or_else(|e| {
                    let mut report = Report::new(&Item { source: "?".into(), subdir: PathBuf::new(), key: String::new(), digest: String::new() }, "failed");
                    report.error = Some(usage(format!("a file's task ended abnormally: {e}")));
                    report
                });
                bars.report(&report);
                reports.push(report);
            }
            // Fill freed slots with work that became claimable meanwhile.
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
    if let Some(heartbeat) = heartbeat {
        heartbeat.abort();
    }
    bars.overall.finish_and_clear();
    let writes = ctx.store.as_ref().map_or(0, Store::writes);
    Ok(summarise(&reports, writes, args.json))
}

fn args_provider(args: &BatchArgs) -> String {
    format!("{:?}", args.provider).to_ascii_lowercase()
}

/// Each provider's total cost in its unit (the unit this run saw, none for costs only the
/// journal knew) and at its price: `{name: {"amount", "unit", "price"}}`.
fn costs_by_provider(reports: &[Report]) -> BTreeMap<String, Value> {
    let mut totals: BTreeMap<String, (u64, Option<String>, Option<f64>)> = BTreeMap::new();
    for r in reports {
        let (Some(provider), Some(amount)) = (&r.provider, r.cost) else {
            continue;
        };
        let total = totals.entry(provider.clone()).or_default();
        total.0 += amount;
        if total.1.is_none() {
            total.1.clone_from(&r.cost_unit);
        }
        if let Some(price) = r.price {
            total.2 = Some(total.2.unwrap_or(0.0) + price);
        }
    }
    totals
        .into_iter()
        .map(|(name, (amount, unit, price))| {
            (
                name,
                json!({"amount": amount, "unit": unit, "price": price}),
            )
        })
        .collect()
}

/// Prints the summary and returns the exit code: 0 when no file failed; else the code the
/// failures share, or 1 when they differ. `writes`: the state's write statements this run sent.
fn summarise(reports: &[Report], writes: u64, json: bool) -> u8 {
    let count = |status: &str| reports.iter().filter(|r| r.status == status).count();
    let (done, failed, skipped) = (count("done"), count("failed"), count("skipped"));
    let retry = reports.iter().filter(|r| r.retry).count();
    let cost: u64 = reports.iter().filter_map(|r| r.cost).sum();
    let costs = costs_by_provider(reports);
    let prices: Vec<f64> = reports.iter().filter_map(|r| r.price).collect();
    let price = (!prices.is_empty()).then(|| prices.iter().sum::<f64>());
    if json {
        println!(
            "{}",
            json!({"summary": {
                "files": reports.len(), "done": done, "failed": failed, "skipped": skipped,
                "retry": retry, "cost": cost, "costs": costs, "price": price,
                "state_writes": writes,
            }})
        );
    } else {
        let spent: Vec<String> = costs
            .iter()
            .map(|(name, c)| match c["unit"].as_str() {
                Some(unit) => format!("{name} {} {unit}", c["amount"]),
                None => format!("{name} {}", c["amount"]),
            })
            .collect();
        let mut line = format!(
            "{done} done, {failed} failed, {skipped} skipped; cost {}",
            if spent.is_empty() {
                "0".to_owned()
            } else {
                spent.join(", ")
            }
        );
        if let Some(price) = price {
            line.push_str(&format!(" (price {price:.4})"));
        }
        if retry > 0 {
            line.push_str(&format!(
                " ({retry} left for a rerun with the same --state)"
            ));
        }
        println!("{line}");
    }
    let codes: BTreeSet<u8> = reports
        .iter()
        .filter_map(|r| r.error.as_ref().filter(|_| r.status == "failed"))
        .map(exit_code)
        .collect();
    match codes.len() {
        0 if failed == 0 => exit::OK,
        1 => codes.into_iter().next().unwrap_or(exit::OTHER),
        _ => exit::OTHER,
    }
}
