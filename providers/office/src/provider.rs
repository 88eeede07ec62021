//! The provider: documents converted by headless LibreOffice, jobs on disk like the local
//! provider's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use multiconvert_core::disk_jobs::{DiskJobs, StoredJob};
use multiconvert_core::{
    ByteStream, Capabilities, ConversionProvider, Error, ErrorKind, Job, JobHandle, JobMessage,
    JobRequest, JobStatus, Operation, Output, PollPolicy, Price, ProviderInfo, Result,
    WebhookEvent, WebhookRequest,
};
use tokio::sync::watch;

use crate::catalog::{content_type, convert_to, magic, Modules};
use crate::config::{find_soffice, Config, Engine};
use crate::inspect::{inspect, ArchiveLimits};
use crate::process::{convert, Bounds, Failure, Pool};
use crate::warm::{self, Warm};
use crate::NAME;

/// Office documents to PDF and between office formats, on headless LibreOffice.
///
/// One worker per core by default, each with its own LibreOffice profile (no profile-lock
/// contention, no macro ever runs). With the [warm engine](crate::Engine::Warm) (the default)
/// each worker keeps its LibreOffice running between conversions; each conversion has a deadline
/// after which the whole process tree is killed, and a crash or a hang fails that job alone. Jobs live on disk, so `status`
/// and `delete` work from another process; deleting a running job kills its conversion.
///
/// ```no_run
/// use multiconvert_core::{Conversion, ConversionProvider, Input, JobRequest, ProviderExt};
/// use multiconvert_office::{Config, Office};
/// # async fn run() -> multiconvert_core::Result<()> {
/// let office = Office::new(Config::from_env()?)?; // a Config error when LibreOffice is missing
/// let request = JobRequest::new(Input::path("report.docx"), Conversion::to("pdf"));
/// let job = office.convert(&request, &office.info().poll_policy).await?;
/// # let _ = job; Ok(()) }
/// ```
pub struct Office {
    info: ProviderInfo,
    jobs: DiskJobs,
    soffice: PathBuf,
    bounds: Bounds,
    max_input: u64,
    archive: ArchiveLimits,
    pool: Arc<Pool>,
    warm: Option<Arc<Warm>>,
    running: Arc<Mutex<HashMap<String, Running>>>,
    version: tokio::sync::OnceCell<Option<String>>,
}

impl std::fmt::Debug for Office {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Office")
            .field("name", &self.info.name)
            .field("soffice", &self.soffice)
            .field("bounds", &self.bounds)
            .field("max_input", &self.max_input)
            .field("warm", &self.warm.is_some())
            .field("archive", &self.archive)
            .finish_non_exhaustive()
    }
}

/// A job whose conversions are under way: how to cancel it, its task, and when it has ended.
struct Running {
    cancel: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// Turns true once the job's outcome is recorded; closed if its task ended without a word.
    ended: watch::Receiver<bool>,
}

/// One conversion of a job.
struct Task {
    input: PathBuf,
    source: String,
    target: String,
    stem: String,
}

impl Office {
    /// A provider on the LibreOffice `config` names or finds; a
    /// [`Config`](ErrorKind::Config) error saying how to install it when there is none.
    pub fn new(config: Config) -> Result<Self> {
        let soffice = find_soffice(config.soffice.as_deref())?;
        let name = match &config.name {
            Some(n) => multiconvert_core::config::instance_name(NAME, n)?,
            None => NAME.to_owned(),
        };
        let jobs = DiskJobs::new(name.clone(), config.root.join("jobs"))?;
        let capabilities = Capabilities::new()
            .with_upload(true)
            .with_base64(true)
            .with_multiple_inputs(true)
            .with_multiple_conversions(true)
            .with_delete(true)
            .with_formats(Modules::detect(&soffice).table());
        // A document takes a second or more: poll at a walk.
        let poll = PollPolicy::default()
            .with_initial_interval(Duration::from_millis(200))
            .with_min_interval(Duration::from_millis(100))
            .with_max_interval(Duration::from_secs(1))
            .with_factor(1.5)
            .with_deadline(config.deadline * 4);
        let warm = match config.engine {
            Engine::Warm => Some(Arc::new(
                Warm::new(
                    config.python.clone(),
                    soffice.clone(),
                    &config.root.join("profiles"),
                    config.concurrency,
                    config.recycling,
                    config.max_memory,
                )
                .map_err(|e| {
                    Error::new(
                        ErrorKind::Io,
                        NAME,
                        Operation::Other("setup"),
                        format!("cannot write the warm worker's helper: {e}"),
                    )
                })?,
            )),
            Engine::PerCall => None,
        };
        if let Some(warm) = warm.as_ref().filter(|_| config.warm_up) {
            // Under a runtime, the workers start now, ahead of the first job.
            warm.warm_up();
        }
        Ok(Office {
            // In-process: it costs the caller nothing but the machine.
            info: ProviderInfo::new(name, capabilities, poll).with_price(Some(Price::FREE)),
            jobs,
            pool: Arc::new(Pool::new(config.concurrency, config.root.join("profiles"))),
            warm,
            soffice,
            bounds: Bounds {
                deadline: config.deadline,
                max_memory: config.max_memory,
            },
            max_input: config.max_input,
            archive: config.archive,
            running: Arc::new(Mutex::new(HashMap::new())),
            version: tokio::sync::OnceCell::new(),
        })
    }

    /// The provider configured from the environment (see [`Config::from_env`]).
    pub fn from_env() -> Result<Self> {
        Office::new(Config::from_env()?)
    }

    /// The soffice binary in use.
    pub fn soffice(&self) -> &Path {
        &self.soffice
    }

    /// LibreOffice's version (`LibreOffice 7.4.7.2 …`), asked once; `None` when it does not say
    /// within 30 s.
    pub async fn version(&self) -> Option<String> {
        self.version
            .get_or_init(|| async {
                let mut command = tokio::process::Command::new(&self.soffice);
                command
                    .arg("--version")
                    .stdin(std::process::Stdio::null())
                    .kill_on_drop(true);
                let output = tokio::time::timeout(Duration::from_secs(30), command.output())
                    .await
                    .ok()?
                    .ok()?;
                String::from_utf8_lossy(&output.stdout)
                    .lines()
                    .map(str::trim)
                    .find(|l| !l.is_empty())
                    .map(str::to_owned)
            })
            .await
            .clone()
    }
}

impl Office {
    /// Checks that `bytes` are a `source` document within the archive limits (off the async
    /// threads: an OLE2 directory or a large central directory is a few milliseconds of work),
    /// and hands them back; a refusal is [`InvalidInput`](ErrorKind::InvalidInput) with the
    /// refusal's code.
    async fn inspect(&self, bytes: Vec<u8>, source: &str) -> Result<Vec<u8>> {
        let (limits, declared) = (self.archive, source.to_owned());
        let (bytes, verdict) = tokio::task::spawn_blocking(move || {
            let verdict = inspect(&bytes, &declared, &limits).map(|_| ());
            (bytes, verdict)
        })
        .await
        .map_err(|e| {
            self.jobs
                .error(
                    ErrorKind::Io,
                    Operation::Submit,
                    "the input check did not finish",
                )
                .with_source(e)
        })?;
        match verdict {
            Ok(()) => Ok(bytes),
            Err(refusal) => Err(self
                .jobs
                .error(
                    ErrorKind::InvalidInput,
                    Operation::Submit,
                    refusal.to_string(),
                )
                .with_provider_code(refusal.code())),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What running a job needs, shared by every job of a provider.
#[derive(Clone)]
struct Runner {
    jobs: DiskJobs,
    pool: Arc<Pool>,
    warm: Option<Arc<Warm>>,
    soffice: PathBuf,
    bounds: Bounds,
}

/// Runs a job's conversions, one worker each, and records the outcome.
async fn run(
    runner: Runner,
    id: String,
    dir: PathBuf,
    tasks: Vec<Task>,
    mut cancel: watch::Receiver<bool>,
) {
    let Runner {
        jobs,
        pool,
        warm,
        soffice,
        bounds,
    } = runner;
    let mut job = StoredJob::new(JobStatus::Processing);
    if jobs.record(&id, &job).is_err() {
        return;
    }
    let mut names = std::collections::BTreeSet::new();
    for (n, task) in tasks.into_iter().enumerate() {
        let outdir = dir.join(".work").join(format!("out-{n}"));
        if let Err(e) = tokio::fs::create_dir_all(&outdir).await {
            job.fail(
                JobMessage::error(format!("cannot create a work directory: {e}")).with_code("io"),
            );
            continue;
        }
        let worker = pool.acquire().await;
        let warmed = match (&warm, warm::filter(&task.source, &task.target)) {
            (Some(warm), Some(filter)) => {
                let output = outdir.join(format!("input.{}", task.target));
                warm.convert(
                    worker.slot(),
                    &task.input,
                    &output,
                    filter,
                    bounds,
                    &mut cancel,
                )
                .await
            }
            _ => None,
        };
        // A warm worker looks after its own LibreOffice and profile.
        let per_call = warmed.is_none();
        let converted = match warmed {
            Some(result) => result,
            None => {
                convert(
                    &soffice,
                    &worker,
                    &task.input,
                    &convert_to(&task.source, &task.target),
                    &outdir,
                    bounds,
                    &mut cancel,
                )
                .await
            }
        };
        let verified = match converted {
            Ok(()) => verify(&outdir, &task).await,
            Err(failure) => Err(failure),
        };
        match verified {
            Ok(produced) => {
                let mut filename = format!("{}.{}", task.stem, task.target);
                let mut k = 2;
                while !names.insert(filename.clone()) {
                    filename = format!("{}-{k}.{}", task.stem, task.target);
                    k += 1;
                }
                match tokio::fs::rename(&produced, dir.join(&filename)).await {
                    Ok(()) => {
                        let size = tokio::fs::metadata(dir.join(&filename))
                            .await
                            .map_or(0, |m| m.len());
                        job.add_output(filename, size, content_type(&task.target).to_owned());
                    }
                    Err(e) => job.fail(
                        JobMessage::error(format!("cannot keep the output: {e}")).with_code("io"),
                    ),
                }
            }
            Err(failure) => {
                tracing::warn!(provider = NAME, job = %id, code = failure.code(), "conversion failed");
                // A crashed or killed soffice may leave its profile locked or damaged.
                if per_call && !matches!(failure, Failure::Invalid(_) | Failure::NoOutput(_)) {
                    worker.reset().await;
                }
                job.fail(
                    JobMessage::error(failure.message())
                        .with_code(failure.code())
                        .with_source("conversion", Some(task.stem.clone())),
                );
                if failure == Failure::Canceled {
                    break;
                }
            }
        }
        drop(worker);
    }
    let _ = tokio::fs::remove_dir_all(dir.join(".work")).await;
    job.finish();
    if let Err(e) = jobs.record(&id, &job) {
        tracing::debug!(job = %id, error = %e, "the office job was deleted while it ran");
    }
}

/// The file soffice wrote for `task`: there, non-empty, and of the target's format (its first
/// bytes are read, not the whole file: an output can be large).
async fn verify(outdir: &Path, task: &Task) -> Result<PathBuf, Failure> {
    use tokio::io::AsyncReadExt;
    let expected = outdir.join(format!("input.{}", task.target));
    let no_output = || {
        Failure::NoOutput(format!(
            "LibreOffice wrote no {} file (it may not convert this {} file)",
            task.target, task.source
        ))
    };
    let file = tokio::fs::File::open(&expected)
        .await
        .map_err(|_| no_output())?;
    let magic = magic(&task.target).unwrap_or_default();
    let mut head = Vec::with_capacity(magic.len().max(1));
    // One byte past the magic at least, so an empty file is told apart.
    let wanted = magic.len().max(1) as u64;
    file.take(wanted)
        .read_to_end(&mut head)
        .await
        .map_err(|_| no_output())?;
    if head.is_empty() {
        return Err(Failure::Invalid("LibreOffice wrote an empty file".into()));
    }
    if !head.starts_with(magic) {
        return Err(Failure::Invalid(format!(
            "the file LibreOffice wrote is not a {} file",
            task.target
        )));
    }
    Ok(expected)
}

#[async_trait]
impl ConversionProvider for Office {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }

    async fn submit(&self, request: &JobRequest) -> Result<JobHandle> {
        let op = Operation::Submit;
        self.jobs.check_request(request)?;
        let mut planned = Vec::new();
        for (i, input) in request.inputs.iter().enumerate() {
            let name = input
                .effective_filename()
                .unwrap_or_else(|| format!("document-{}", i + 1));
            let stem = multiconvert_core::safe_filename(
                name.rsplit_once('.').map_or(name.as_str(), |(s, _)| s),
            );
            for conversion in &request.conversions {
                let source = conversion
                    .source_format
                    .clone()
                    .or_else(|| input.extension())
                    .ok_or_else(|| {
                        self.jobs.error(
                            ErrorKind::InvalidInput,
                            op,
                            format!("{name}: the source format is unknown"),
                        )
                    })?;
                let target = conversion.target.to_ascii_lowercase();
                if self.info.capabilities.supports(&source, &target) != Some(true) {
                    return Err(self.jobs.error(
                        ErrorKind::Unsupported,
                        op,
                        format!("the office provider does not convert {source} to {target}"),
                    ));
                }
                if !conversion.options.is_empty() {
                    return Err(self.jobs.error(
                        ErrorKind::InvalidInput,
                        op,
                        "the office provider takes no conversion options",
                    ));
                }
                planned.push((i, stem.clone(), source, target));
            }
        }
        // Every input read and checked against what it is declared as before a job exists:
        // LibreOffice never sees a file that is not what it says, nor a zip bomb.
        let mut inputs = Vec::with_capacity(request.inputs.len());
        for (i, input) in request.inputs.iter().enumerate() {
            let mut bytes = self.jobs.read_input(input, self.max_input).await?;
            let mut sources: Vec<&str> = planned
                .iter()
                .filter(|p| p.0 == i)
                .map(|p| p.2.as_str())
                .collect();
            sources.dedup();
            for source in sources {
                bytes = self.inspect(bytes, source).await?;
            }
            inputs.push(bytes);
        }
        let (id, dir) = self.jobs.create().await?;
        let handle = self.jobs.journal(&id).await?;
        // Each input in a private directory under the job, named so LibreOffice can tell its type.
        let mut folders = Vec::with_capacity(inputs.len());
        for i in 0..inputs.len() {
            let folder = dir.join(".work").join(format!("in-{i}"));
            tokio::fs::create_dir_all(&folder)
                .await
                .map_err(|e| self.jobs.io(op, "cannot create a work directory", e))?;
            folders.push(folder);
        }
        let mut tasks = Vec::new();
        for (i, stem, source, target) in planned {
            let (folder, bytes) = (&folders[i], &inputs[i]);
            let path = folder.join(format!("input.{source}"));
            if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
                tokio::fs::write(&path, bytes)
                    .await
                    .map_err(|e| self.jobs.io(op, "cannot write the input", e))?;
            }
            tasks.push(Task {
                input: path,
                source,
                target,
                stem,
            });
        }
        let (cancel_tx, cancel_rx) = watch::channel(false);
        let (ended_tx, ended) = watch::channel(false);
        lock(&self.running).insert(
            id.clone(),
            Running {
                cancel: cancel_tx,
                task: None,
                ended,
            },
        );
        let running = self.running.clone();
        let runner = Runner {
            jobs: self.jobs.clone(),
            pool: self.pool.clone(),
            warm: self.warm.clone(),
            soffice: self.soffice.clone(),
            bounds: self.bounds,
        };
        let job_id = id.clone();
        let task = tokio::spawn(async move {
            run(runner, job_id.clone(), dir, tasks, cancel_rx).await;
            lock(&running).remove(&job_id);
            let _ = ended_tx.send(true);
        });
        if let Some(entry) = lock(&self.running).get_mut(&id) {
            entry.task = Some(task);
        }
        Ok(handle)
    }

    async fn resume(&self, handle: &JobHandle, request: &JobRequest) -> Result<JobHandle> {
        if self.jobs.ended(handle).await {
            return Ok(handle.clone());
        }
        let _ = self.delete(handle).await;
        self.submit(request).await
    }

    async fn poll(&self, handle: &JobHandle) -> Result<Job> {
        self.jobs.poll(handle).await
    }

    /// Waits on the job's own task when it runs in this process, so a warm conversion of a few
    /// tens of milliseconds is seen as it ends, not at the next poll; `None` for a job this
    /// process is not running (another process's, or one already ended), which a poll answers.
    async fn wait_blocking(&self, handle: &JobHandle, within: Duration) -> Option<Result<Job>> {
        let mut ended = lock(&self.running).get(&handle.id)?.ended.clone();
        // A closed channel means the task is gone: the poll below tells how the job ended.
        let _ = tokio::time::timeout(within, ended.wait_for(|ended| *ended)).await;
        Some(self.poll(handle).await)
    }

    fn webhook(&self, _: &WebhookRequest) -> Result<WebhookEvent> {
        Err(self.jobs.error(
            ErrorKind::WebhookRejected,
            Operation::Webhook,
            "the office provider makes no callbacks",
        ))
    }

    /// Deletes the job; a conversion still running is killed first, and its task has ended
    /// (it writes into the job's directory) before the directory goes.
    async fn delete(&self, handle: &JobHandle) -> Result<()> {
        let running = lock(&self.running).remove(&handle.id);
        if let Some(running) = running {
            let _ = running.cancel.send(true);
            if let Some(task) = running.task {
                // Killing the process tree ends the task at once; never wait without bound.
                let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
            }
        }
        self.jobs.delete(handle).await
    }

    async fn download(&self, output: &Output) -> Result<ByteStream> {
        self.jobs.download(output).await
    }
}
