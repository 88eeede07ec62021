//! Journaling as a provider wrapper: [`Journaled`] tells a [`SubmitJournal`] the handle of every
//! job a submission creates, before that job can start, so that a process killed at any later
//! moment leaves a handle another process can [`resume`](ConversionProvider::resume) instead of
//! submitting again.
//!
//! The journal is not part of the request (a request is data): the wrapper puts it in scope for
//! the submission it wraps, and a provider reports the handle with [`record_handle`] once the
//! job's id is known and before it sends anything that could start the conversion (online-convert
//! between its staged create and `process: true`, ConvertAPI before its submit with a JobId made
//! from the idempotency key, the in-process engines before their work is spawned). Around a
//! [`Failover`](crate::failover::Failover), every member's handle reaches the one journal.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use multiconvert_core::journal::{record_handle, Journaled, SubmitJournal};
//! use multiconvert_core::JobHandle;
//!
//! #[derive(Debug, Default)]
//! struct Notes(Mutex<Vec<String>>);
//!
//! #[multiconvert_core::async_trait]
//! impl SubmitJournal for Notes {
//!     async fn record_handle(&self, handle: &JobHandle) -> multiconvert_core::Result<()> {
//!         self.0.lock().unwrap().push(handle.id.clone());
//!         Ok(())
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let notes = Arc::new(Notes::default());
//! // What a provider does inside a journaled submission, once the job's id is known:
//! Journaled::scope(notes.clone(), async {
//!     record_handle(&JobHandle::new("acme", "job-1")).await
//! })
//! .await?;
//! // Outside any journaled submission, nobody listens:
//! record_handle(&JobHandle::new("acme", "job-2")).await?;
//! assert_eq!(*notes.0.lock().unwrap(), ["job-1"]);
//! # Ok::<(), multiconvert_core::Error>(())
//! # }).unwrap();
//! ```

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::capabilities::ProviderInfo;
use crate::error::Result;
use crate::handle::JobHandle;
use crate::model::{Job, JobRequest, Output, WebhookEvent, WebhookRequest};
use crate::provider::ConversionProvider;
use crate::stream::ByteStream;

/// A journal a submission reports to before it could start work at the vendor: told the job's
/// handle (with its id) before anything that starts a conversion is sent, and awaited, so that a
/// process killed at any later moment leaves a handle another process can
/// [`resume`](crate::ConversionProvider::resume) instead of submitting again.
///
/// Wrap the provider (or the router) in [`Journaled`] for the submission; the
/// `multiconvert-store` crate journals on SQLite or PostgreSQL. A failure to record stops the
/// submission before it starts anything.
#[async_trait]
pub trait SubmitJournal: Send + Sync + fmt::Debug {
    /// Records `handle`: the job may start converting once this returns.
    async fn record_handle(&self, handle: &JobHandle) -> Result<()>;
}

tokio::task_local! {
    /// The journal of the submission this task is running, set by [`Journaled`].
    static JOURNAL: Arc<dyn SubmitJournal>;
}

/// Tells the journal of the submission in progress, if any, about `handle`. Providers call it
/// once the job's id is known and before anything that could start the conversion is sent; an
/// error means the handle is not durable, and the submission must stop before starting work.
pub async fn record_handle(handle: &JobHandle) -> Result<()> {
    match JOURNAL.try_with(Arc::clone) {
        Ok(journal) => journal.record_handle(handle).await,
        Err(_) => Ok(()),
    }
}

/// Whether the submission in progress is journaled: a provider that could hold a request open
/// until the result, with a job id that answers only once it is done (ConvertAPI's semi-async
/// convert), submits asynchronously instead, so the job is resumable from the moment it is sent.
pub fn is_journaled() -> bool {
    JOURNAL.try_with(|_| ()).is_ok()
}

/// A provider whose submissions (and resumed submissions) report to a [`SubmitJournal`]; every
/// other operation passes through. One per journaled job: it is two `Arc`s.
///
/// ```no_run
/// use std::sync::Arc;
/// use multiconvert_core::journal::{Journaled, SubmitJournal};
/// use multiconvert_core::{ConversionProvider, Conversion, Input, JobRequest};
///
/// async fn submit(
///     provider: Arc<dyn ConversionProvider>,
///     journal: Arc<dyn SubmitJournal>,
/// ) -> multiconvert_core::Result<()> {
///     let request = JobRequest::new(Input::path("report.docx"), Conversion::to("pdf"))
///         .idempotency_key("report-2026-12");
///     let handle = Journaled::new(provider, journal).submit(&request).await?;
///     println!("{} is journaled as {}", request.idempotency_key.unwrap(), handle.id);
///     Ok(())
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Journaled {
    inner: Arc<dyn ConversionProvider>,
    journal: Arc<dyn SubmitJournal>,
}

impl Journaled {
    /// `inner`, its submissions reporting to `journal`.
    pub fn new(inner: Arc<dyn ConversionProvider>, journal: Arc<dyn SubmitJournal>) -> Self {
        Journaled { inner, journal }
    }

    /// Runs `work` with `journal` listening: every [`record_handle`] inside it reaches
    /// `journal`. What [`Journaled`] does around a submission, for code that drives a provider
    /// some other way.
    pub async fn scope<F: Future>(journal: Arc<dyn SubmitJournal>, work: F) -> F::Output {
        JOURNAL.scope(journal, work).await
    }
}

#[async_trait]
impl ConversionProvider for Journaled {
    fn info(&self) -> &ProviderInfo {
        self.inner.info()
    }

    async fn submit(&self, request: &JobRequest) -> Result<JobHandle> {
        Journaled::scope(self.journal.clone(), self.inner.submit(request)).await
    }

    async fn poll(&self, handle: &JobHandle) -> Result<Job> {
        self.inner.poll(handle).await
    }

    fn webhook(&self, request: &WebhookRequest) -> Result<WebhookEvent> {
        self.inner.webhook(request)
    }

    async fn delete(&self, handle: &JobHandle) -> Result<()> {
        self.inner.delete(handle).await
    }

    async fn resume(&self, handle: &JobHandle, request: &JobRequest) -> Result<JobHandle> {
        // A resume may submit again (the job never arrived): that submission is journaled too.
        Journaled::scope(self.journal.clone(), self.inner.resume(handle, request)).await
    }

    async fn wait_blocking(&self, handle: &JobHandle, within: Duration) -> Option<Result<Job>> {
        self.inner.wait_blocking(handle, within).await
    }

    async fn download(&self, output: &Output) -> Result<ByteStream> {
        self.inner.download(output).await
    }
}
