//! Progress of an upload, as data the request carries: an observer told of every chunk a provider
//! sends, and of a restart from zero when an attempt is retried.

use std::sync::Arc;

type ProgressFn = dyn Fn(ProgressEvent) + Send + Sync;

/// What a progress observer is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProgressEvent {
    /// An attempt starts from zero (a retry resends everything).
    Restart,
    /// This many more bytes went out.
    Advance(u64),
}

/// Observes upload progress: set it on a [`JobRequest`](crate::JobRequest) and providers report
/// every chunk they send (a progress bar, a metric).
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use multiconvert_core::upload::{Progress, ProgressEvent};
/// let sent = Arc::new(AtomicU64::new(0));
/// let counter = sent.clone();
/// let progress = Progress::new(move |event| match event {
///     ProgressEvent::Restart => counter.store(0, Ordering::Relaxed),
///     ProgressEvent::Advance(n) => { counter.fetch_add(n, Ordering::Relaxed); }
///     _ => {}
/// });
/// progress.advance(10);
/// assert_eq!(sent.load(Ordering::Relaxed), 10);
/// ```
#[derive(Clone)]
pub struct Progress(Arc<ProgressFn>);

impl Progress {
    /// An observer calling `f`.
    pub fn new(f: impl Fn(ProgressEvent) + Send + Sync + 'static) -> Self {
        Progress(Arc::new(f))
    }
    /// Reports `n` more bytes.
    pub fn advance(&self, n: u64) {
        (self.0)(ProgressEvent::Advance(n))
    }
    /// Reports a restart from zero.
    pub fn restart(&self) {
        (self.0)(ProgressEvent::Restart)
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress")
    }
}
