//! The provider: the only place in this crate that does I/O.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use multiconvert_core::config::endpoint;
use multiconvert_core::failover::FormatCatalog;
use multiconvert_core::http::{HttpClient, Phase, Replay, RequestSpec};
use multiconvert_core::upload::Progress;
use multiconvert_core::{
    ByteStream, Capabilities, ConversionProvider, Delivery, Error, ErrorKind, Input, InputSource,
    Job, JobHandle, JobRequest, JobStatus, Operation, Output, ProviderInfo, Result, UploadSource,
    WebhookEvent, WebhookRequest,
};
use url::Url;

use crate::config::{AsyncRoute, AuthMode, Config, SubmitStyle};
use crate::request::{
    content_disposition, convert_segments, form_fields, inline_parts, job_id_for, job_segments,
    route_of_job_id, source_format, upload_filename, FileValue, ROUTE_META,
};
use crate::response::{
    classify_poll, classify_submit, completed_job, parse_error, parse_poll, parse_submit,
    SubmitAnswer,
};
use crate::wire::WireUpload;
use crate::NAME;

const MAX_JSON: usize = 64 << 20;
const MAX_CACHED: usize = 1024;

/// ConvertAPI's Async/JobId model as a [`ConversionProvider`], on the current (`/async/…`) or
/// the legacy (`?Async=true`) route, plus the semi-async synchronous convert.
///
/// Every submit carries a client-made JobId, so a submit whose outcome is unknown is reconciled
/// by polling that id before anything is sent again: a dropped connection never costs a second
/// conversion. Polls of one JobId are serialised in this process, a poll answered 503 ("another
/// poll is in flight") is "busy", not an error, and a terminal result is cached so polling again is
/// idempotent.
pub struct ConvertApi {
    config: Config,
    http: HttpClient,
    info: ProviderInfo,
    poll_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    results: Mutex<HashMap<String, Job>>,
    seen: Mutex<HashSet<String>>,
    formats: Mutex<HashMap<(String, String), Option<bool>>>,
}

impl fmt::Debug for ConvertApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConvertApi")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ConvertApi {
    /// A provider from a configuration.
    pub fn new(config: Config) -> Result<Self> {
        let http = HttpClient::new(config.name.clone(), config.http.clone())?;
        let capabilities = Capabilities::new()
            .with_remote_service(true)
            .with_remote_input(true)
            .with_upload(true)
            .with_base64(true)
            .with_file_id_input(true)
            .with_multiple_inputs(true)
            .with_webhooks(true)
            .with_delete(true)
            .with_idempotent_submit(true);
        let info = ProviderInfo::new(config.name.clone(), capabilities, config.poll_policy)
            .with_price(config.price);
        Ok(ConvertApi {
            config,
            http,
            info,
            poll_locks: Mutex::new(HashMap::new()),
            results: Mutex::new(HashMap::new()),
            seen: Mutex::new(HashSet::new()),
            formats: Mutex::new(HashMap::new()),
        })
    }

    /// A provider configured from the environment (see [`Config::from_env`]).
    pub fn from_env() -> Result<Self> {
        ConvertApi::new(Config::from_env()?)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn url(&self, segments: &[String]) -> Url {
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let secret;
        let query: &[(&str, &str)] = match self.config.auth {
            AuthMode::Query => {
                secret = self.config.secret.expose().as_str();
                &[("Secret", secret)]
            }
            AuthMode::Bearer => &[],
        };
        endpoint(&self.config.base_url, &segments, query)
    }

    fn authorize(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let rb = rb.header(http::header::ACCEPT, "application/json");
        match self.config.auth {
            AuthMode::Bearer => rb.bearer_auth(self.config.secret.expose()),
            AuthMode::Query => rb,
        }
    }

    /// Where a job lives: the route its handle records, else the one its JobId's format names
    /// (a handle rebuilt from a bare id), else the configured one.
    fn route_of(&self, handle: &JobHandle) -> AsyncRoute {
        handle
            .meta
            .get(ROUTE_META)
            .and_then(|r| AsyncRoute::parse(r))
            .or_else(|| route_of_job_id(&handle.id))
            .unwrap_or(self.config.route)
    }

    /// Names this instance in an error the pure functions made with the vendor's name.
    fn named(&self, e: Error) -> Error {
        e.renamed(NAME, &self.info.name)
    }

    /// Uploads a local or base64 input with a streamed `POST /upload` and returns its FileId.
    /// Retrying an upload creates no job (at worst an orphan file that expires in 3 h), so a path
    /// or bytes upload is retried; a one-shot reader is not.
    pub async fn upload(&self, input: &Input) -> Result<String> {
        self.upload_with(input, None).await
    }

    async fn upload_with(&self, input: &Input, progress: Option<Progress>) -> Result<String> {
        let op = Operation::Upload;
        let filename = upload_filename(input);
        let source = source_of(input, op).await?;
        // An upload creates no job (at worst an orphan file that expires), so it may be resent.
        let replay = if source.is_replayable() {
            Replay::Idempotent
        } else {
            Replay::OneShot
        };
        let url = self.url(&["upload".to_owned()]);
        let disposition = content_disposition(&filename);
        let spec = RequestSpec::new(op).replay(replay).phase(Phase::Upload);
        let response = self
            .http
            .send(spec, |client| {
                let (body, len) = (source.body(NAME, op, progress.as_ref())?, source.len());
                Ok(self
                    .authorize(client.post(url.clone()))
                    .header(http::header::CONTENT_TYPE, "application/octet-stream")
                    .header(http::header::CONTENT_DISPOSITION, disposition.clone())
                    .header(http::header::CONTENT_LENGTH, len)
                    .body(body))
            })
            .await?;
        let (status, headers, body) = self.http.read_body(op, response, MAX_JSON).await?;
        if !status.is_success() {
            return Err(parse_error(op, status, &headers, &body));
        }
        let reply: WireUpload = serde_json::from_slice(&body).unwrap_or_default();
        reply.file_id.filter(|id| !id.is_empty()).ok_or_else(|| {
            Error::new(
                ErrorKind::Protocol,
                NAME,
                op,
                "the upload reply has no FileId",
            )
            .with_body(&body)
        })
    }

    async fn file_values(&self, request: &JobRequest, from: &str) -> Result<Vec<FileValue>> {
        let mut values = Vec::with_capacity(request.inputs.len());
        for input in &request.inputs {
            values.push(match &input.source {
                InputSource::Remote(url) if from == "web" => FileValue::Url(url.to_string()),
                InputSource::Remote(url) => FileValue::File(url.to_string()),
                InputSource::FileId(id) => FileValue::File(id.clone()),
                InputSource::Path(_)
                | InputSource::Bytes(_)
                | InputSource::Reader(_)
                | InputSource::Base64(_)
                    if self.config.inline_uploads =>
                {
                    FileValue::Inline
                }
                InputSource::Path(_)
                | InputSource::Bytes(_)
                | InputSource::Reader(_)
                | InputSource::Base64(_) => FileValue::File(
                    self.upload_with(input, request.upload_progress.clone())
                        .await?,
                ),
                _ => {
                    return Err(Error::new(
                        ErrorKind::Unsupported,
                        NAME,
                        Operation::Submit,
                        "ConvertAPI takes URLs, local files, base64 and FileIds",
                    ))
                }
            });
        }
        Ok(values)
    }

    /// Sends the convert request (with the retry loop's safe retries): a form, or a multipart
    /// request when inputs travel inline.
    /// Sends a convert request; any answer it reads is returned, whatever its status.
    async fn send_convert_raw(
        &self,
        prepared: &Prepared,
        spec: RequestSpec,
    ) -> Result<(StatusCode, HeaderMap, Bytes)> {
        let op = spec.operation();
        let spec = if prepared.inline.iter().any(|p| !p.source.is_replayable()) {
            spec.replay(Replay::OneShot)
        } else {
            spec
        };
        let spec = if prepared.inline.is_empty() {
            spec
        } else {
            spec.phase(Phase::Upload)
        };
        let response = self
            .http
            .send(spec, |client| {
                let rb = self.authorize(client.post(prepared.url.clone()));
                if prepared.inline.is_empty() {
                    return Ok(rb.form(&prepared.fields));
                }
                let mut form = reqwest::multipart::Form::new();
                for (name, value) in &prepared.fields {
                    form = form.text(name.clone(), value.clone());
                }
                for part in &prepared.inline {
                    let body = part.source.body(NAME, op, prepared.progress.as_ref())?;
                    let file =
                        reqwest::multipart::Part::stream_with_length(body, part.source.len())
                            .file_name(part.filename.clone());
                    form = form.part(part.name.clone(), file);
                }
                Ok(rb.multipart(form))
            })
            .await?;
        self.http.read_body(op, response, MAX_JSON).await
    }

    async fn send_convert(
        &self,
        prepared: &Prepared,
        spec: RequestSpec,
    ) -> Result<(StatusCode, HeaderMap, Bytes)> {
        let op = spec.operation();
        let (status, headers, body) = self.send_convert_raw(prepared, spec).await?;
        if status.is_success() {
            Ok((status, headers, body))
        } else {
            Err(parse_error(op, status, &headers, &body))
        }
    }

    /// Whether `submit` holds `request` open for its result (see [`SubmitStyle::Auto`]).
    fn holds(&self, request: &JobRequest) -> bool {
        // A journaled request must be resumable by its JobId from the moment it is sent, and a
        // held conversion's JobId answers only once it is done: journaled requests go async.
        self.config.submit_style == SubmitStyle::Auto
            && request.callback.is_none()
            && !multiconvert_core::journal::is_journaled()
            && request
                .expected_duration
                .is_none_or(|d| d <= self.config.held_limit)
    }

    /// Whether a job with this id exists at the vendor: `Some(job)` when it answers 200/202/503,
    /// `None` on 404.
    async fn probe(&self, handle: &JobHandle) -> Result<Option<Job>> {
        match self.poll_once(handle).await {
            Ok(job) => Ok(Some(job)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Semi-async: a synchronous conversion that carries a client JobId. When the connection
    /// drops, the result is recovered by polling that JobId instead of converting (and paying)
    /// again. The read timeout is the conversion timeout plus 10 s.
    ///
    /// The synchronous `/convert` endpoint takes only an RFC 4122 UUID as JobId, and such a job
    /// is polled on the legacy `/job/{id}` route, whatever async route is configured: the JobId
    /// is a UUID and the handle records the legacy route.
    pub async fn convert_sync(&self, request: &JobRequest) -> Result<Job> {
        self.convert_sync_inner(request)
            .await
            .map_err(|e| self.named(e))
    }

    async fn convert_sync_inner(&self, request: &JobRequest) -> Result<Job> {
        let prepared = self.prepare(request, None).await?;
        let handle = prepared.handle.clone();
        multiconvert_core::journal::record_handle(&handle).await?;
        let timeout = self.config.conversion_timeout;
        let spec = RequestSpec::new(Operation::Submit)
            .replay(Replay::CreatesJob)
            .classify(classify_submit)
            .timeout(timeout + std::time::Duration::from_secs(10));
        let job = match self.send_convert_answer(&prepared, spec).await {
            Ok(job) => job,
            Err(e) if e.is_ambiguous() => self.recover_held(&handle, e).await?,
            Err(e) => return Err(e),
        };
        self.remember(&job);
        Ok(job)
    }

    /// Sends a held (synchronous) convert and reads its answer as the job's end: the result,
    /// or a conversion ConvertAPI failed (a 5xx with its error JSON) as a failed job, the way a
    /// poll of the JobId would report them. Other refusals (a bad secret, a bad parameter) are
    /// errors, as they are for an async submit.
    async fn send_convert_answer(&self, prepared: &Prepared, spec: RequestSpec) -> Result<Job> {
        let (status, headers, body) = self.send_convert_raw(prepared, spec).await?;
        if status.is_success() {
            return completed_job(&prepared.handle, &body, Operation::Submit);
        }
        if status.is_server_error() {
            if let Ok(job) = parse_poll(&prepared.handle, status, &headers, &body) {
                if job.status == JobStatus::Failed {
                    return Ok(job);
                }
            }
        }
        Err(parse_error(Operation::Submit, status, &headers, &body))
    }

    /// After a held convert's connection dropped (`error`): the conversion may be running or
    /// done at ConvertAPI, which keeps its result under the JobId. Polls that JobId on the
    /// default schedule until the conversion's own timeout; a 404 meanwhile means "not (yet)
    /// stored". Never resends: should the JobId stay unknown, `error` is returned, ambiguous
    /// and carrying the handle, for the caller to reconcile.
    async fn recover_held(&self, handle: &JobHandle, error: Error) -> Result<Job> {
        tracing::debug!(provider = NAME, job = %handle.id, "held convert interrupted: recovering by JobId");
        let deadline = tokio::time::Instant::now() + self.config.conversion_timeout;
        let policy = self.config.poll_policy;
        let mut intervals = policy.intervals();
        loop {
            match self.poll_once(handle).await {
                Ok(job) if job.status.is_terminal() => return Ok(job),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(_) => return Err(ambiguous(error, handle)),
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(ambiguous(error, handle));
            }
            let pause = policy
                .jittered(intervals.next().unwrap_or(policy.max_interval))
                .min(deadline - now);
            tokio::time::sleep(pause).await;
        }
    }

    /// Everything a convert request needs: a handle with a fresh client JobId (the route's
    /// format, recorded in the handle), the endpoint, and the form with every input uploaded.
    /// `route` is the async route to submit on; `None` is the synchronous (semi-async) convert,
    /// whose jobs live on the legacy route.
    async fn prepare(&self, request: &JobRequest, route: Option<AsyncRoute>) -> Result<Prepared> {
        crate::request::check_complete(request)?;
        let asynchronous = route.is_some();
        let route = route.unwrap_or(AsyncRoute::Legacy);
        let from = source_format(request)?;
        let to = &request.conversions[0].target;
        let mut url = self.url(&convert_segments(route, &from, to, asynchronous)?);
        if asynchronous && route == AsyncRoute::Legacy {
            url.query_pairs_mut().append_pair("Async", "true");
        }
        let job_id = job_id_for(route, request.idempotency_key.as_deref());
        // An upload creates no job: whatever went wrong there, nothing runs at the vendor.
        let files = self.file_values(request, &from).await.map_err(|e| {
            if e.delivery() == Delivery::Ambiguous || e.is_ambiguous() {
                e.with_delivery(Delivery::NoJobStarted)
            } else {
                e
            }
        })?;
        let fields = form_fields(
            request,
            &files,
            &job_id,
            self.config.conversion_timeout.as_secs(),
        )?;
        let mut inline = Vec::new();
        for (name, index) in inline_parts(&files) {
            let input = &request.inputs[index];
            inline.push(InlinePart {
                name,
                filename: upload_filename(input),
                source: source_of(input, Operation::Submit).await?,
            });
        }
        let handle =
            JobHandle::new(self.info.name.clone(), job_id).with_meta(ROUTE_META, route.as_str());
        Ok(Prepared {
            handle,
            url,
            fields,
            inline,
            progress: request.upload_progress.clone(),
        })
    }

    fn remember(&self, job: &Job) {
        let mut results = lock(&self.results);
        if results.len() >= MAX_CACHED {
            results.clear();
        }
        results.insert(job.handle.id.clone(), job.clone());
    }

    async fn poll_once(&self, handle: &JobHandle) -> Result<Job> {
        if let Some(job) = lock(&self.results).get(&handle.id) {
            return Ok(job.clone());
        }
        let job_lock = {
            let mut locks = lock(&self.poll_locks);
            if locks.len() >= MAX_CACHED {
                // Forget locks nobody holds (jobs abandoned before they finished).
                locks.retain(|_, l| Arc::strong_count(l) > 1);
            }
            locks.entry(handle.id.clone()).or_default().clone()
        };
        let _in_flight = job_lock.lock().await;
        if let Some(job) = lock(&self.results).get(&handle.id) {
            return Ok(job.clone());
        }
        let route = self.route_of(handle);
        let url = self.url(&job_segments(route, &handle.id));
        let spec = RequestSpec::new(Operation::Poll).classify(classify_poll);
        let response = self
            .http
            .send(spec, |client| Ok(self.authorize(client.get(url.clone()))))
            .await?;
        let (status, headers, body) = self
            .http
            .read_body(Operation::Poll, response, MAX_JSON)
            .await?;
        let mut handle = handle.clone();
        handle.meta.insert(ROUTE_META.into(), route.as_str().into());
        match parse_poll(&handle, status, &headers, &body) {
            Ok(job) => {
                if job.status.is_terminal() {
                    self.remember(&job);
                    lock(&self.poll_locks).remove(&handle.id);
                } else {
                    let mut seen = lock(&self.seen);
                    if seen.len() >= MAX_CACHED {
                        seen.clear();
                    }
                    seen.insert(handle.id.clone());
                }
                Ok(job)
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let seen = lock(&self.seen).remove(&handle.id);
                let message = if seen {
                    "the job expired or was deleted"
                } else {
                    "no job has this JobId (unknown, or expired)"
                };
                Err(
                    Error::new(ErrorKind::NotFound, NAME, Operation::Poll, message)
                        .with_http_status(status.as_u16())
                        .with_job_id(handle.id.clone()),
                )
            }
            Err(e) => Err(e),
        }
    }
}

impl ConvertApi {
    async fn submit_inner(&self, request: &JobRequest) -> Result<JobHandle> {
        let prepared = self.prepare(request, Some(self.config.route)).await?;
        let handle = prepared.handle.clone();
        multiconvert_core::journal::record_handle(&handle).await?;
        let job_id = handle.id.clone();
        // Refusals (429, 503 throttling) and never-sent requests are resent by the retry loop;
        // anything ambiguous is reconciled below by the JobId, never blindly resent.
        let spec = RequestSpec::new(Operation::Submit)
            .replay(Replay::CreatesJob)
            .classify(classify_submit);
        let answer = match self.send_convert(&prepared, spec).await {
            Ok((_, _, body)) => parse_submit(&body)?,
            Err(e) if e.is_ambiguous() => {
                tracing::debug!(provider = %self.info.name, job = %job_id, "submit outcome unknown: polling the JobId");
                match self.reconcile(&handle, e).await? {
                    Some(handle) => return Ok(handle),
                    None => {
                        // Not there (yet): resend with the same JobId, never a new one. Should
                        // that fail ambiguously too, either attempt may still land.
                        let (_, _, body) =
                            self.send_convert(&prepared, spec).await.map_err(|e| {
                                if e.is_ambiguous() {
                                    ambiguous(e, &handle)
                                } else {
                                    e
                                }
                            })?;
                        parse_submit(&body)?
                    }
                }
            }
            Err(e) => return Err(e),
        };
        match answer {
            SubmitAnswer::Accepted(id) if id == job_id => Ok(handle),
            SubmitAnswer::Accepted(id) => {
                let mut handle = handle;
                handle.id = id;
                Ok(handle)
            }
            SubmitAnswer::Completed(body) => {
                let job = completed_job(&handle, &body, Operation::Submit)?;
                self.remember(&job);
                Ok(handle)
            }
        }
    }

    /// After a submit that failed ambiguously (`error`), asks the vendor about the JobId:
    /// `Ok(Some(handle))` when the job exists; `Ok(None)` when it does not and the request may
    /// simply not have landed yet (a dropped connection, a gateway's 5xx): resend it with the
    /// same JobId. When ConvertAPI itself answered the 5xx (its error JSON, with a `Code`) and the
    /// JobId is unknown or its job already failed, nothing started that can complete: the error is
    /// failover-eligible ([`Delivery::NoJobStarted`]) and nothing is resent. When the vendor
    /// cannot be asked, the job may exist: the error stays ambiguous (no failover, no resend)
    /// and carries the handle to reconcile later.
    async fn reconcile(&self, handle: &JobHandle, error: Error) -> Result<Option<JobHandle>> {
        let vendor_answered = error.http_status().is_some() && error.provider_code().is_some();
        match self.probe(handle).await {
            Ok(Some(job)) if vendor_answered && job.status == JobStatus::Failed => {
                tracing::debug!(provider = %self.info.name, job = %handle.id, "the server failed the submit and the job with it");
                Err(error
                    .with_delivery(Delivery::NoJobStarted)
                    .with_job(handle.clone()))
            }
            Ok(Some(_)) => Ok(Some(handle.clone())),
            Ok(None) if vendor_answered => Err(error.with_delivery(Delivery::NoJobStarted)),
            Ok(None) => Ok(None),
            Err(probe) => {
                tracing::debug!(provider = %self.info.name, job = %handle.id, error = %probe, "cannot tell whether the job exists");
                Err(ambiguous(error, handle))
            }
        }
    }

    async fn send_delete(&self, url: Url) -> Result<(StatusCode, HeaderMap, Bytes)> {
        let response = self
            .http
            .send(RequestSpec::new(Operation::Delete), |client| {
                Ok(self.authorize(client.delete(url.clone())))
            })
            .await?;
        self.http
            .read_body(Operation::Delete, response, MAX_JSON)
            .await
    }

    async fn delete_inner(&self, handle: &JobHandle) -> Result<()> {
        // Stored results outlive the job record for up to 3 h and must go too, whoever deletes:
        // their FileIds come from this process's cache, else from a poll (another process may
        // have submitted the job). A job that is unknown or still running has none.
        let cached = lock(&self.results).get(&handle.id).cloned();
        let job = match cached {
            Some(job) => Some(job),
            None => match self.poll_once(handle).await {
                Ok(job) => Some(job),
                Err(e) if e.kind() == ErrorKind::NotFound => None,
                Err(e) => return Err(e.with_operation(Operation::Delete)),
            },
        };
        let file_ids: Vec<String> = job
            .map(|job| job.outputs.into_iter().filter_map(|o| o.id).collect())
            .unwrap_or_default();
        // Files first: should the job's own DELETE then fail, a retry still finds them by a poll.
        for file_id in file_ids {
            let (status, headers, body) = self
                .send_delete(self.url(&["d".to_owned(), file_id]))
                .await?;
            // A file that expired on its own is as good as deleted.
            if !status.is_success() && status != StatusCode::NOT_FOUND {
                return Err(parse_error(Operation::Delete, status, &headers, &body));
            }
        }
        let route = self.route_of(handle);
        let (status, headers, body) = self
            .send_delete(self.url(&job_segments(route, &handle.id)))
            .await?;
        if !status.is_success() {
            return Err(parse_error(Operation::Delete, status, &headers, &body));
        }
        lock(&self.results).remove(&handle.id);
        lock(&self.seen).remove(&handle.id);
        Ok(())
    }
}

/// `error`, marked as one after which the job may exist at the vendor (no failover, no blind
/// resend), with the handle to reconcile it by.
fn ambiguous(error: Error, handle: &JobHandle) -> Error {
    error
        .with_delivery(Delivery::Ambiguous)
        .with_job(handle.clone())
}

/// The bytes of a local or base64 input.
async fn source_of(input: &Input, op: Operation) -> Result<UploadSource> {
    match &input.source {
        InputSource::Base64(data) => {
            let payload = data
                .rsplit_once("base64,")
                .map_or(data.as_str(), |(_, d)| d);
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(payload.trim())
                .map_err(|_| {
                    Error::new(
                        ErrorKind::InvalidInput,
                        NAME,
                        op,
                        "the base64 input does not decode",
                    )
                })?;
            Ok(UploadSource::Bytes(Bytes::from(bytes)))
        }
        _ => UploadSource::of(input, NAME, op).await?.ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidInput,
                NAME,
                op,
                "this input is not uploaded",
            )
        }),
    }
}

/// An input sent inline as a multipart file part.
struct InlinePart {
    name: String,
    filename: String,
    source: UploadSource,
}

/// A convert request ready to send.
struct Prepared {
    handle: JobHandle,
    url: Url,
    fields: Vec<(String, String)>,
    inline: Vec<InlinePart>,
    progress: Option<Progress>,
}

/// Format lookups with `GET /info/canconvert/{from}/to/{to}`, cached per pair. A 200 says the
/// pair is supported. A 404 cannot tell an unsupported pair from a host that has no such endpoint
/// (a regional deployment, a proxy, an emulator), so it is "unknown" and the member stays
/// eligible: the convert request itself decides.
#[async_trait]
impl FormatCatalog for ConvertApi {
    async fn supports(&self, source: &str, target: &str) -> Result<Option<bool>> {
        let key = (source.to_ascii_lowercase(), target.to_ascii_lowercase());
        if let Some(known) = lock(&self.formats).get(&key) {
            return Ok(*known);
        }
        let op = Operation::Other("canconvert");
        let segments = ["info", "canconvert", &key.0, "to", &key.1].map(str::to_owned);
        let url = self.url(&segments);
        let response = self
            .http
            .send(RequestSpec::new(op), |client| {
                Ok(self.authorize(client.get(url.clone())))
            })
            .await?;
        let (status, headers, body) = self.http.read_body(op, response, MAX_JSON).await?;
        let known = match status.as_u16() {
            200..=299 => Some(true),
            404 => None,
            _ => return Err(self.named(parse_error(op, status, &headers, &body))),
        };
        lock(&self.formats).insert(key, known);
        Ok(known)
    }
}

#[async_trait]
impl ConversionProvider for ConvertApi {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }

    async fn submit(&self, request: &JobRequest) -> Result<JobHandle> {
        let submitted = if self.holds(request) {
            self.convert_sync_inner(request).await.map(|job| job.handle)
        } else {
            self.submit_inner(request).await
        };
        submitted.map_err(|e| self.named(e))
    }

    async fn poll(&self, handle: &JobHandle) -> Result<Job> {
        self.poll_once(handle).await.map_err(|e| self.named(e))
    }

    fn webhook(&self, request: &WebhookRequest) -> Result<WebhookEvent> {
        let mut event = crate::webhook::parse_event(request).map_err(|e| self.named(e))?;
        event.provider = self.info.name.to_string();
        Ok(event)
    }

    async fn delete(&self, handle: &JobHandle) -> Result<()> {
        self.delete_inner(handle).await.map_err(|e| self.named(e))
    }

    async fn download(&self, output: &Output) -> Result<ByteStream> {
        let url = output
            .url
            .as_deref()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Protocol,
                    NAME,
                    Operation::Download,
                    "the output has no URL",
                )
            })?;
        if let Some(data) = url.strip_prefix("data:") {
            let payload = data
                .split_once("base64,")
                .map(|(_, d)| d)
                .unwrap_or_default();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(payload)
                .map_err(|_| {
                    Error::new(
                        ErrorKind::Protocol,
                        NAME,
                        Operation::Download,
                        "the inline FileData does not decode",
                    )
                })?;
            let len = bytes.len() as u64;
            let stream = futures_util::stream::once(async move { Ok(Bytes::from(bytes)) });
            return Ok(ByteStream::new(stream, Some(len), None));
        }
        // No credentials to the download host (the Python SDK sends its Bearer there; we don't).
        self.http
            .download(url, HeaderMap::new(), false)
            .await
            .map_err(vendor_download_error)
    }
}

/// A refused download read with ConvertAPI's own `Code` table (an exhausted balance is a 401
/// with `Code` 4014, not a rejected key), keeping what the generic error knew.
fn vendor_download_error(e: Error) -> Error {
    let (Some(status), Some(body)) = (
        e.http_status().and_then(|s| StatusCode::from_u16(s).ok()),
        e.body(),
    ) else {
        return e;
    };
    let mut read = parse_error(
        Operation::Download,
        status,
        &HeaderMap::new(),
        body.as_bytes(),
    );
    if let Some(after) = e.retry_after() {
        read = read.with_retry_after(after);
    }
    if let Some(id) = e.request_id() {
        read = read.with_request_id(id.to_owned());
    }
    read
}
