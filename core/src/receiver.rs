//! An axum `Router` that receives vendor callbacks, verifies what can be verified, confirms by
//! polling, drops duplicates and yields confirmed jobs as a stream (crate feature `axum`).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::any;
use axum::Router;
use tokio::sync::{mpsc, Semaphore};

use crate::callback::CallbackSigner;
use crate::error::ErrorKind;
use crate::model::{Job, WebhookRequest};
use crate::provider::{ConversionProvider, ProviderExt};
use crate::shared::{DeliveryLog, MemoryDeliveryLog};

const MAX_REMEMBERED: usize = 100_000;

/// The default [`WebhookReceiverBuilder::max_body`]: 256 KiB (a callback is a job's JSON).
pub const DEFAULT_MAX_BODY: usize = 256 << 10;
/// The default [`WebhookReceiverBuilder::max_pending`].
pub const DEFAULT_MAX_PENDING: usize = 64;

struct Shared {
    providers: HashMap<String, Arc<dyn ConversionProvider>>,
    signer: Option<CallbackSigner>,
    /// Replays seen by this process, before any vendor poll (a hint, never shared).
    deliveries: Mutex<HashSet<String>>,
    /// Jobs a confirming poll is under way for: a burst of callbacks for one job costs one poll.
    confirming: Mutex<HashSet<String>>,
    /// Jobs a confirming poll found unknown: a replayed forgery costs no second poll.
    unknown: Mutex<HashSet<String>>,
    /// Permits for confirming polls at once; with none left, a callback is answered 503 at once.
    pending: Semaphore,
    max_body: usize,
    /// Confirmed statuses, shared with every receiver that shares the log.
    confirmed: Arc<dyn DeliveryLog>,
    updates: mpsc::Sender<Job>,
}

/// Receives callbacks at `/{provider}` and `/{provider}/{token}`, where `{provider}` is the
/// instance name of a provider it was built with.
///
/// For each callback: the provider named in the path parses it (a vendor signature is checked
/// there); with a [`CallbackSigner`], the per-job token in the path must match the job, unless the
/// vendor's own signature was verified (a wrong token is refused either way); a delivery seen
/// before is acknowledged and dropped; the job is then **confirmed by polling the vendor** and
/// the confirmed job is sent to the stream once per status. A forged, badly tokened or unknown-job
/// callback gets a 4xx and changes nothing; a callback that cannot be confirmed now gets a 503 so
/// the vendor delivers it again.
///
/// Abuse is bounded: a body over [`max_body`](WebhookReceiverBuilder::max_body) is refused
/// (413) unread; at most [`max_pending`](WebhookReceiverBuilder::max_pending) confirming polls run
/// at once (a callback beyond them gets a 503 without any poll), concurrent callbacks for one job
/// share one poll, and a job a poll found unknown is refused again without polling. A burst of
/// forged callbacks therefore costs the vendor at most `max_pending` polls at a time and each
/// forged job id at most once.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use multiconvert_core::{CallbackSigner, ConversionProvider, receiver::WebhookReceiver};
/// # async fn run(oc: Arc<dyn ConversionProvider>) -> Result<(), Box<dyn std::error::Error>> {
/// let (receiver, mut updates) = WebhookReceiver::builder()
///     .provider(oc)
///     .signer(CallbackSigner::new("local-secret")?)
///     .build()?;
/// let app = axum::Router::new().nest("/hooks", receiver.router());
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// tokio::spawn(async move { axum::serve(listener, app).await });
/// while let Some(job) = updates.recv().await {
///     println!("{} is {}", job.handle.id, job.status);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct WebhookReceiver {
    shared: Arc<Shared>,
}

impl fmt::Debug for WebhookReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookReceiver")
            .field(
                "providers",
                &self.shared.providers.keys().collect::<Vec<_>>(),
            )
            .field("signed", &self.shared.signer.is_some())
            .finish()
    }
}

/// Builds a [`WebhookReceiver`].
#[derive(Default)]
pub struct WebhookReceiverBuilder {
    providers: Vec<Arc<dyn ConversionProvider>>,
    signer: Option<CallbackSigner>,
    capacity: Option<usize>,
    confirmed: Option<Arc<dyn DeliveryLog>>,
    max_body: Option<usize>,
    max_pending: Option<usize>,
}

impl fmt::Debug for WebhookReceiverBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookReceiverBuilder")
            .field("providers", &self.providers.len())
            .field("signer", &self.signer)
            .finish()
    }
}

impl WebhookReceiverBuilder {
    /// Accepts callbacks for `provider` at `/{its name}`.
    pub fn provider(mut self, provider: Arc<dyn ConversionProvider>) -> Self {
        self.providers.push(provider);
        self
    }
    /// Requires multiconvert's per-job token on callbacks the vendor did not sign.
    pub fn signer(mut self, signer: CallbackSigner) -> Self {
        self.signer = Some(signer);
        self
    }
    /// Shares which job statuses were confirmed with other receivers (other instances behind
    /// a load balancer): a status is sent to the stream by exactly one of them. The default is
    /// this process's memory; `multiconvert-store` gives a SQLite or PostgreSQL one.
    pub fn deliveries(mut self, log: Arc<dyn DeliveryLog>) -> Self {
        self.confirmed = Some(log);
        self
    }
    /// How many confirmed updates may wait unread (default 1024); when full, callbacks get a 503
    /// and the vendor delivers them again.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity.max(1));
        self
    }
    /// The largest callback body read, in bytes (default [`DEFAULT_MAX_BODY`]); a larger one
    /// gets a 413 and changes nothing.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = Some(bytes.max(1));
        self
    }
    /// How many callbacks may be confirming (polling the vendor) at once (default
    /// [`DEFAULT_MAX_PENDING`]); beyond that a callback gets a 503 at once and the vendor delivers
    /// it again later.
    pub fn max_pending(mut self, callbacks: usize) -> Self {
        self.max_pending = Some(callbacks.max(1));
        self
    }
    /// The receiver and the stream of confirmed jobs. Providers are told apart by their
    /// instance name ([`ProviderInfo::name`](crate::ProviderInfo::name), set in each vendor's
    /// configuration), so two accounts of one vendor mount side by side under their own names;
    /// two providers with one name are a [`Config`](ErrorKind::Config) error.
    pub fn build(self) -> crate::Result<(WebhookReceiver, WebhookUpdates)> {
        let mut providers = HashMap::new();
        for provider in self.providers {
            let name = provider.info().name.to_string();
            if providers.insert(name.clone(), provider).is_some() {
                return Err(crate::Error::config(
                    "receiver",
                    format!("two providers are named {name:?}: give each instance its own name"),
                ));
            }
        }
        let (tx, rx) = mpsc::channel(self.capacity.unwrap_or(1024));
        let shared = Arc::new(Shared {
            providers,
            signer: self.signer,
            deliveries: Mutex::new(HashSet::new()),
            confirming: Mutex::new(HashSet::new()),
            unknown: Mutex::new(HashSet::new()),
            pending: Semaphore::new(self.max_pending.unwrap_or(DEFAULT_MAX_PENDING)),
            max_body: self.max_body.unwrap_or(DEFAULT_MAX_BODY),
            confirmed: self
                .confirmed
                .unwrap_or_else(|| Arc::new(MemoryDeliveryLog::default())),
            updates: tx,
        });
        Ok((WebhookReceiver { shared }, WebhookUpdates { rx }))
    }
}

/// Confirmed job updates, in arrival order. A `Stream`, and [`recv`](Self::recv) for a loop.
#[derive(Debug)]
pub struct WebhookUpdates {
    rx: mpsc::Receiver<Job>,
}

impl WebhookUpdates {
    /// The next confirmed job; `None` once every receiver is gone.
    pub async fn recv(&mut self) -> Option<Job> {
        self.rx.recv().await
    }
}

impl futures_util::Stream for WebhookUpdates {
    type Item = Job;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Job>> {
        self.rx.poll_recv(cx)
    }
}

impl WebhookReceiver {
    /// A builder.
    pub fn builder() -> WebhookReceiverBuilder {
        WebhookReceiverBuilder::default()
    }

    /// The routes: `/{provider}` and `/{provider}/{token}`, any method. Nest it where the
    /// callback URLs point.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/{provider}", any(receive_untokened))
            .route("/{provider}/{token}", any(receive_tokened))
            .layer(DefaultBodyLimit::max(self.shared.max_body))
            .with_state(self.shared.clone())
    }
}

async fn receive_untokened(
    State(shared): State<Arc<Shared>>,
    Path(provider): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    receive(shared, provider, None, method, uri, headers, body).await
}

async fn receive_tokened(
    State(shared): State<Arc<Shared>>,
    Path((provider, token)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    receive(shared, provider, Some(token), method, uri, headers, body).await
}

/// Adds `key` to `set` (emptied once it holds [`MAX_REMEMBERED`], so it never grows without
/// bound); false when it was there already.
fn remember_in(set: &Mutex<HashSet<String>>, key: String) -> bool {
    let mut seen = set.lock().unwrap_or_else(|p| p.into_inner());
    if seen.len() >= MAX_REMEMBERED {
        seen.clear();
    }
    seen.insert(key)
}

fn forget_in(set: &Mutex<HashSet<String>>, key: &str) {
    set.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
}

fn contains(set: &Mutex<HashSet<String>>, key: &str) -> bool {
    set.lock().unwrap_or_else(|p| p.into_inner()).contains(key)
}

/// Holds a job's place among the jobs being confirmed; gives it up when dropped.
struct Confirming<'a> {
    shared: &'a Shared,
    job: String,
}

impl Drop for Confirming<'_> {
    fn drop(&mut self) {
        forget_in(&self.shared.confirming, &self.job);
    }
}

async fn receive(
    shared: Arc<Shared>,
    provider_name: String,
    token: Option<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let Some(provider) = shared.providers.get(&provider_name).cloned() else {
        return (StatusCode::NOT_FOUND, "unknown provider");
    };
    let target = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let request = WebhookRequest::new(method, target, headers, body);
    let event = match provider.webhook(&request) {
        Ok(event) => event,
        Err(e) => {
            tracing::warn!(provider = %provider_name, error = %e, "callback rejected");
            return (StatusCode::UNAUTHORIZED, "rejected");
        }
    };
    if let Some(signer) = &shared.signer {
        let token_ok = token
            .as_deref()
            .is_some_and(|t| signer.verify(t, &event.job_id));
        // A wrong token is refused outright; no token is acceptable only with a vendor signature.
        if !token_ok && (token.is_some() || !event.verified) {
            tracing::warn!(provider = %provider_name, job = %event.job_id, "callback token missing or wrong");
            return (StatusCode::UNAUTHORIZED, "bad token");
        }
    }
    let job_key = format!("{}:{}", event.provider, event.job_id);
    if contains(&shared.unknown, &job_key) {
        return (StatusCode::NOT_FOUND, "unknown job");
    }
    let delivery = format!("delivery:{}:{}", event.provider, event.dedupe_key);
    if !remember_in(&shared.deliveries, delivery.clone()) {
        return (StatusCode::OK, "duplicate");
    }
    // The bounds on confirming polls: one per job at a time, `max_pending` in all.
    let Ok(_permit) = shared.pending.try_acquire() else {
        forget_in(&shared.deliveries, &delivery);
        return (StatusCode::SERVICE_UNAVAILABLE, "busy");
    };
    if !remember_in(&shared.confirming, job_key.clone()) {
        forget_in(&shared.deliveries, &delivery);
        return (StatusCode::SERVICE_UNAVAILABLE, "busy");
    }
    let _confirming = Confirming {
        shared: &shared,
        job: job_key.clone(),
    };
    match provider.confirm(&event).await {
        Ok(job) => {
            let (name, id, status) = (
                event.provider.clone(),
                job.handle.id.clone(),
                job.status.as_str().to_owned(),
            );
            match shared.confirmed.first_delivery(&name, &id, &status).await {
                Ok(true) => {}
                Ok(false) => return (StatusCode::OK, "duplicate"),
                Err(e) => {
                    forget_in(&shared.deliveries, &delivery);
                    tracing::warn!(provider = %provider_name, error = %e, "the delivery log failed");
                    return (StatusCode::SERVICE_UNAVAILABLE, "try again");
                }
            }
            match shared.updates.try_send(job) {
                Ok(()) => (StatusCode::OK, "ok"),
                Err(mpsc::error::TrySendError::Full(_)) => {
                    forget_in(&shared.deliveries, &delivery);
                    let _ = shared.confirmed.forget_delivery(&name, &id, &status).await;
                    (StatusCode::SERVICE_UNAVAILABLE, "busy")
                }
                // Nobody listens any more: acknowledge so the vendor stops retrying.
                Err(mpsc::error::TrySendError::Closed(_)) => (StatusCode::OK, "ok"),
            }
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            forget_in(&shared.deliveries, &delivery);
            remember_in(&shared.unknown, job_key);
            (StatusCode::NOT_FOUND, "unknown job")
        }
        Err(e) => {
            forget_in(&shared.deliveries, &delivery);
            tracing::warn!(provider = %provider_name, error = %e, "could not confirm a callback");
            (StatusCode::SERVICE_UNAVAILABLE, "try again")
        }
    }
}
