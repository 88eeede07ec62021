//! Providers that wrap providers: tracing, timeouts and concurrency limits, around any provider
//! or a router.
//!
//! Order relative to the retry loop: the retry loop lives *inside* each vendor provider's HTTP
//! client, so a wrapper sees one operation, retries included. [`WithTimeout`] therefore bounds
//! the whole operation (every attempt and backoff), and [`Traced`] records one span per
//! operation, however many requests it took. Put `WithTimeout` inside `Traced`
//! (`Traced::new(WithTimeout::new(p, …))`) to see timeouts in the trace; around a
//! [`Failover`](crate::failover::Failover), both apply to the router's whole decision.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tracing::Instrument;

use crate::capabilities::ProviderInfo;
use crate::error::{Delivery, Error, ErrorKind, Operation, Result};
use crate::model::{Job, JobHandle, JobRequest, Output, WebhookEvent, WebhookRequest};
use crate::provider::{ByteStream, ConversionProvider};

/// Records every operation as a `tracing` span (`multiconvert.<operation>`) with the provider,
/// the job id and the outcome. Secrets never appear: only ids, statuses and error kinds.
#[derive(Debug)]
pub struct Traced {
    inner: Arc<dyn ConversionProvider>,
}

impl Traced {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ConversionProvider>) -> Self {
        Traced { inner }
    }
}

fn outcome<T>(result: &Result<T>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(e) => e.kind().as_str(),
    }
}

#[async_trait]
impl ConversionProvider for Traced {
    fn info(&self) -> &ProviderInfo {
        self.inner.info()
    }

    async fn submit(&self, request: &JobRequest) -> Result<JobHandle> {
        let span = tracing::info_span!("multiconvert.submit", provider = %self.info().name, inputs = request.inputs.len());
        let result = self.inner.submit(request).instrument(span.clone()).await;
        span.in_scope(|| match &result {
            Ok(h) => tracing::info!(job = %h.id, owner = %h.provider, "submitted"),
            Err(e) => tracing::warn!(kind = %e.kind(), error = %e, "submit failed"),
        });
        result
    }

    async fn poll(&self, handle: &JobHandle) -> Result<Job> {
        let span = tracing::debug_span!("multiconvert.poll", provider = %handle.provider, job = %handle.id);
        let result = self.inner.poll(handle).instrument(span.clone()).await;
        span.in_scope(|| match &result {
            Ok(job) => tracing::debug!(status = %job.status, "polled"),
            Err(e) => tracing::warn!(kind = %e.kind(), error = %e, "poll failed"),
        });
        result
    }

    async fn wait_blocking(&self, handle: &JobHandle, within: Duration) -> Option<Result<Job>> {
        let span = tracing::debug_span!("multiconvert.wait_blocking", provider = %handle.provider, job = %handle.id);
        let result = self
            .inner
            .wait_blocking(handle, within)
            .instrument(span.clone())
            .await;
        span.in_scope(|| match &result {
            Some(Ok(job)) => tracing::debug!(status = %job.status, "waited"),
            Some(Err(e)) => tracing::warn!(kind = %e.kind(), error = %e, "blocking wait failed"),
            None => {}
        });
        result
    }

    async fn resume(&self, handle: &JobHandle, request: &JobRequest) -> Result<JobHandle> {
        let span = tracing::info_span!("multiconvert.resume", provider = %handle.provider, job = %handle.id);
        let result = self
            .inner
            .resume(handle, request)
            .instrument(span.clone())
            .await;
        span.in_scope(|| match &result {
            Ok(h) => tracing::info!(job = %h.id, resubmitted = h.id != handle.id, "resumed"),
            Err(e) => tracing::warn!(kind = %e.kind(), error = %e, "resume failed"),
        });
        result
    }

    fn webhook(&self, request: &WebhookRequest) -> Result<WebhookEvent> {
        let result = self.inner.webhook(request);
        match &result {
            Ok(ev) => {
                tracing::info!(provider = %ev.provider, job = %ev.job_id, verified = ev.verified, "webhook")
            }
            Err(e) => tracing::warn!(kind = %e.kind(), "webhook rejected"),
        }
        result
    }

    async fn delete(&self, handle: &JobHandle) -> Result<()> {
        let span = tracing::info_span!("multiconvert.delete", provider = %handle.provider, job = %handle.id);
        let result = self.inner.delete(handle).instrument(span.clone()).await;
        span.in_scope(|| tracing::info!(outcome = outcome(&result), "deleted"));
        result
    }

    async fn download(&self, output: &Output) -> Result<ByteStream> {
        let span = tracing::debug_span!("multiconvert.download", output = ?output.id);
        let result = self.inner.download(output).instrument(span.clone()).await;
        span.in_scope(|| tracing::debug!(outcome = outcome(&result), "download started"));
        result
    }
}

/// Per-operation deadlines around a provider, its retries included. A submit cut short may
/// have reached the vendor, so its timeout error is ambiguous (never failover-eligible).
#[derive(Debug)]
pub struct WithTimeout {
    inner: Arc<dyn ConversionProvider>,
    submit: Duration,
    other: Duration,
}

impl WithTimeout {
    /// Wraps `inner`: `submit` bounds a submit (uploads included), `other` every other call.
    pub fn new(inner: Arc<dyn ConversionProvider>, submit: Duration, other: Duration) -> Self {
        WithTimeout {
            inner,
            submit,
            other,
        }
    }

    async fn bound<T>(
        &self,
        limit: Duration,
        operation: Operation,
        future: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        match tokio::time::timeout(limit, future).await {
            Ok(result) => result,
            Err(_) => {
                let delivery = if operation == Operation::Submit {
                    Delivery::Ambiguous
                } else {
                    Delivery::Answered
                };
                Err(Error::new(
                    ErrorKind::Timeout,
                    self.inner.info().name.clone(),
                    operation,
                    format!("no answer within {}s", limit.as_secs_f64()),
                )
                .with_delivery(delivery))
            }
        }
    }
}

#[async_trait]
impl ConversionProvider for WithTimeout {
    fn info(&self) -> &ProviderInfo {
        self.inner.info()
    }
    async fn submit(&self, request: &JobRequest) -> Result<JobHandle> {
        self.bound(self.submit, Operation::Submit, self.inner.submit(request))
            .await
    }
    async fn poll(&self, handle: &JobHandle) -> Result<Job> {
        self.bound(self.other, Operation::Poll, self.inner.poll(handle))
            .await
    }
    /// Bounded by the wait it asks for, plus the other calls' timeout for the answer to arrive.
    async fn wait_blocking(&self, handle: &JobHandle, within: Duration) -> Option<Result<Job>> {
        let limit = within.saturating_add(self.other);
        match tokio::time::timeout(limit, self.inner.wait_blocking(handle, within)).await {
            Ok(answer) => answer,
            Err(_) => Some(Err(Error::new(
                ErrorKind::Timeout,
                self.inner.info().name.clone(),
                Operation::Wait,
                format!("no answer within {}s", limit.as_secs_f64()),
            ))),
        }
    }
    /// Bounded like a submit: a resume may submit.
    async fn resume(&self, handle: &JobHandle, request: &JobRequest) -> Result<JobHandle> {
        self.bound(
            self.submit,
            Operation::Submit,
            self.inner.resume(handle, request),
        )
        .await
    }
    fn webhook(&self, request: &WebhookRequest) -> Result<WebhookEvent> {
        self.inner.webhook(request)
    }
    async fn delete(&self, handle: &JobHandle) -> Result<()> {
        self.bound(self.other, Operation::Delete, self.inner.delete(handle))
            .await
    }
    /// Bounds the start of the download (the answer's headers); the body streams on its own
    /// download timeout.
    async fn download(&self, output: &Output) -> Result<ByteStream> {
        self.bound(self.other, Operation::Download, self.inner.download(output))
            .await
    }
}

/// At most `n` jobs at once at a provider (a vendor account's concurrency allowance, a machine's
/// cores): a submit (or resume) waits for a free slot, which its job holds until a poll sees the
/// job end, the job is deleted, or [`release`](Limited::release) gives it back. A submit that
/// fails frees its slot at once.
///
/// ```
/// use std::sync::Arc;
/// use multiconvert_core::{wrappers::Limited, ConversionProvider};
///
/// // Four jobs at a time at `vendor`, however many callers.
/// fn limited(vendor: Arc<dyn ConversionProvider>) -> Arc<Limited> {
///     Arc::new(Limited::new(vendor, 4))
/// }
/// ```
#[derive(Debug)]
pub struct Limited {
    inner: Arc<dyn ConversionProvider>,
    slots: Arc<tokio::sync::Semaphore>,
    held: Mutex<HashMap<String, tokio::sync::OwnedSemaphorePermit>>,
}

impl Limited {
    /// Wraps `inner` with `n` slots (at least one).
    pub fn new(inner: Arc<dyn ConversionProvider>, n: usize) -> Self {
        Limited {
            inner,
            slots: Arc::new(tokio::sync::Semaphore::new(n.max(1))),
            held: Mutex::new(HashMap::new()),
        }
    }

    /// Frees the slot of `handle`'s job (a caller that stops following a job before it ends).
    pub fn release(&self, handle: &JobHandle) {
        self.held().remove(&handle.id);
    }

    /// Slots free now.
    pub fn available(&self) -> usize {
        self.slots.available_permits()
    }

    fn held(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, tokio::sync::OwnedSemaphorePermit>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn in_slot(
        &self,
        start: impl std::future::Future<Output = Result<JobHandle>>,
    ) -> Result<JobHandle> {
        // The semaphore is never closed, so acquiring only waits.
        let permit = self.slots.clone().acquire_owned().await.map_err(|_| {
            Error::new(
                ErrorKind::Config,
                self.inner.info().name.clone(),
                Operation::Submit,
                "the provider's slots were closed",
            )
        })?;
        let handle = start.await?;
        self.held().insert(handle.id.clone(), permit);
        Ok(handle)
    }
}

#[async_trait]
impl ConversionProvider for Limited {
    fn info(&self) -> &ProviderInfo {
        self.inner.info()
    }
    async fn submit(&self, request: &JobRequest) -> Result<JobHandle> {
        self.in_slot(self.inner.submit(request)).await
    }
    async fn resume(&self, handle: &JobHandle, request: &JobRequest) -> Result<JobHandle> {
        let resumed = self.in_slot(self.inner.resume(handle, request)).await?;
        if resumed.id != handle.id {
            self.release(handle);
        }
        Ok(resumed)
    }
    async fn poll(&self, handle: &JobHandle) -> Result<Job> {
        let job = self.inner.poll(handle).await?;
        if job.status.is_terminal() {
            self.release(handle);
        }
        Ok(job)
    }
    async fn wait_blocking(&self, handle: &JobHandle, within: Duration) -> Option<Result<Job>> {
        let answer = self.inner.wait_blocking(handle, within).await;
        if matches!(&answer, Some(Ok(job)) if job.status.is_terminal()) {
            self.release(handle);
        }
        answer
    }
    fn webhook(&self, request: &WebhookRequest) -> Result<WebhookEvent> {
        self.inner.webhook(request)
    }
    async fn delete(&self, handle: &JobHandle) -> Result<()> {
        let result = self.inner.delete(handle).await;
        self.release(handle);
        result
    }
    async fn download(&self, output: &Output) -> Result<ByteStream> {
        self.inner.download(output).await
    }
}
