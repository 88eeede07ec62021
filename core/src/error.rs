//! The one error type of multiconvert.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use crate::handle::JobHandle;
use crate::status::JobStatus;

/// `Result` with multiconvert's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, independent of the vendor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request was refused as invalid (bad parameters, unsupported input, 400/415/422).
    InvalidInput,
    /// Missing or rejected credentials (401/403).
    Unauthenticated,
    /// Credits, balance or contract limit exhausted (402, ConvertAPI 4014).
    QuotaExhausted,
    /// Too many requests or conversions at once (429, ConvertAPI 503); see `retry_after`.
    RateLimited,
    /// Unknown or expired job or resource (404).
    NotFound,
    /// The job's state forbids the change (409).
    Conflict,
    /// The vendor ran the conversion and it failed.
    ConversionFailed,
    /// A deadline passed: a request timed out, or a job did not finish in time.
    Timeout,
    /// The network failed or the vendor answered with a server error (5xx).
    Transport,
    /// The vendor's reply was malformed or unexpected.
    Protocol,
    /// The provider cannot do this (format pair, input kind, operation).
    Unsupported,
    /// A webhook failed verification.
    WebhookRejected,
    /// The client is misconfigured (missing key, bad URL, empty webhook secret).
    Config,
    /// A local file could not be read or written.
    Io,
}

impl ErrorKind {
    /// A stable `snake_case` name, used by the CLI's `--json` and in snapshots.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::QuotaExhausted => "quota_exhausted",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::ConversionFailed => "conversion_failed",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Transport => "transport",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::WebhookRejected => "webhook_rejected",
            ErrorKind::Config => "config",
            ErrorKind::Io => "io",
        }
    }

    /// Throttling, a transport or server failure, a timeout: kinds after which the same request
    /// may succeed later. The retry loop and [`Error::is_retryable`] both decide with this.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorKind::RateLimited | ErrorKind::Transport | ErrorKind::Timeout
        )
    }

    /// The kind a plain HTTP status maps to when the vendor adds nothing more specific.
    pub fn from_http_status(status: u16) -> ErrorKind {
        match status {
            400 | 415 | 422 => ErrorKind::InvalidInput,
            401 | 403 => ErrorKind::Unauthenticated,
            402 => ErrorKind::QuotaExhausted,
            404 | 410 => ErrorKind::NotFound,
            409 => ErrorKind::Conflict,
            408 => ErrorKind::Timeout,
            429 => ErrorKind::RateLimited,
            500..=599 => ErrorKind::Transport,
            _ => ErrorKind::Protocol,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// Creating or starting a job.
    Submit,
    /// Uploading an input.
    Upload,
    /// Reading a job's state.
    Poll,
    /// Waiting for a job to finish.
    Wait,
    /// Handling an incoming webhook.
    Webhook,
    /// Deleting or cancelling a job.
    Delete,
    /// Fetching an output.
    Download,
    /// Writing an output to disk.
    Save,
    /// Building a client from configuration.
    Configure,
    /// A vendor-specific operation, named.
    Other(&'static str),
}

impl Operation {
    /// A stable `snake_case` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Submit => "submit",
            Operation::Upload => "upload",
            Operation::Poll => "poll",
            Operation::Wait => "wait",
            Operation::Webhook => "webhook",
            Operation::Delete => "delete",
            Operation::Download => "download",
            Operation::Save => "save",
            Operation::Configure => "configure",
            Operation::Other(name) => name,
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a failed request may have reached the vendor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Delivery {
    /// The vendor answered: the request certainly arrived.
    #[default]
    Answered,
    /// The request provably never left (connection refused, DNS, TLS handshake).
    NotSent,
    /// The request may or may not have been processed (timeout or reset after sending).
    Ambiguous,
    /// The request may have arrived, but provably started no conversion (a staged create, an
    /// upload to a job that was never started): safe to try elsewhere.
    NoJobStarted,
}

/// One provider's try at an operation, as a router reports it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Attempt {
    /// The provider tried.
    pub provider: String,
    /// `None` when it succeeded; the error kind when it failed.
    pub error: Option<ErrorKind>,
    /// What happened, in words (no secrets).
    pub detail: String,
}

impl Attempt {
    /// A successful attempt.
    pub fn succeeded(provider: impl Into<String>, detail: impl Into<String>) -> Self {
        Attempt {
            provider: provider.into(),
            error: None,
            detail: detail.into(),
        }
    }
    /// A failed attempt.
    pub fn failed(provider: impl Into<String>, error: &Error) -> Self {
        Attempt {
            provider: provider.into(),
            error: Some(error.kind()),
            detail: error.to_string(),
        }
    }
    /// A provider skipped without a request.
    pub fn skipped(provider: impl Into<String>, reason: impl Into<String>) -> Self {
        Attempt {
            provider: provider.into(),
            error: None,
            detail: format!("skipped: {}", reason.into()),
        }
    }
}

struct Inner {
    kind: ErrorKind,
    provider: Cow<'static, str>,
    operation: Operation,
    message: String,
    http_status: Option<u16>,
    provider_code: Option<String>,
    retry_after: Option<Duration>,
    request_id: Option<String>,
    body: Option<String>,
    delivery: Delivery,
    job_id: Option<String>,
    job: Option<JobHandle>,
    last_status: Option<JobStatus>,
    attempts: Vec<Attempt>,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

/// A multiconvert error: a [`kind`](Error::kind) to branch on plus everything known about the
/// failure. Its `Display` and `Debug` never contain secrets or request bodies; the response body
/// excerpt is redacted and truncated.
///
/// ```
/// use multiconvert_core::{Error, ErrorKind, Operation};
/// let e = Error::new(ErrorKind::RateLimited, "acme", Operation::Submit, "too many jobs")
///     .with_http_status(429)
///     .with_retry_after(std::time::Duration::from_secs(3));
/// assert!(e.is_retryable());
/// assert!(e.is_failover_eligible());
/// assert_eq!(e.to_string(), "acme submit failed (rate_limited, HTTP 429): too many jobs; retry after 3s");
/// ```
pub struct Error(Box<Inner>);

impl Error {
    /// A new error of `kind` from `provider` during `operation`.
    pub fn new(
        kind: ErrorKind,
        provider: impl Into<Cow<'static, str>>,
        operation: Operation,
        message: impl Into<String>,
    ) -> Self {
        Error(Box::new(Inner {
            kind,
            provider: provider.into(),
            operation,
            message: message.into(),
            http_status: None,
            provider_code: None,
            retry_after: None,
            request_id: None,
            body: None,
            delivery: Delivery::Answered,
            job_id: None,
            job: None,
            last_status: None,
            attempts: Vec::new(),
            source: None,
        }))
    }

    /// A [`ErrorKind::Config`] error.
    pub fn config(provider: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Config, provider, Operation::Configure, message)
    }

    /// Sets the HTTP status.
    pub fn with_http_status(mut self, status: u16) -> Self {
        self.0.http_status = Some(status);
        self
    }
    /// Sets the vendor's own error code.
    pub fn with_provider_code(mut self, code: impl Into<String>) -> Self {
        self.0.provider_code = Some(code.into());
        self
    }
    /// Sets how long the vendor asked us to wait.
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.0.retry_after = Some(after);
        self
    }
    /// Sets the vendor's request id.
    pub fn with_request_id(mut self, id: impl Into<String>) -> Self {
        self.0.request_id = Some(id.into());
        self
    }
    /// Attaches a response body; it is redacted and truncated here.
    pub fn with_body(mut self, body: &[u8]) -> Self {
        self.0.body = crate::redact::body_excerpt(body);
        self
    }
    /// Records whether the request may have reached the vendor.
    pub fn with_delivery(mut self, delivery: Delivery) -> Self {
        self.0.delivery = delivery;
        self
    }
    /// Records the id of the job concerned, when no whole handle is at hand (prefer
    /// [`with_job`](Self::with_job): a bare id cannot resume a job that needs its token or route).
    pub fn with_job_id(mut self, id: impl Into<String>) -> Self {
        self.0.job_id = Some(id.into());
        self
    }
    /// Records the job concerned, whole: the handle an application stores to resume polling,
    /// deleting or confirming it (token, server, route and all). Its token never prints.
    pub fn with_job(mut self, handle: JobHandle) -> Self {
        self.0.job_id = Some(handle.id.clone());
        self.0.job = Some(handle);
        self
    }
    /// Records the job's last known status (a wait that timed out, a failed job).
    pub fn with_last_status(mut self, status: JobStatus) -> Self {
        self.0.last_status = Some(status);
        self
    }
    /// Records the attempts a router made before this error.
    pub fn with_attempts(mut self, attempts: Vec<Attempt>) -> Self {
        self.0.attempts = attempts;
        self
    }
    /// Sets the underlying cause. Pass a `reqwest::Error` through [`reqwest::Error::without_url`]
    /// first (the helpers in [`crate::http`] do), so no URL with a secret leaks.
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.0.source = Some(Box::new(source));
        self
    }
    /// Replaces the provider name (a wrapper reporting for its member).
    pub fn with_provider(mut self, provider: impl Into<Cow<'static, str>>) -> Self {
        self.0.provider = provider.into();
        self
    }
    /// Names provider instance `instance` in an error that names its vendor `vendor` (the pure
    /// request/response functions of a vendor crate only know the vendor); any other error is
    /// returned as it is.
    pub fn renamed(self, vendor: &str, instance: &str) -> Self {
        if self.0.provider == vendor && vendor != instance {
            self.with_provider(instance.to_owned())
        } else {
            self
        }
    }
    /// Replaces the operation.
    pub fn with_operation(mut self, operation: Operation) -> Self {
        self.0.operation = operation;
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }
    /// The provider that failed.
    pub fn provider(&self) -> &str {
        &self.0.provider
    }
    /// The operation that failed.
    pub fn operation(&self) -> Operation {
        self.0.operation
    }
    /// The human-readable message (never contains secrets).
    pub fn message(&self) -> &str {
        &self.0.message
    }
    /// The HTTP status, when the vendor answered.
    pub fn http_status(&self) -> Option<u16> {
        self.0.http_status
    }
    /// The vendor's own error code, kept raw.
    pub fn provider_code(&self) -> Option<&str> {
        self.0.provider_code.as_deref()
    }
    /// How long the vendor asked us to wait.
    pub fn retry_after(&self) -> Option<Duration> {
        self.0.retry_after
    }
    /// The vendor's request id, for support tickets.
    pub fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }
    /// A redacted, truncated excerpt of the vendor's response body.
    pub fn body(&self) -> Option<&str> {
        self.0.body.as_deref()
    }
    /// Whether the failed request may have reached the vendor.
    pub fn delivery(&self) -> Delivery {
        self.0.delivery
    }
    /// The id of the job concerned, when known.
    pub fn job_id(&self) -> Option<&str> {
        self.0.job_id.as_deref()
    }
    /// The handle of the job concerned, when the error is about an existing job (a wait that
    /// timed out, a failed job, a start that failed after the create): serialise it to resume.
    ///
    /// ```
    /// use multiconvert_core::{Error, ErrorKind, JobHandle, Operation};
    /// let handle = JobHandle::new("acme", "job-1").with_token("tok-secret").with_meta("route", "legacy");
    /// let e = Error::new(ErrorKind::Timeout, "acme", Operation::Wait, "still running").with_job(handle.clone());
    /// assert_eq!(e.job(), Some(&handle));
    /// assert!(!format!("{e} {e:?}").contains("tok-secret"));
    /// ```
    pub fn job(&self) -> Option<&JobHandle> {
        self.0.job.as_ref()
    }
    /// The job's last known status, when known (a wait timeout carries it).
    pub fn last_status(&self) -> Option<&JobStatus> {
        self.0.last_status.as_ref()
    }

    /// The attempts a router made before this error (empty for a single provider).
    pub fn attempts(&self) -> &[Attempt] {
        &self.0.attempts
    }

    /// True when the same request may succeed if sent again later: throttling, transport
    /// failures and server errors. Whether it is *safe* to resend is a separate question that
    /// the HTTP layer answers from the request (see [`crate::http::Replay`]).
    pub fn is_retryable(&self) -> bool {
        // A wait that ran out of time is not a request to resend: the job is still running.
        self.0.kind.is_transient() && self.0.last_status.is_none()
    }

    /// True when the failed request may or may not have taken effect: the connection broke or
    /// timed out after sending, or a gateway answered 5xx for a server that may have acted. A
    /// provider reconciles (reads the job back) before it sends such a request again.
    pub fn is_ambiguous(&self) -> bool {
        self.0.delivery == Delivery::Ambiguous
            || (self.0.kind == ErrorKind::Transport && self.0.http_status.is_some_and(|s| s >= 500))
    }

    /// True when another vendor may succeed where this one failed: the vendor is unreachable,
    /// overloaded, out of credits, rejects our credentials or cannot do this kind of job
    /// ([`Unsupported`](ErrorKind::Unsupported): a format pair or input kind it lacks), and no job
    /// was accepted. Invalid input and failed conversions of a job the vendor accepted are not.
    ///
    /// A submit that failed ambiguously (the vendor may have started the job) is never eligible:
    /// moving on could run the conversion twice.
    pub fn is_failover_eligible(&self) -> bool {
        if self.0.delivery == Delivery::Ambiguous {
            return false;
        }
        match self.0.kind {
            ErrorKind::Transport
            | ErrorKind::RateLimited
            | ErrorKind::QuotaExhausted
            | ErrorKind::Unauthenticated
            | ErrorKind::Unsupported => true,
            // A deadline while waiting on an accepted job means the job exists.
            ErrorKind::Timeout => self.0.last_status.is_none() && self.0.job_id.is_none(),
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.0;
        write!(f, "{} {} failed ({}", e.provider, e.operation, e.kind)?;
        if let Some(status) = e.http_status {
            write!(f, ", HTTP {status}")?;
        }
        if let Some(code) = &e.provider_code {
            write!(f, ", code {code}")?;
        }
        write!(f, "): {}", e.message)?;
        if let Some(after) = e.retry_after {
            write!(f, "; retry after {}s", after.as_secs_f64())?;
        }
        if let Some(status) = &e.last_status {
            write!(f, "; last status {status}")?;
        }
        if let Some(id) = &e.request_id {
            write!(f, " [request id {id}]")?;
        }
        if e.attempts.len() > 1 {
            f.write_str("; attempts: ")?;
            for (i, a) in e.attempts.iter().enumerate() {
                let sep = if i == 0 { "" } else { "; " };
                write!(f, "{sep}{}: {}", a.provider, a.detail)?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.0;
        f.debug_struct("Error")
            .field("kind", &e.kind)
            .field("provider", &e.provider)
            .field("operation", &e.operation)
            .field("message", &e.message)
            .field("http_status", &e.http_status)
            .field("provider_code", &e.provider_code)
            .field("retry_after", &e.retry_after)
            .field("request_id", &e.request_id)
            .field("delivery", &e.delivery)
            .field("job_id", &e.job_id)
            .field("job", &e.job)
            .field("last_status", &e.last_status)
            .field("attempts", &e.attempts)
            .field("body", &e.body)
            .field("source", &e.source.as_ref().map(|s| s.to_string()))
            .finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0
            .source
            .as_ref()
            .map(|s| s.as_ref() as &(dyn StdError + 'static))
    }
}
