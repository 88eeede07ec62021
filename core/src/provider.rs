//! The `ConversionProvider` trait and what every provider gets for free.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;

use crate::capabilities::ProviderInfo;
use crate::download::{SaveOptions, Saved};
use crate::error::{Error, ErrorKind, Operation, Result};
use crate::model::{Job, JobHandle, JobRequest, JobStatus, Output, WebhookEvent, WebhookRequest};
use crate::poll::PollPolicy;

pub use crate::stream::ByteStream;

/// One conversion vendor behind one interface. `Arc<dyn ConversionProvider>` is the currency
/// everywhere: the router, the conformance suite and the CLI all take it.
///
/// Implementations translate the [model](crate::model) to their wire and back and leak nothing
/// vendor-specific upward. The shared behaviour — waiting, confirming webhooks, saving outputs —
/// comes from [`ProviderExt`], implemented for every provider.
#[async_trait]
pub trait ConversionProvider: Send + Sync + fmt::Debug {
    /// The provider's name, capabilities and default poll policy.
    fn info(&self) -> &ProviderInfo;

    /// Starts a job. Never creates two jobs for one call, even when it retries.
    async fn submit(&self, request: &JobRequest) -> Result<JobHandle>;

    /// Reads a job's current state. A failed job is `Ok(Job { status: Failed, .. })`.
    async fn poll(&self, handle: &JobHandle) -> Result<Job>;

    /// Turns an incoming callback into an event, verifying a signature where the vendor signs.
    /// A forged or malformed callback is a [`WebhookRejected`](ErrorKind::WebhookRejected) error.
    fn webhook(&self, request: &WebhookRequest) -> Result<WebhookEvent>;

    /// Deletes (or cancels) a job and its stored files.
    async fn delete(&self, handle: &JobHandle) -> Result<()>;

    /// Takes up a job that a [`SubmitJournal`](crate::journal::SubmitJournal) recorded for
    /// `request` in a process that has since ended (or lost its claim on it), and returns the
    /// handle to wait on: `handle` when the job exists at the vendor, else a submission of
    /// `request` (it never arrived: with the same idempotency key, nothing runs twice).
    ///
    /// The default polls `handle` and submits only on [`NotFound`](ErrorKind::NotFound).
    /// Providers override it where a recorded job can be half-built (a staged job whose inputs
    /// were still uploading) or dies with the process that ran it (in-process providers).
    async fn resume(&self, handle: &JobHandle, request: &JobRequest) -> Result<JobHandle> {
        match self.poll(handle).await {
            Ok(_) => Ok(handle.clone()),
            Err(e) if e.kind() == ErrorKind::NotFound => self.submit(request).await,
            Err(e) => Err(e),
        }
    }

    /// Waits for the job in **one request** where the vendor can hold a request open until a
    /// job ends (CloudConvert's sync host), giving up after `within`; `None`, the default,
    /// where it cannot. [`ProviderExt::wait`] asks this first and polls only when the answer is
    /// `None`, a job still running, or a request cut short (a proxy's idle timeout).
    async fn wait_blocking(&self, handle: &JobHandle, within: Duration) -> Option<Result<Job>> {
        let _ = (handle, within);
        None
    }

    /// Streams an output. The default is a plain `GET` of its URL that sends no secret.
    async fn download(&self, output: &Output) -> Result<ByteStream> {
        crate::http::default_download(&self.info().name, output).await
    }
}

/// What every provider shares, implemented for all of them (`dyn` included).
#[async_trait]
pub trait ProviderExt: ConversionProvider {
    /// Polls `handle` until the job is terminal or `policy`'s deadline passes. The first poll is
    /// immediate. Returns the terminal job (a failed job is `Ok`); past the deadline, a
    /// [`Timeout`](ErrorKind::Timeout) error carrying the last status and the job id. Dropping the
    /// future cancels the wait (the job keeps running at the vendor).
    async fn wait(&self, handle: &JobHandle, policy: &PollPolicy) -> Result<Job> {
        self.wait_with(handle, policy, &|_| {}).await
    }

    /// [`wait`](Self::wait), telling `observe` about every poll's answer (a progress display).
    async fn wait_with(
        &self,
        handle: &JobHandle,
        policy: &PollPolicy,
        observe: &(dyn for<'j> Fn(&'j Job) + Send + Sync),
    ) -> Result<Job> {
        let started = tokio::time::Instant::now();
        let deadline = started + policy.deadline;
        let mut intervals = policy.intervals();
        match self.wait_blocking(handle, policy.deadline).await {
            None => {}
            Some(Ok(job)) => {
                observe(&job);
                if job.status.is_terminal() {
                    return Ok(job);
                }
            }
            // Cut short or refused on the way: polling still knows how to wait.
            Some(Err(e)) if e.is_retryable() || e.kind() == ErrorKind::Timeout => {
                tracing::debug!(provider = %self.info().name, job = %handle.id, error = %e, "the blocking wait ended early: polling");
            }
            Some(Err(e)) => return Err(e),
        }
        loop {
            let job = self.poll(handle).await?;
            observe(&job);
            if job.status.is_terminal() {
                return Ok(job);
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    self.info().name.clone(),
                    Operation::Wait,
                    format!(
                        "the job did not finish within {}s",
                        policy.deadline.as_secs_f64()
                    ),
                )
                .with_job(handle.clone())
                .with_last_status(job.status));
            }
            let interval = intervals.next().unwrap_or(policy.max_interval);
            let pause = policy.pause(interval, now - started).min(deadline - now);
            tracing::trace!(provider = %self.info().name, job = %handle.id, status = %job.status, pause_ms = pause.as_millis() as u64, "waiting");
            tokio::time::sleep(pause).await;
        }
    }

    /// Submits `request` and waits for it. A job that ends failed or canceled is an error of kind
    /// [`ConversionFailed`](ErrorKind::ConversionFailed) carrying the vendor's first message.
    async fn convert(&self, request: &JobRequest, policy: &PollPolicy) -> Result<Job> {
        let handle = self.submit(request).await?;
        let job = self.wait(&handle, policy).await?;
        match job.status {
            JobStatus::Completed => Ok(job),
            _ => Err(failed_job_error(&self.info().name, &job)),
        }
    }

    /// Re-polls the vendor about the job an event names: an event is a hint, never proof.
    async fn confirm(&self, event: &WebhookEvent) -> Result<Job> {
        self.poll(&event.handle()).await
    }

    /// Streams `output` to `dest` (a directory, or a file path) as [`crate::download::save_stream`] does.
    async fn save(&self, output: &Output, dest: &Path, options: &SaveOptions) -> Result<Saved> {
        let name = self.info().name.clone();
        let stream = self.download(output).await?;
        crate::download::save_stream(&name, output, stream, dest, options).await
    }

    /// Saves every output of `job` into the directory `dir`, one after the other, under the
    /// names [`distinct_filenames`](crate::download::distinct_filenames) chooses (outputs that
    /// share a name do not collide); `options.filename` is ignored. Stops at the first failure;
    /// files saved before it stay.
    async fn save_all(&self, job: &Job, dir: &Path, options: &SaveOptions) -> Result<Vec<Saved>> {
        let names = crate::download::distinct_filenames(&job.outputs);
        let mut saved = Vec::with_capacity(names.len());
        for (output, name) in job.outputs.iter().zip(names) {
            let options = options.clone().filename(name);
            // A trailing separator makes `dir` a directory even before it exists.
            saved.push(self.save(output, &dir.join(""), &options).await?);
        }
        Ok(saved)
    }
}

impl<P: ConversionProvider + ?Sized> ProviderExt for P {}

/// The error `convert` returns for a job that ended failed or canceled.
pub fn failed_job_error(provider: &str, job: &Job) -> Error {
    let first = job.errors().next();
    let message = match first {
        Some(m) => m.text.clone(),
        None if job.status == JobStatus::Canceled => "the job was canceled".to_owned(),
        None => "the conversion failed".to_owned(),
    };
    let mut error = Error::new(
        ErrorKind::ConversionFailed,
        provider.to_owned(),
        Operation::Wait,
        message,
    )
    .with_job(job.handle.clone())
    .with_last_status(job.status.clone());
    if let Some(code) = first.and_then(|m| m.code.clone()) {
        error = error.with_provider_code(code);
    }
    error
}
