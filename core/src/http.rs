//! HTTP plumbing every vendor crate shares: one client pair, per-phase timeouts, and the single
//! retry loop of multiconvert.
//!
//! Two `reqwest` clients are built from one configuration: a *guarded* one that follows no
//! redirect, for every request that carries a secret (a redirect would carry custom `X-*` secret
//! headers to another host), and an *open* one that follows up to five redirects without a
//! `Referer`, for password-less downloads.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use backon::BackoffBuilder;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use http::{HeaderMap, StatusCode};
use tokio::time::Instant;

use crate::error::{Delivery, Error, ErrorKind, Operation, Result};
use crate::model::Output;
use crate::pace::RequestBudget;
use crate::stream::ByteStream;
use crate::tap::HttpTap;

/// Timeouts per phase of a request. None is unbounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// Establishing a connection.
    pub connect: Duration,
    /// A control-plane request, response body included.
    pub request: Duration,
    /// A request that uploads a file.
    pub upload: Duration,
    /// A download, body included.
    pub download: Duration,
    /// A download body that brings less than [`STALL_MIN_BYTES`] in any window this long is
    /// abandoned with a [`Timeout`](ErrorKind::Timeout) error, so a trickle (one byte a second)
    /// or a body that stops arriving ends long before [`download`](Self::download).
    pub stall: Duration,
}

/// What a download body must bring in each [`Timeouts::stall`] window (16 KiB: 546 bytes a
/// second over the default 30 s).
pub const STALL_MIN_BYTES: u64 = 16 << 10;

impl Default for Timeouts {
    /// 10 s to connect, 30 s per request, 30 min per upload or download, a download abandoned
    /// when it brings under 16 KiB in 30 s.
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(30),
            upload: Duration::from_secs(1800),
            download: Duration::from_secs(1800),
            stall: Duration::from_secs(30),
        }
    }
}

/// Which timeout applies to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// A control-plane request.
    Request,
    /// An upload.
    Upload,
    /// A download.
    Download,
}

impl Timeouts {
    /// The timeout of `phase`.
    pub fn of(&self, phase: Phase) -> Duration {
        match phase {
            Phase::Request => self.request,
            Phase::Upload => self.upload,
            Phase::Download => self.download,
        }
    }
}

/// When to try a request again: exponential backoff with jitter, `Retry-After` honoured up to a
/// cap, bounded by a number of attempts and a total deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = never retry).
    pub max_attempts: u32,
    /// The first backoff.
    pub initial_backoff: Duration,
    /// The largest backoff (before jitter).
    pub max_backoff: Duration,
    /// The longest `Retry-After` honoured; longer values are cut to this.
    pub max_retry_after: Duration,
    /// No retry starts once this much time has passed since the first attempt.
    pub total_deadline: Duration,
}

impl Default for RetryPolicy {
    /// 3 attempts, 0.5 s ×2 up to 8 s with jitter, `Retry-After` up to 120 s, 180 s in all.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(120),
            total_deadline: Duration::from_secs(180),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }
    /// Sets the number of attempts.
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }
    /// Sets the backoff range.
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }
    /// Sets the longest `Retry-After` honoured.
    pub fn with_max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }
    /// Sets the total deadline.
    pub fn with_total_deadline(mut self, deadline: Duration) -> Self {
        self.total_deadline = deadline;
        self
    }

    /// The jittered backoff delays between attempts: each in `[d, 2d)` for the exponential
    /// `d = initial · 2^n`, capped at `max_backoff` (backon's jitter).
    pub fn backoff(&self) -> impl Iterator<Item = Duration> {
        backon::ExponentialBuilder::default()
            .with_min_delay(self.initial_backoff)
            .with_max_delay(self.max_backoff)
            .with_factor(2.0)
            .with_jitter()
            .with_max_times(self.max_attempts.saturating_sub(1) as usize)
            .build()
    }

    /// The delay before the next attempt: the vendor's `Retry-After` (capped) when it sent one,
    /// else the next backoff step.
    pub fn delay(&self, retry_after: Option<Duration>, backoff: Option<Duration>) -> Duration {
        match retry_after {
            Some(after) => after.min(self.max_retry_after),
            None => backoff.unwrap_or(self.max_backoff),
        }
    }
}

/// Parses a `Retry-After` value: delta seconds (fractions tolerated) or an HTTP date, relative
/// to `now`. A date in the past is zero; garbage is `None`.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use multiconvert_core::http::parse_retry_after;
/// assert_eq!(parse_retry_after("7", SystemTime::now()), Some(Duration::from_secs(7)));
/// let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:30 GMT").unwrap();
/// assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), Some(Duration::from_secs(7)));
/// assert_eq!(parse_retry_after("soon", now), None);
/// ```
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(1e9)));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The `Retry-After` of a response, if any and valid.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()))
}

/// How safe a request is to send again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replay {
    /// Reading or deleting: safe to resend after throttling, server errors and timeouts.
    Idempotent,
    /// Could create a job, but carries a key the vendor deduplicates on: as safe as idempotent.
    Keyed,
    /// Could create a job and nothing deduplicates it: resent only after a refusal that proves
    /// nothing started (429 / throttling) or a failure before anything was sent.
    CreatesJob,
    /// Its body is a one-shot stream: never resent.
    OneShot,
}

impl Replay {
    /// Whether a failure of `kind`, after a request that was `delivery`, may be retried.
    pub fn permits(self, kind: ErrorKind, delivery: Delivery) -> bool {
        match self {
            Replay::OneShot => false,
            Replay::Idempotent | Replay::Keyed => kind.is_transient(),
            Replay::CreatesJob => kind == ErrorKind::RateLimited || delivery == Delivery::NotSent,
        }
    }
}

/// Classifies a response status for the retry loop: `Some(kind)` when it is a transient failure
/// of that kind, `None` when it is an answer to hand back. Vendors with other conventions (a 503
/// that means "throttled") pass their own.
pub type StatusClassifier = fn(StatusCode, &HeaderMap) -> Option<ErrorKind>;

/// The default: 429 is throttling; 500, 502, 503, 504 are transient server failures.
pub fn default_classifier(status: StatusCode, _headers: &HeaderMap) -> Option<ErrorKind> {
    match status.as_u16() {
        429 => Some(ErrorKind::RateLimited),
        500 | 502 | 503 | 504 => Some(ErrorKind::Transport),
        _ => None,
    }
}

/// What the retry loop needs to know about one request.
#[derive(Clone, Copy, Debug)]
pub struct RequestSpec {
    operation: Operation,
    replay: Replay,
    secret: bool,
    phase: Phase,
    timeout: Option<Duration>,
    classify: StatusClassifier,
}

impl RequestSpec {
    /// An idempotent, secret-bearing control-plane request (the common case).
    pub fn new(operation: Operation) -> Self {
        RequestSpec {
            operation,
            replay: Replay::Idempotent,
            secret: true,
            phase: Phase::Request,
            timeout: None,
            classify: default_classifier,
        }
    }
    /// Sets how safe the request is to resend.
    pub fn replay(mut self, replay: Replay) -> Self {
        self.replay = replay;
        self
    }
    /// Marks whether the request carries a secret (then no redirect is ever followed).
    pub fn secret(mut self, secret: bool) -> Self {
        self.secret = secret;
        self
    }
    /// Sets which timeout applies.
    pub fn phase(mut self, phase: Phase) -> Self {
        self.phase = phase;
        self
    }
    /// Overrides the phase's timeout for this request (a synchronous conversion that may take
    /// as long as the vendor's own conversion timeout, say).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
    /// Replaces the status classifier.
    pub fn classify(mut self, classify: StatusClassifier) -> Self {
        self.classify = classify;
        self
    }
    /// The operation this request serves.
    pub fn operation(&self) -> Operation {
        self.operation
    }
}

type ClientFactory = Arc<dyn Fn() -> reqwest::ClientBuilder + Send + Sync>;

/// Configuration of a provider's HTTP client.
#[derive(Clone)]
#[non_exhaustive]
pub struct HttpConfig {
    /// Timeouts per phase.
    pub timeouts: Timeouts,
    /// Retries.
    pub retry: RetryPolicy,
    /// The `User-Agent`.
    pub user_agent: String,
    client_builder: Option<ClientFactory>,
    tap: Option<Arc<dyn HttpTap>>,
    budget: Option<RequestBudget>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            timeouts: Timeouts::default(),
            retry: RetryPolicy::default(),
            user_agent: concat!("multiconvert/", env!("CARGO_PKG_VERSION")).to_owned(),
            client_builder: None,
            tap: None,
            budget: None,
        }
    }
}

impl fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpConfig")
            .field("timeouts", &self.timeouts)
            .field("retry", &self.retry)
            .field("user_agent", &self.user_agent)
            .field("custom_client", &self.client_builder.is_some())
            .field("tapped", &self.tap.is_some())
            .field("budget", &self.budget.as_ref().map(RequestBudget::rate))
            .finish()
    }
}

impl HttpConfig {
    /// Sets the timeouts.
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }
    /// Sets the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }
    /// Starts every client from the caller's builder (proxies, root certificates, local address).
    /// multiconvert still sets the redirect policy, connect timeout and user agent on top, so a
    /// secret never follows a redirect whatever the builder says.
    ///
    /// ```
    /// use multiconvert_core::http::HttpConfig;
    /// let config = HttpConfig::default().with_client_builder(|| reqwest::Client::builder().no_proxy());
    /// # let _ = config;
    /// ```
    pub fn with_client_builder(
        mut self,
        factory: impl Fn() -> reqwest::ClientBuilder + Send + Sync + 'static,
    ) -> Self {
        self.client_builder = Some(Arc::new(factory));
        self
    }
    /// Hands every exchange of the client to `tap` (record mode, the live contract check).
    /// Response bodies are then buffered whole before the provider reads them: see
    /// [`tap`](crate::tap).
    pub fn with_tap(mut self, tap: Arc<dyn HttpTap>) -> Self {
        self.tap = Some(tap);
        self
    }
    /// Sends every request (each attempt of it) within `budget`, shared with every other client
    /// given the same budget; a `429` pauses them all for its `Retry-After` (see
    /// [`pace`](crate::pace)).
    pub fn with_budget(mut self, budget: RequestBudget) -> Self {
        self.budget = Some(budget);
        self
    }
    /// The request budget, if any.
    pub fn budget(&self) -> Option<&RequestBudget> {
        self.budget.as_ref()
    }
}

/// How long a `429` without `Retry-After` holds the instance's budget back.
const RATE_LIMITED_PAUSE: Duration = Duration::from_secs(1);

/// A provider's HTTP client: the retry loop and the guarded/open client pair.
#[derive(Clone)]
pub struct HttpClient {
    provider: Cow<'static, str>,
    config: HttpConfig,
    guarded: reqwest::Client,
    open: reqwest::Client,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("provider", &self.provider)
            .field("config", &self.config)
            .finish()
    }
}

impl HttpClient {
    /// Builds the client pair for `provider`.
    pub fn new(provider: impl Into<Cow<'static, str>>, config: HttpConfig) -> Result<Self> {
        install_crypto_provider();
        let provider = provider.into();
        let build = |redirect: reqwest::redirect::Policy| {
            let base = match &config.client_builder {
                Some(factory) => factory(),
                None => reqwest::Client::builder(),
            };
            base.redirect(redirect)
                .referer(false)
                .connect_timeout(config.timeouts.connect)
                .user_agent(config.user_agent.clone())
                .build()
                .map_err(|e| {
                    Error::config(provider.clone(), "could not build the HTTP client")
                        .with_source(e.without_url())
                })
        };
        Ok(HttpClient {
            guarded: build(reqwest::redirect::Policy::none())?,
            open: build(reqwest::redirect::Policy::custom(open_redirect))?,
            provider,
            config,
        })
    }

    /// The provider name errors carry.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The configuration.
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// Sends a request built by `build`, retrying as `spec` and the [`RetryPolicy`] allow.
    ///
    /// `build` is called once per attempt so that bodies can be rebuilt (a file reopened, a
    /// multipart form recreated). The result is the vendor's answer whatever its status — the
    /// caller's `parse_error` turns a 4xx/5xx into an [`Error`] — or a transport error once
    /// retries are exhausted or not permitted.
    pub async fn send<F>(&self, spec: RequestSpec, mut build: F) -> Result<reqwest::Response>
    where
        F: FnMut(&reqwest::Client) -> Result<reqwest::RequestBuilder> + Send,
    {
        let started = Instant::now();
        let retry = self.config.retry;
        let mut backoff = retry.backoff();
        let mut attempt = 1u32;
        let client = if spec.secret {
            &self.guarded
        } else {
            &self.open
        };
        loop {
            let timeout = spec
                .timeout
                .unwrap_or_else(|| self.config.timeouts.of(spec.phase));
            let request = build(client)?.timeout(timeout);
            if let Some(budget) = &self.config.budget {
                budget.acquire().await;
            }
            let outcome = match &self.config.tap {
                None => request.send().await,
                Some(tap) => crate::tap::send(client, request, tap.as_ref()).await,
            };
            let verdict = match &outcome {
                Ok(response) => (spec.classify)(response.status(), response.headers())
                    .map(|kind| (kind, Delivery::Answered, retry_after(response.headers()))),
                Err(e) => {
                    let kind = if e.is_timeout() {
                        ErrorKind::Timeout
                    } else {
                        ErrorKind::Transport
                    };
                    Some((kind, delivery_of(e), None))
                }
            };
            if let (Some(budget), Some((ErrorKind::RateLimited, Delivery::Answered, after))) =
                (&self.config.budget, &verdict)
            {
                // The vendor's limit is the account's: every request of the instance waits.
                budget.pause(after.unwrap_or(RATE_LIMITED_PAUSE)).await;
            }
            let Some((kind, delivery, after)) = verdict else {
                // A delete sent again after an attempt that may have done it, now answered "not
                // found", found its own work: the job is gone, as asked.
                if attempt > 1
                    && spec.operation == Operation::Delete
                    && matches!(&outcome, Ok(r) if r.status() == StatusCode::NOT_FOUND)
                {
                    tracing::debug!(provider = %self.provider, attempt, "a retried delete found the job gone");
                    let mut gone = http::Response::new(Vec::<u8>::new());
                    *gone.status_mut() = StatusCode::NO_CONTENT;
                    return Ok(reqwest::Response::from(gone));
                }
                return outcome.map_err(|e| self.transport_error(spec.operation, e));
            };
            let delay = retry.delay(after, backoff.next());
            let permitted = spec.replay.permits(kind, delivery)
                && attempt < retry.max_attempts
                && started.elapsed() + delay <= retry.total_deadline;
            if !permitted {
                return outcome.map_err(|e| self.transport_error(spec.operation, e));
            }
            tracing::debug!(
                provider = %self.provider,
                operation = %spec.operation,
                attempt,
                kind = %kind,
                delay_ms = delay.as_millis() as u64,
                "retrying"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// Turns a `reqwest` error into a transport or timeout error without its URL.
    pub fn transport_error(&self, operation: Operation, e: reqwest::Error) -> Error {
        let delivery = delivery_of(&e);
        let (kind, message) = if e.is_timeout() {
            (ErrorKind::Timeout, "the request timed out")
        } else if e.is_connect() {
            (ErrorKind::Transport, "could not connect")
        } else if e.is_redirect() {
            let refused = std::error::Error::source(&e)
                .and_then(|s| s.downcast_ref::<RedirectRefused>())
                .map_or("too many redirects", |r| r.0);
            (ErrorKind::Protocol, refused)
        } else if e.is_body() || e.is_decode() {
            (
                ErrorKind::Transport,
                "the connection failed while transferring the body",
            )
        } else {
            (ErrorKind::Transport, "the request failed")
        };
        Error::new(kind, self.provider.clone(), operation, message)
            .with_delivery(delivery)
            .with_source(e.without_url())
    }

    /// Reads a whole response body, refusing more than `limit` bytes.
    pub async fn read_body(
        &self,
        operation: Operation,
        response: reqwest::Response,
        limit: usize,
    ) -> Result<(StatusCode, HeaderMap, Bytes)> {
        let status = response.status();
        let headers = response.headers().clone();
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(Error::new(
                ErrorKind::Protocol,
                self.provider.clone(),
                operation,
                format!("the response body is larger than {limit} bytes"),
            )
            .with_http_status(status.as_u16()));
        }
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.transport_error(operation, e))?;
            if body.len() + chunk.len() > limit {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    self.provider.clone(),
                    operation,
                    format!("the response body is larger than {limit} bytes"),
                )
                .with_http_status(status.as_u16()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, headers, Bytes::from(body)))
    }

    /// Streams `url` with `GET`. `headers` are extra request headers; when `secret` is true no
    /// redirect is followed (pass true whenever a header carries a password). A non-2xx status is
    /// an error of the status's kind.
    pub async fn download(
        &self,
        url: &str,
        headers: HeaderMap,
        secret: bool,
    ) -> Result<ByteStream> {
        let parsed = url::Url::parse(url).map_err(|_| {
            Error::new(
                ErrorKind::Protocol,
                self.provider.clone(),
                Operation::Download,
                "the output URL is not a valid URL",
            )
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::new(
                ErrorKind::Protocol,
                self.provider.clone(),
                Operation::Download,
                format!("refusing to download from a {} URL", parsed.scheme()),
            ));
        }
        let spec = RequestSpec::new(Operation::Download)
            .secret(secret)
            .phase(Phase::Download);
        let response = self
            .send(spec, |client| {
                Ok(client.get(parsed.clone()).headers(headers.clone()))
            })
            .await?;
        let status = response.status();
        if !status.is_success() {
            let (status, headers, body) = self
                .read_body(Operation::Download, response, 64 * 1024)
                .await?;
            return Err(self.status_error(Operation::Download, status, &headers, &body, None));
        }
        let content_length = response.content_length();
        let content_type = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let this = self.clone();
        let stream = response
            .bytes_stream()
            .map_err(move |e| this.transport_error(Operation::Download, e));
        let window = self.config.timeouts.stall;
        let provider = self.provider.clone();
        let stream = stall_guarded(stream, window, STALL_MIN_BYTES, move || {
            Error::new(
                ErrorKind::Timeout,
                provider.clone(),
                Operation::Download,
                format!(
                    "the download stalled: under {STALL_MIN_BYTES} bytes in {} s",
                    window.as_secs_f64()
                ),
            )
            .with_delivery(Delivery::Answered)
        });
        Ok(ByteStream::new(stream, content_length, content_type))
    }

    /// An error for a non-success HTTP answer, by the generic status mapping, carrying status,
    /// `Retry-After`, `X-Request-Id` and a redacted body excerpt. `message` overrides the
    /// default text (the status reason).
    pub fn status_error(
        &self,
        operation: Operation,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        message: Option<String>,
    ) -> Error {
        status_error(
            self.provider.clone(),
            operation,
            ErrorKind::from_http_status(status.as_u16()),
            status,
            headers,
            body,
            message,
        )
    }
}

/// An error of `kind` for a non-success HTTP answer, carrying status, `Retry-After`,
/// `X-Request-Id` and a redacted body excerpt.
pub fn status_error(
    provider: impl Into<Cow<'static, str>>,
    operation: Operation,
    kind: ErrorKind,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    message: Option<String>,
) -> Error {
    let message = message.unwrap_or_else(|| {
        format!(
            "the server answered {}",
            status.canonical_reason().unwrap_or("with an error")
        )
    });
    let mut error = Error::new(kind, provider, operation, message)
        .with_http_status(status.as_u16())
        .with_body(body);
    if let Some(after) = retry_after(headers) {
        error = error.with_retry_after(after);
    }
    if let Some(id) = headers.get("x-request-id").and_then(|v| v.to_str().ok()) {
        error = error.with_request_id(crate::redact::truncate(id, 128));
    }
    error
}

/// Most redirects a password-less download follows.
pub const MAX_REDIRECTS: usize = 5;

/// Why a download's redirect was not followed (the source of the [`Protocol`](ErrorKind::Protocol)
/// error the download ends with).
#[derive(Debug)]
struct RedirectRefused(&'static str);

impl fmt::Display for RedirectRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for RedirectRefused {}

/// The open client's redirects: at most [`MAX_REDIRECTS`], never from https down to http, and to
/// another host only over https (a vendor's CDN; not a plain-http hop an attacker on the path
/// could have written, nor a bounce from the vendor's host into the caller's network).
fn open_redirect(attempt: reqwest::redirect::Attempt<'_>) -> reqwest::redirect::Action {
    let previous = attempt.previous();
    if previous.len() > MAX_REDIRECTS {
        return attempt.error(RedirectRefused("too many redirects"));
    }
    let Some(from) = previous.last() else {
        return attempt.follow();
    };
    let to = attempt.url();
    if from.scheme() == "https" && to.scheme() != "https" {
        return attempt.error(RedirectRefused("a redirect from https to http was refused"));
    }
    if to.host_str() != from.host_str() && to.scheme() != "https" {
        return attempt.error(RedirectRefused(
            "a redirect to another host over plain http was refused",
        ));
    }
    attempt.follow()
}

/// Wraps a download body so that it ends with a [`Timeout`](ErrorKind::Timeout) error once a
/// window of `window` brings under `min` bytes: the body's own pace, not the disk's.
fn stall_guarded(
    body: impl futures_util::Stream<Item = Result<Bytes>> + Send + 'static,
    window: Duration,
    min: u64,
    stalled: impl Fn() -> Error + Send + 'static,
) -> impl futures_util::Stream<Item = Result<Bytes>> + Send + 'static {
    struct State<S, F> {
        body: std::pin::Pin<Box<S>>,
        /// Set at the first read after a window closes (or the first read of all): a body nobody
        /// reads yet is not stalling.
        window_end: Option<Instant>,
        got: u64,
        done: bool,
        stalled: F,
    }
    let state = State {
        body: Box::pin(body),
        window_end: None,
        got: 0,
        done: false,
        stalled,
    };
    futures_util::stream::unfold(state, move |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            let window_end = *st.window_end.get_or_insert_with(|| Instant::now() + window);
            // `select` polls the body first: a chunk that is ready is always taken before the
            // window's clock is looked at.
            let tick = std::pin::pin!(tokio::time::sleep_until(window_end));
            let chunk = match futures_util::future::select(st.body.next(), tick).await {
                futures_util::future::Either::Left((Some(Ok(chunk)), _)) => {
                    st.got += chunk.len() as u64;
                    Some(chunk)
                }
                futures_util::future::Either::Left((Some(Err(e)), _)) => {
                    st.done = true;
                    return Some((Err(e), st));
                }
                futures_util::future::Either::Left((None, _)) => return None,
                futures_util::future::Either::Right(((), _)) => None,
            };
            if Instant::now() >= window_end {
                if st.got < min {
                    st.done = true;
                    let e = (st.stalled)();
                    return Some((Err(e), st));
                }
                st.window_end = None;
                st.got = 0;
            }
            if let Some(chunk) = chunk {
                return Some((Ok(chunk), st));
            }
        }
    })
}

/// Makes ring the process's TLS crypto provider unless one is installed already.
///
/// reqwest is built with `rustls-no-provider` so that aws-lc-rs (a C build) stays out of the
/// dependency tree; rustls then refuses to build a client until a provider is chosen. Every
/// [`HttpClient`] calls this first. Call it yourself only if you build your own `reqwest::Client`
/// in the same process before any multiconvert client exists; calling it again does nothing.
///
/// ```
/// multiconvert_core::http::install_crypto_provider();
/// let client = reqwest::Client::builder().build();
/// assert!(client.is_ok());
/// ```
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // `Err` means the application installed its own provider first: that one stays.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

fn delivery_of(e: &reqwest::Error) -> Delivery {
    if e.is_connect() {
        Delivery::NotSent
    } else {
        Delivery::Ambiguous
    }
}

/// A lazily opened file as a stream of chunks: each call opens the file anew, which is what makes
/// a path upload retryable.
///
/// Chunks are read on the blocking pool straight into the buffers that are sent (no copy through
/// an async file's own buffer), [`UPLOAD_CHUNK`] at a time or the whole file when it is smaller,
/// and the next chunk is read while the current one is on the wire.
pub fn file_stream(
    path: PathBuf,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    type Read = tokio::task::JoinHandle<std::io::Result<(std::fs::File, Bytes)>>;
    fn read_next(mut file: std::fs::File, size: usize) -> Read {
        tokio::task::spawn_blocking(move || {
            use std::io::Read as _;
            let mut buf = vec![0u8; size];
            let mut filled = 0;
            while filled < size {
                match file.read(&mut buf[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            buf.truncate(filled);
            Ok((file, Bytes::from(buf)))
        })
    }
    let open = async move {
        tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(path)?;
            let len = file.metadata()?.len();
            Ok::<_, std::io::Error>((file, len))
        })
        .await
        .map_err(std::io::Error::other)?
    };
    futures_util::stream::once(open)
        .map_ok(|(file, len)| {
            let size = usize::try_from(len)
                .unwrap_or(UPLOAD_CHUNK)
                .clamp(1, UPLOAD_CHUNK);
            futures_util::stream::try_unfold(Some(read_next(file, size)), move |next| async move {
                let Some(next) = next else { return Ok(None) };
                let (file, chunk) = next.await.map_err(std::io::Error::other)??;
                if chunk.is_empty() {
                    return Ok(None);
                }
                // A short chunk is the end of the file; otherwise read ahead.
                let after = (chunk.len() == size).then(|| read_next(file, size));
                Ok(Some((chunk, after)))
            })
        })
        .try_flatten()
}

/// The largest chunk a file upload is read and sent in: large enough that a read costs little
/// per byte, small enough that two of them (one sending, one read ahead) stay well inside an
/// upload's memory budget.
pub const UPLOAD_CHUNK: usize = 512 * 1024;

/// The plain `GET` of [`ConversionProvider::download`](crate::ConversionProvider::download)'s
/// default: no secret, up to five redirects, default timeouts.
pub async fn default_download(provider: &str, output: &Output) -> Result<ByteStream> {
    static CLIENT: OnceLock<std::result::Result<HttpClient, String>> = OnceLock::new();
    let client = CLIENT
        .get_or_init(|| {
            HttpClient::new("download", HttpConfig::default()).map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::config(provider.to_owned(), e.clone()))?;
    let url = output.url.as_deref().ok_or_else(|| {
        Error::new(
            ErrorKind::Protocol,
            provider.to_owned(),
            Operation::Download,
            "the output has no URL",
        )
    })?;
    client
        .download(url, HeaderMap::new(), false)
        .await
        .map_err(|e| e.with_provider(provider.to_owned()))
}
