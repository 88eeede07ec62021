//! The provider.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use image::ImageFormat;
use multiconvert_core::disk_jobs::{DiskJobs, StoredJob};
use multiconvert_core::{
    ByteStream, Capabilities, ConversionProvider, Error, ErrorKind, FormatTable, Job, JobHandle,
    JobMessage, JobRequest, JobStatus, Operation, Output, PollPolicy, Price, ProviderInfo, Result,
    WebhookEvent, WebhookRequest,
};

use crate::convert::{
    check_header, content_type, convert, format_of, plan, sniff, Failure, HeaderError, Options,
};
use crate::limits::ImageLimits;
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
    jobs: DiskJobs,
    limits: ImageLimits,
}

fn error(kind: ErrorKind, op: Operation, message: impl Into<String>) -> Error {
    Error::new(kind, NAME, op, message)
}

/// One unit of work: an input's bytes to a target.
struct Task {
    bytes: Arc<Vec<u8>>,
    stem: String,
    target: ImageFormat,
    extension: String,
    options: Options,
    limits: ImageLimits,
}

impl Local {
    /// A provider keeping its jobs under `root` (created if missing), with the default
    /// [`ImageLimits`].
    pub fn new(root: impl Into<PathBuf>) -> Result<Self> {
        let jobs = DiskJobs::new(NAME, root)?;
        let capabilities = Capabilities::new()
            .with_upload(true)
            .with_base64(true)
            .with_multiple_inputs(true)
            .with_multiple_conversions(true)
            .with_delete(true)
            .with_formats(FORMATS);
        // Conversions take milliseconds and a poll is one small file read: poll briskly, or the
        // wait, not the work, bounds a batch (20 ms first polls held one at ~90 files/s).
        let poll = PollPolicy::default()
            .with_initial_interval(std::time::Duration::from_millis(2))
            .with_min_interval(std::time::Duration::from_millis(2))
            .with_max_interval(std::time::Duration::from_millis(250))
            .with_factor(1.5);
        Ok(Local {
            // In-process: it costs the caller nothing but the machine.
            info: ProviderInfo::new(NAME, capabilities, poll).with_price(Some(Price::FREE)),
            jobs,
            limits: ImageLimits::default(),
        })
    }

    /// Renames this instance (default `local`): the name handles, routers and webhook receivers
    /// know it by.
    pub fn with_name(mut self, name: &str) -> Result<Self> {
        let name = multiconvert_core::config::instance_name(NAME, name)?;
        self.jobs.rename(name.clone());
        self.info.name = name.into();
        Ok(self)
    }

    /// Sets the bounds every image is held to (see [`ImageLimits`]).
    pub fn with_limits(mut self, limits: ImageLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The bounds every image is held to.
    pub fn limits(&self) -> &ImageLimits {
        &self.limits
    }

    /// The provider with jobs under `MULTICONVERT_LOCAL_DIR`, else `<temp>/multiconvert-local`,
    /// and the limits of [`ImageLimits::from_env`].
    pub fn from_env() -> Result<Self> {
        let root = std::env::var_os("MULTICONVERT_LOCAL_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("multiconvert-local"));
        Ok(Local::new(root)?.with_limits(ImageLimits::from_env()?))
    }

    /// Where jobs are kept.
    pub fn root(&self) -> &Path {
        self.jobs.root()
    }
}

fn run(jobs: DiskJobs, id: String, dir: PathBuf, tasks: Vec<Task>) {
    let mut job = StoredJob::new(JobStatus::Processing);
    if jobs.record(&id, &job).is_err() {
        return; // deleted before it started
    }
    let mut names = std::collections::BTreeSet::new();
    for task in tasks {
        match convert(&task.bytes, task.target, &task.options, &task.limits) {
            Ok(bytes) => {
                let mut filename = format!("{}.{}", task.stem, task.extension);
                let mut n = 1;
                while !names.insert(filename.clone()) {
                    filename = format!("{}-{n}.{}", task.stem, task.extension);
                    n += 1;
                }
                if let Err(e) = std::fs::write(dir.join(&filename), &bytes) {
                    job.fail(
                        JobMessage::error(format!("the output could not be written: {e}"))
                            .with_code("io"),
                    );
                    continue;
                }
                let size = bytes.len() as u64;
                job.add_output(filename, size, content_type(task.target).to_owned());
            }
            Err(Failure::Input(m)) => job.fail(
                JobMessage::error(m)
                    .with_code("invalid_input")
                    .with_source("input", Some(task.stem.clone())),
            ),
            Err(Failure::Output(m)) => {
                job.fail(JobMessage::error(m).with_code("conversion_failed"))
            }
        }
    }
    job.finish();
    if let Err(e) = jobs.record(&id, &job) {
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
        self.jobs.check_request(request)?;
        let mut tasks = Vec::new();
        for (i, input) in request.inputs.iter().enumerate() {
            let bytes = Arc::new(self.jobs.read_input(input, MAX_INPUT).await?);
            let name = input
                .effective_filename()
                .unwrap_or_else(|| format!("input-{}", i + 1));
            let stem = multiconvert_core::safe_filename(
                name.rsplit_once('.').map_or(name.as_str(), |(s, _)| s),
            );
            let sniffed = sniff(&bytes);
            let mut header = None;
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
                // Read once per input (a GIF's frames are counted), on its first conversion.
                let header = match header {
                    Some(header) => header,
                    None => {
                        *header.insert(check_header(&bytes, &self.limits).map_err(|e| match e {
                            HeaderError::Unreadable(m) => error(
                                ErrorKind::InvalidInput,
                                op,
                                format!("{name} is not a readable {source} image: {m}"),
                            ),
                            HeaderError::OverLimit(o) => {
                                error(ErrorKind::InvalidInput, op, format!("{name}: {o}"))
                            }
                        })?)
                    }
                };
                let options = Options::parse(&conversion.options, target, &self.limits)
                    .map_err(|m| error(ErrorKind::InvalidInput, op, m))?;
                plan(&header, &options, &self.limits)
                    .map_err(|o| error(ErrorKind::InvalidInput, op, format!("{name}: {o}")))?;
                tasks.push(Task {
                    bytes: bytes.clone(),
                    stem: stem.clone(),
                    target,
                    extension: conversion.target.to_ascii_lowercase(),
                    options,
                    limits: self.limits,
                });
            }
        }
        let (id, dir) = self.jobs.create().await?;
        let handle = self.jobs.journal(&id).await?;
        let jobs = self.jobs.clone();
        tokio::task::spawn_blocking(move || run(jobs, id, dir, tasks));
        Ok(handle)
    }

    async fn resume(&self, handle: &JobHandle, request: &JobRequest) -> Result<JobHandle> {
        if self.jobs.ended(handle).await {
            return Ok(handle.clone());
        }
        let _ = self.jobs.delete(handle).await;
        self.submit(request).await
    }

    async fn poll(&self, handle: &JobHandle) -> Result<Job> {
        self.jobs.poll(handle).await
    }

    fn webhook(&self, _: &WebhookRequest) -> Result<WebhookEvent> {
        Err(error(
            ErrorKind::WebhookRejected,
            Operation::Webhook,
            "the local provider makes no callbacks",
        ))
    }

    async fn delete(&self, handle: &JobHandle) -> Result<()> {
        self.jobs.delete(handle).await
    }

    async fn download(&self, output: &Output) -> Result<ByteStream> {
        self.jobs.download(output).await
    }
}
