//! The provider: the only place in this crate that does I/O.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use multiconvert_core::config::endpoint;
use multiconvert_core::http::{HttpClient, Phase, Replay, RequestSpec};
use multiconvert_core::upload::Progress;
use multiconvert_core::{
    ByteStream, Capabilities, ConversionProvider, Error, ErrorKind, Input, Job, JobHandle,
    JobRequest, Operation, Output, ProviderInfo, Result, UploadSource, WebhookEvent,
    WebhookRequest,
};
use serde_json::Value;
use url::Url;

use crate::config::Config;
use crate::request::{import_task, job_body, needs_upload, upload_filename};
use crate::response::{classify, parse_error, parse_job, parse_jobs, status, to_job};
use crate::wire::{WireForm, WireJob};
use crate::NAME;

const MAX_JSON: usize = 16 << 20;

/// CloudConvert's v2 task-graph API as a [`ConversionProvider`].
///
/// ```no_run
/// use multiconvert_cloudconvert::CloudConvert;
/// use multiconvert_core::{Conversion, ConversionProvider, Input, JobRequest, ProviderExt};
/// # async fn run() -> multiconvert_core::Result<()> {
/// let cc = CloudConvert::from_env()?;
/// let request = JobRequest::new(Input::path("report.docx"), Conversion::to("pdf"));
/// let handle = cc.submit(&request).await?;
/// // One request on the sync host, which answers when the job has ended.
/// let job = cc.wait(&handle, &cc.info().poll_policy).await?;
/// # let _ = job; Ok(()) }
/// ```
pub struct CloudConvert {
    config: Config,
    http: HttpClient,
    info: ProviderInfo,
}

impl fmt::Debug for CloudConvert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudConvert")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl CloudConvert {
    /// A provider from a configuration.
    pub fn new(config: Config) -> Result<Self> {
        let http = HttpClient::new(config.name.clone(), config.http.clone())?;
        let capabilities = Capabilities::new()
            .with_remote_service(true)
            .with_remote_input(true)
            .with_upload(true)
            .with_base64(true)
            .with_cloud_input(true)
            .with_multiple_inputs(true)
            .with_multiple_conversions(true)
            .with_output_targets(true)
            .with_webhooks(true)
            .with_signed_webhooks(config.webhook_secret.is_some())
            .with_delete(true)
            .with_idempotent_submit(true);
        let info = ProviderInfo::new(config.name.clone(), capabilities, config.poll_policy)
            .with_price(config.price);
        Ok(CloudConvert { config, http, info })
    }

    /// A provider configured from the environment (see [`Config::from_env`]).
    pub fn from_env() -> Result<Self> {
        CloudConvert::new(Config::from_env()?)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Names this instance in an error the pure functions made with the vendor's name.
    fn named(&self, e: Error) -> Error {
        e.renamed(NAME, &self.info.name)
    }

    fn api(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        endpoint(&self.config.base_url, segments, query)
    }

    /// Sends an API or sync request with the key; the success status, headers and body, or the
    /// parsed error.
    async fn call(
        &self,
        spec: RequestSpec,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<(StatusCode, HeaderMap, Bytes)> {
        let op = spec.operation();
        let response = self
            .http
            .send(spec.classify(classify), |client| {
                let mut rb = client
                    .request(method.clone(), url.clone())
                    .bearer_auth(self.config.api_key.expose())
                    .header(http::header::ACCEPT, "application/json");
                if let Some(body) = body {
                    rb = rb.json(body);
                }
                Ok(rb)
            })
            .await?;
        let (status, headers, bytes) = self.http.read_body(op, response, MAX_JSON).await?;
        if status.is_success() {
            Ok((status, headers, bytes))
        } else {
            Err(self.named(parse_error(op, status, &headers, &bytes)))
        }
    }

    /// A `{"data": Job}` answer: the wire job and the model's, owned by this instance.
    fn read_job(&self, body: &[u8], op: Operation) -> Result<(WireJob, Job)> {
        let (wire, raw) = parse_job(body, op).map_err(|e| self.named(e))?;
        let mut job = to_job(&wire, raw, op).map_err(|e| self.named(e))?;
        job.handle.provider = self.info.name.to_string();
        Ok((wire, job))
    }

    /// A job from `url` (a show, a sync wait): the wire job and the model's.
    async fn job_at(&self, spec: RequestSpec, url: Url) -> Result<(WireJob, Job)> {
        let op = spec.operation();
        let (_, _, body) = self.call(spec, Method::GET, url, None).await?;
        self.read_job(&body, op)
    }

    /// A page of `GET /jobs` with `query`: id and status of each job.
    async fn jobs(&self, query: &[(&str, &str)], op: Operation) -> Result<Vec<Job>> {
        let url = self.api(&["jobs"], query);
        let (_, _, body) = self
            .call(RequestSpec::new(op), Method::GET, url, None)
            .await?;
        let jobs = parse_jobs(&body, op).map_err(|e| self.named(e))?;
        Ok(jobs
            .iter()
            .map(|wire| {
                Job::new(
                    JobHandle::new(self.info.name.clone(), wire.id.clone()),
                    status(wire.status.as_deref()),
                )
            })
            .collect())
    }

    async fn get_wire(&self, id: &str, op: Operation) -> Result<(WireJob, Job)> {
        self.job_at(RequestSpec::new(op), self.api(&["jobs", id], &[]))
            .await
    }

    /// The job as it stands (`GET /jobs/{id}`), its tasks included.
    pub async fn get(&self, handle: &JobHandle) -> Result<Job> {
        self.get_wire(&handle.id, Operation::Poll)
            .await
            .map(|(_, job)| job)
    }

    /// The jobs tagged `tag` (`GET /jobs?filter[tag]=…`), newest first as the API lists them.
    pub async fn find_by_tag(&self, tag: &str) -> Result<Vec<Job>> {
        self.jobs(&[("filter[tag]", tag)], Operation::Submit).await
    }

    /// A page of jobs (`GET /jobs`), optionally only those of `status` (`waiting`,
    /// `processing`, `finished`, `error`): id and status each, without their tasks.
    pub async fn list(&self, status_filter: Option<&str>, page: Option<u32>) -> Result<Vec<Job>> {
        let page = page.map(|p| p.to_string());
        let mut query = Vec::new();
        if let Some(s) = status_filter {
            query.push(("filter[status]", s));
        }
        if let Some(p) = &page {
            query.push(("page", p.as_str()));
        }
        self.jobs(&query, Operation::Poll).await
    }

    /// `POST /jobs`: work starts as soon as its inputs are there, and nothing deduplicates it,
    /// so it is resent only when provably refused or never sent.
    async fn create(&self, body: &Value) -> Result<(WireJob, Job)> {
        let op = Operation::Submit;
        let spec = RequestSpec::new(op).replay(Replay::CreatesJob);
        let (_, _, bytes) = self
            .call(spec, Method::POST, self.api(&["jobs"], &[]), Some(body))
            .await?;
        self.read_job(&bytes, op)
    }

    /// The job tagged `tag`, read whole, when one exists.
    async fn tagged(&self, tag: &str) -> Result<Option<WireJob>> {
        match self.find_by_tag(tag).await?.first() {
            Some(found) => Ok(Some(
                self.get_wire(&found.handle.id, Operation::Submit).await?.0,
            )),
            None => Ok(None),
        }
    }

    async fn submit_inner(&self, request: &JobRequest) -> Result<JobHandle> {
        let own_key = request.idempotency_key.clone();
        let tag = own_key
            .clone()
            .unwrap_or_else(|| format!("mc-{}", uuid::Uuid::new_v4().simple()));
        let body = job_body(request, &tag).map_err(|e| self.named(e))?;
        // A key of the caller's own may have been sent by an earlier run: look before sending.
        let existing = match own_key {
            Some(_) => self.tagged(&tag).await?,
            None => None,
        };
        let wire = match existing {
            Some(wire) => {
                tracing::debug!(provider = %self.info.name, job = %wire.id, "a job with this tag exists: taking it up");
                wire
            }
            None => match self.create(&body).await {
                Ok((wire, _)) => wire,
                Err(e) if e.is_ambiguous() => {
                    // The create may have arrived (a 500 whose job ran anyway is on record):
                    // its tag says so before anything is sent again.
                    match self.tagged(&tag).await {
                        Ok(Some(wire)) => wire,
                        Ok(None) => self.create(&body).await?.0,
                        // Whether it landed is still unknown: the create's own error says more.
                        Err(_) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            },
        };
        let handle = JobHandle::new(self.info.name.clone(), wire.id.clone());
        multiconvert_core::journal::record_handle(&handle).await?;
        self.upload_missing(request, &wire)
            .await
            .map_err(|e| e.with_job(handle.clone()))?;
        Ok(handle)
    }

    /// Uploads every local input whose `import/upload` task still waits for its file (all of
    /// them after a create; those not yet arrived when a job is taken up again).
    async fn upload_missing(&self, request: &JobRequest, wire: &WireJob) -> Result<()> {
        for (i, input) in request.inputs.iter().enumerate() {
            if !needs_upload(input) {
                continue;
            }
            let name = import_task(i);
            let task = wire
                .tasks
                .iter()
                .find(|t| t.name.as_deref() == Some(name.as_str()))
                .ok_or_else(|| {
                    self.named(Error::new(
                        ErrorKind::Protocol,
                        NAME,
                        Operation::Upload,
                        format!("the job has no task {name}"),
                    ))
                })?;
            if task.status.as_deref() != Some("waiting") {
                continue; // arrived already (a job taken up again)
            }
            let form = task
                .result
                .as_ref()
                .and_then(|r| r.form.as_ref())
                .ok_or_else(|| {
                    self.named(Error::new(
                        ErrorKind::Protocol,
                        NAME,
                        Operation::Upload,
                        format!("the upload task {name} carries no form"),
                    ))
                })?;
            if let Err(e) = self
                .upload(form, input, request.upload_progress.clone())
                .await
            {
                // The storage may have taken the file before its answer was lost, and a resend
                // then finds the form used up: the task says whether the file arrived.
                let arrived = match self.get_wire(&wire.id, Operation::Upload).await {
                    Ok((now, _)) => now.tasks.iter().any(|t| {
                        t.name.as_deref() == Some(name.as_str())
                            && t.status.as_deref() != Some("waiting")
                    }),
                    Err(_) => false,
                };
                if !arrived {
                    return Err(e);
                }
                tracing::debug!(provider = %self.info.name, job = %wire.id, task = %name, error = %e,
                    "the upload's answer was lost but its file arrived");
            }
        }
        Ok(())
    }

    /// Posts `input` to an upload form: every parameter in the order given, then `file` (the
    /// storage takes the last part as the file). No key: the form's own signature authorises it.
    pub async fn upload(
        &self,
        form: &WireForm,
        input: &Input,
        progress: Option<Progress>,
    ) -> Result<()> {
        let op = Operation::Upload;
        let url = Url::parse(&form.url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base())
            .ok_or_else(|| {
                self.named(Error::new(
                    ErrorKind::Protocol,
                    NAME,
                    op,
                    "the upload form's URL is not an http(s) URL",
                ))
            })?;
        let filename = upload_filename(input);
        let source = UploadSource::of(input, NAME, op).await?.ok_or_else(|| {
            self.named(Error::new(
                ErrorKind::InvalidInput,
                NAME,
                op,
                "this input is not uploaded",
            ))
        })?;
        // A second POST of the same form stores the same key again: it cannot start a second
        // job, so a replayable body may be resent; a one-shot stream cannot be.
        let replay = if source.is_replayable() {
            Replay::Keyed
        } else {
            Replay::OneShot
        };
        let spec = RequestSpec::new(op)
            .replay(replay)
            .phase(Phase::Upload)
            .classify(classify);
        let response = self
            .http
            .send(spec, |client| {
                let mut multipart = reqwest::multipart::Form::new();
                for (k, v) in &form.parameters.0 {
                    multipart = multipart.text(k.clone(), v.clone());
                }
                let part = reqwest::multipart::Part::stream_with_length(
                    source.body(NAME, op, progress.as_ref())?,
                    source.len(),
                )
                .file_name(filename.clone());
                Ok(client
                    .post(url.clone())
                    .multipart(multipart.part("file", part)))
            })
            .await?;
        let (status, headers, body) = self.http.read_body(op, response, MAX_JSON).await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(self.http.status_error(op, status, &headers, &body, None))
        }
    }
}

#[async_trait]
impl ConversionProvider for CloudConvert {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }

    async fn submit(&self, request: &JobRequest) -> Result<JobHandle> {
        self.submit_inner(request).await
    }

    async fn poll(&self, handle: &JobHandle) -> Result<Job> {
        self.get(handle)
            .await
            .map_err(|e| e.with_job(handle.clone()))
    }

    /// `GET {sync}/jobs/{id}` on the sync host: it answers once the job finished or failed, so
    /// [`wait`](multiconvert_core::ProviderExt::wait) needs no poll. `None` where no sync host
    /// is configured (a custom API base without `CLOUDCONVERT_SYNC_BASE_URL`): waiting polls.
    /// Never resent: a request cut short (proxies end long requests) or an answer that cannot be
    /// read falls back to polling.
    async fn wait_blocking(&self, handle: &JobHandle, within: Duration) -> Option<Result<Job>> {
        let sync = self.config.sync_base_url.as_ref()?;
        let url = endpoint(sync, &["jobs", &handle.id], &[]);
        let spec = RequestSpec::new(Operation::Wait)
            .replay(Replay::OneShot)
            .timeout(within);
        match self.job_at(spec, url).await {
            Ok((_, job)) => Some(Ok(job)),
            // An answer that cannot be read says nothing about the job: polling finds out.
            Err(e) if e.kind() == ErrorKind::Protocol => {
                tracing::debug!(provider = %self.info.name, job = %handle.id, error = %e,
                    "the sync host's answer is unreadable: polling");
                None
            }
            Err(e) => Some(Err(e.with_job(handle.clone()))),
        }
    }

    fn webhook(&self, request: &WebhookRequest) -> Result<WebhookEvent> {
        let mut event = crate::webhook::parse_event(request, self.config.webhook_secret.as_ref())
            .map_err(|e| self.named(e))?;
        event.provider = self.info.name.to_string();
        Ok(event)
    }

    /// A job taken up after a crash: one whose uploads had not all arrived gets the rest; one
    /// the vendor does not know is submitted (its tag is looked up first, so a create that
    /// landed is never repeated).
    async fn resume(&self, handle: &JobHandle, request: &JobRequest) -> Result<JobHandle> {
        match self.get_wire(&handle.id, Operation::Poll).await {
            Ok((wire, _)) => {
                self.upload_missing(request, &wire).await?;
                Ok(handle.clone())
            }
            Err(e) if e.kind() == ErrorKind::NotFound => self.submit_inner(request).await,
            Err(e) => Err(e),
        }
    }

    /// A plain `GET` of the export URL through this provider's client (so record mode sees it),
    /// with no key: the storage gets nothing secret, so redirects may be followed.
    async fn download(&self, output: &Output) -> Result<ByteStream> {
        let url = output
            .url
            .as_deref()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                self.named(Error::new(
                    ErrorKind::Protocol,
                    NAME,
                    Operation::Download,
                    "the output has no URL",
                ))
            })?;
        self.http
            .download(url, HeaderMap::new(), false)
            .await
            .map_err(|e| self.named(e))
    }

    async fn delete(&self, handle: &JobHandle) -> Result<()> {
        let url = self.api(&["jobs", &handle.id], &[]);
        self.call(
            RequestSpec::new(Operation::Delete),
            Method::DELETE,
            url,
            None,
        )
        .await
        .map(|_| ())
        .map_err(|e| e.with_job(handle.clone()))
    }
}
