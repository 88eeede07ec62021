//! The provider.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use futures_util::StreamExt;
use image::ImageFormat;
use multiconvert_core::{
    ByteStream, Capabilities, ConversionProvider, Error, ErrorKind, FormatTable, InputSource, Job,
    JobHandle, JobMessage, JobRequest, JobStatus, Operation, Output, PollPolicy, ProviderInfo,
    Result, WebhookEvent, WebhookRequest,
};
use tokio::io::AsyncReadExt;

use crate::convert::{check_header, content_type, convert, format_of, sniff, Failure, Options};
use crate::store::{self, is_job_id, StoredJob, StoredOutput};
use crate::NAME;

const ALL: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "bmp", "tif", "tiff", "webp", "ico",
];

/// Every pair the provider converts: any of its formats to any other.
pub const FORMATS: FormatTable = &[
    ("png", ALL),
    ("jpg", ALL),
    ("jpeg", ALL),
    ("gif", ALL),
    ("bmp", ALL),
    ("tif", ALL),
    ("tiff", ALL),
    ("webp", ALL),
    ("ico", ALL),
];

/// Largest input read into memory (images are decoded in memory anyway).
const MAX_INPUT: u64 = 256 << 20;

/// The local image provider.
#[derive(Debug)]
pub struct Local {
    info: ProviderInfo,
    root: PathBuf,
}

fn error(kind: ErrorKind, op: Operation, message: impl Into<String>) -> Error {
    Error::new(kind, NAME, op, message)
}

fn io(op: Operation, what: &str, e: std::io::Error) -> Error {
    error(ErrorKind::Io, op, what.to_owned()).with_source(e)
}

/// One unit of work: an input's bytes to a target.
struct Task {
    bytes: Arc<Vec<u8>>,
    stem: String,
    target: ImageFormat,
    extension: String,
    options: Options,
}

impl Local {
    /// A provider keeping its jobs under `root` (created if missing).
    pub fn new(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root)
            .map_err(|e| io(Operation::Configure, "cannot create the job directory", e))?;
        let capabilities = Capabilities::new()
            .with_upload(true)
            .with_base64(true)
            .with_multiple_inputs(true)
            .with_multiple_conversions(true)
            .with_delete(true)
            .with_formats(FORMATS);
        // Conversions take milliseconds: poll briskly.
        let poll = PollPolicy::default()
            .with_initial_interval(std::time::Duration::from_millis(20))
            .with_min_interval(std::time::Duration::from_millis(20))
            .with_max_interval(std::time::Duration::from_millis(250))
            .with_factor(2.0);
        Ok(Local {
            info: ProviderInfo::new(NAME, capabilities, poll),
            root,
        })
    }

    /// Renames this instance (default `local`): the name handles, routers and webhook receivers
    /// know it by.
    pub fn with_name(mut self, name: &str) -> Result<Self> {
        let name = multiconvert_core::config::instance_name(NAME, name)?;
        self.info.name = name.into();
        Ok(self)
    }

    /// The provider with jobs under `MULTICONVERT_LOCAL_DIR`, else `<temp>/multiconvert-local`.
    pub fn from_env() -> Result<Self> {
        let root = std::env::var_os("MULTICONVERT_LOCAL_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("multiconvert-local"));
        Local::new(root)
    }

    /// Where jobs are kept.
    pub fn root(&self) -> &Path {
        &self.root
    }

    async fn read_input(input: &multiconvert_core::Input) -> Result<Vec<u8>> {
        let op = Operation::Submit;
        let too_big = || {
            error(
                ErrorKind::InvalidInput,
                op,
                format!("inputs larger than {MAX_INPUT} bytes are refused"),
            )
        };
        match &input.source {
            InputSource::Path(p) => {
                let meta = tokio::fs::metadata(p)
                    .await
                    .map_err(|e| io(op, &format!("cannot read {}", p.display()), e))?;
                if meta.len() > MAX_INPUT {
                    return Err(too_big());
                }
                tokio::fs::read(p)
                    .await
                    .map_err(|e| io(op, &format!("cannot read {}", p.display()), e))
            }
            InputSource::Bytes(b) => Ok(b.to_vec()),
            InputSource::Base64(data) => {
                let payload = data.rsplit_once("base64,").map_or(data.as_str(), |(_, d)| d);
                base64::engine::general_purpose::STANDARD
                    .decode(payload.trim())
                    .map_err(|_| error(ErrorKind::InvalidInput, op, "the base64 input does not decode"))
            }
            InputSource::Reader(r) => {
                if r.length > MAX_INPUT {
                    return Err(too_big());
                }
                let reader = r
                    .take()
                    .ok_or_else(|| error(ErrorKind::InvalidInput, op, "the reader input was already consumed"))?;
                let mut bytes = Vec::with_capacity(r.length as usize);
                reader
                    .take(r.length)
                    .read_to_end(&mut bytes)
                    .await
                    .map_err(|e| io(op, "cannot read the input", e))?;
                Ok(bytes)
            }
            _ => Err(error(
                ErrorKind::Unsupported,
                op,
                "the local provider converts local files, bytes and base64; it fetches nothing from the network",
            )),
        }
    }

    fn handle(&self, id: &str, op: Operation) -> Result<PathBuf> {
        if !is_job_id(id) {
            return Err(error(ErrorKind::NotFound, op, "no local job has this id"));
        }
        Ok(store::job_dir(&self.root, id))
    }
}

fn run(root: PathBuf, id: String, tasks: Vec<Task>) {
    let mut job = StoredJob {
        status: JobStatus::Processing,
        outputs: Vec::new(),
        messages: Vec::new(),
    };
    if store::write(&root, &id, &job).is_err() {
        return; // deleted before it started
    }
    let mut names = std::collections::BTreeSet::new();
    for task in tasks {
        match convert(&task.bytes, task.target, &task.options) {
            Ok(bytes) => {
                let mut filename = format!("{}.{}", task.stem, task.extension);
                let mut n = 1;
                while !names.insert(filename.clone()) {
                    filename = format!("{}-{n}.{}", task.stem, task.extension);
                    n += 1;
                }
                let path = store::job_dir(&root, &id).join(&filename);
                if let Err(e) = std::fs::write(&path, &bytes) {
                    job.messages.push(
                        JobMessage::error(format!("the output could not be written: {e}"))
                            .with_code("io"),
                    );
                    continue;
                }
                job.outputs.push(StoredOutput {
                    filename,
                    size: bytes.len() as u64,
                    content_type: content_type(task.target).to_owned(),
                });
            }
            Err(Failure::Input(m)) => job.messages.push(
                JobMessage::error(m)
                    .with_code("invalid_input")
                    .with_source("input", Some(task.stem.clone())),
            ),
            Err(Failure::Output(m)) => job
                .messages
                .push(JobMessage::error(m).with_code("conversion_failed")),
        }
    }
    job.status = if job.messages.is_empty() {
        JobStatus::Completed
    } else {
        JobStatus::Failed
    };
    if let Err(e) = store::write(&root, &id, &job) {
        tracing::debug!(job = %id, error = %e, "the local job was deleted while it ran");
    }
}

#[async_trait]
impl ConversionProvider for Local {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }

    async fn submit(&self, request: &JobRequest) -> Result<JobHandle> {
        let op = Operation::Submit;
        if request.inputs.is_empty() || request.conversions.is_empty() {
            return Err(error(
                ErrorKind::InvalidInput,
                op,
                "a job needs at least one input and one conversion",
            ));
        }
        if request.callback.is_some() {
            return Err(error(
                ErrorKind::Unsupported,
                op,
                "the local provider makes no callbacks",
            ));
        }
        let mut tasks = Vec::new();
        for (i, input) in request.inputs.iter().enumerate() {
            let bytes = Arc::new(Local::read_input(input).await?);
            let name = input
                .effective_filename()
                .unwrap_or_else(|| format!("input-{}", i + 1));
            let stem = multiconvert_core::safe_filename(
                name.rsplit_once('.').map_or(name.as_str(), |(s, _)| s),
            );
            let sniffed = sniff(&bytes);
            for conversion in &request.conversions {
                let source = conversion
                    .source_format
                    .clone()
                    .or_else(|| input.extension())
                    .or_else(|| {
                        sniffed.and_then(|f| f.extensions_str().first().map(|e| e.to_string()))
                    })
                    .ok_or_else(|| {
                        error(
                            ErrorKind::InvalidInput,
                            op,
                            format!("{name}: the source format is unknown"),
                        )
                    })?;
                let target = format_of(&conversion.target);
                let (Some(_), Some(target)) = (format_of(&source), target) else {
                    return Err(error(
                        ErrorKind::Unsupported,
                        op,
                        format!(
                            "the local provider does not convert {source} to {}: it converts between {}",
                            conversion.target,
                            ALL.join(", ")
                        ),
                    ));
                };
                check_header(&bytes).map_err(|m| {
                    error(
                        ErrorKind::InvalidInput,
                        op,
                        format!("{name} is not a readable {source} image: {m}"),
                    )
                })?;
                let options = Options::parse(&conversion.options, target)
                    .map_err(|m| error(ErrorKind::InvalidInput, op, m))?;
                tasks.push(Task {
                    bytes: bytes.clone(),
                    stem: stem.clone(),
                    target,
                    extension: conversion.target.to_ascii_lowercase(),
                    options,
                });
            }
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let dir = store::job_dir(&self.root, &id);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| io(op, "cannot create the job directory", e))?;
        let queued = StoredJob {
            status: JobStatus::Queued,
            outputs: Vec::new(),
            messages: Vec::new(),
        };
        store::write(&self.root, &id, &queued).map_err(|e| io(op, "cannot record the job", e))?;
        let root = self.root.clone();
        let job_id = id.clone();
        tokio::task::spawn_blocking(move || run(root, job_id, tasks));
        Ok(JobHandle::new(self.info.name.clone(), id))
    }

    async fn poll(&self, handle: &JobHandle) -> Result<Job> {
        let op = Operation::Poll;
        self.handle(&handle.id, op)?;
        let stored = store::read(&self.root, &handle.id)
            .map_err(|e| io(op, "cannot read the job", e))?
            .ok_or_else(|| {
                error(ErrorKind::NotFound, op, "no local job has this id")
                    .with_job_id(handle.id.clone())
            })?;
        // The caller's handle, with whatever it carries: only the status and files are read here.
        let mut job = Job::new(handle.clone(), stored.status);
        job.handle.provider = self.info.name.to_string();
        job.outputs = stored
            .outputs
            .into_iter()
            .map(|o| {
                let mut out = Output::stored(format!("{}/{}", handle.id, o.filename))
                    .with_filename(o.filename)
                    .with_size(o.size)
                    .with_content_type(o.content_type);
                out.url = None;
                out
            })
            .collect();
        job.messages = stored.messages;
        Ok(job)
    }

    fn webhook(&self, _: &WebhookRequest) -> Result<WebhookEvent> {
        Err(error(
            ErrorKind::WebhookRejected,
            Operation::Webhook,
            "the local provider makes no callbacks",
        ))
    }

    async fn delete(&self, handle: &JobHandle) -> Result<()> {
        let op = Operation::Delete;
        let dir = self.handle(&handle.id, op)?;
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(error(ErrorKind::NotFound, op, "no local job has this id")
                    .with_job_id(handle.id.clone()))
            }
            Err(e) => Err(io(op, "cannot delete the job", e)),
        }
    }

    async fn download(&self, output: &Output) -> Result<ByteStream> {
        let op = Operation::Download;
        let (job, file) = output
            .id
            .as_deref()
            .and_then(|id| id.split_once('/'))
            .filter(|(job, file)| is_job_id(job) && multiconvert_core::safe_filename(file) == *file)
            .ok_or_else(|| error(ErrorKind::NotFound, op, "not an output of a local job"))?;
        let path = store::job_dir(&self.root, job).join(file);
        let f = tokio::fs::File::open(&path).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                error(ErrorKind::NotFound, op, "the output is gone")
            } else {
                io(op, "cannot read the output", e)
            }
        })?;
        let len = f
            .metadata()
            .await
            .map_err(|e| io(op, "cannot read the output", e))?
            .len();
        let stream = tokio_util::io::ReaderStream::with_capacity(f, 64 * 1024)
            .map(|chunk| chunk.map_err(|e| io(Operation::Download, "cannot read the output", e)));
        Ok(ByteStream::new(
            stream,
            Some(len),
            output.content_type.clone(),
        ))
    }
}
