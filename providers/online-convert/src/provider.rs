//! The provider: the only place in this crate that does I/O.

use std::fmt;

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use multiconvert_core::config::endpoint;
use multiconvert_core::failover::FormatCatalog;
use multiconvert_core::http::{HttpClient, Phase, Replay, RequestSpec};
use multiconvert_core::upload::Progress;
use multiconvert_core::{
    ByteStream, Capabilities, Conversion, ConversionProvider, Delivery, Error, ErrorKind, Input,
    Job, JobConversion, JobHandle, JobInput, JobRequest, JobStatus, JsonMap, Operation, Output,
    ProviderInfo, Result, Secret, UploadSource, WebhookEvent, WebhookRequest,
};
use serde_json::{json, Value};
use url::Url;

use crate::config::{Config, SubmitMode, WebhookVerification};
use crate::request::{
    check_order, check_positions, content_type_for, conversion_json, input_json, job_body,
    multipart_filename, needs_upload, order_body, update_body, InputOrder, JobUpdate,
};
use crate::response::{
    check_outputs_listed, job_conversion, job_input, parse_added, parse_error, parse_job, to_job,
};
use crate::wire::{
    CatalogEntry, HistoryEntry, StatusInfo, WireConversion, WireInput, WireJob, WireUploadReply,
};
use crate::NAME;

/// The header that carries the account key.
pub const API_KEY_HEADER: &str = "x-oc-api-key";
/// The header that carries a job's token.
pub const TOKEN_HEADER: &str = "x-oc-token";
/// The header that carries a download password.
pub const DOWNLOAD_PASSWORD_HEADER: &str = "X-Api2convert-Download-Password";

const MAX_JSON: usize = 16 << 20;

/// A page of `GET /jobs`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct JobPage {
    /// The jobs on this page.
    pub jobs: Vec<Job>,
    /// The total over all pages (`X-Count`), when sent.
    pub total: Option<u64>,
}

/// The online-convert / api2convert v2 job API as a [`ConversionProvider`], plus an inherent API
/// for the step-by-step job flow and the PATCH endpoints.
///
/// ```no_run
/// use multiconvert_core::{Conversion, Input, JobRequest, ProviderExt};
/// use multiconvert_online_convert::OnlineConvert;
/// # async fn run() -> multiconvert_core::Result<()> {
/// let oc = OnlineConvert::from_env()?;
/// let request = JobRequest::new(Input::path("report.docx"), Conversion::to("pdf"));
/// let job = oc.convert(&request, &Default::default()).await?;
/// # let _ = job; Ok(()) }
/// ```
pub struct OnlineConvert {
    config: Config,
    http: HttpClient,
    info: ProviderInfo,
    targets: tokio::sync::OnceCell<std::collections::BTreeSet<String>>,
}

impl fmt::Debug for OnlineConvert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnlineConvert")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn with_op(e: Error, op: Operation) -> Error {
    e.with_operation(op)
}

impl OnlineConvert {
    /// A provider from a configuration.
    pub fn new(config: Config) -> Result<Self> {
        let http = HttpClient::new(config.name.clone(), config.http.clone())?;
        let capabilities = Capabilities::new()
            .with_remote_service(true)
            .with_remote_input(true)
            .with_upload(true)
            .with_base64(true)
            .with_cloud_input(true)
            .with_file_id_input(true)
            .with_multiple_inputs(true)
            .with_multiple_conversions(true)
            .with_output_targets(true)
            .with_webhooks(true)
            .with_signed_webhooks(matches!(config.webhook, WebhookVerification::Secret(_)))
            .with_delete(true)
            .with_staged_jobs(true)
            .with_idempotent_submit(config.submit_mode == SubmitMode::TwoPhase);
        let info = ProviderInfo::new(config.name.clone(), capabilities, config.poll_policy)
            .with_price(config.price);
        Ok(OnlineConvert {
            config,
            http,
            info,
            targets: tokio::sync::OnceCell::new(),
        })
    }

    /// A provider configured from the environment (see [`Config::from_env`]).
    pub fn from_env() -> Result<Self> {
        OnlineConvert::new(Config::from_env()?)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Names this instance in an error the pure functions made with the vendor's name.
    fn named(&self, e: Error) -> Error {
        e.renamed(NAME, &self.info.name)
    }

    /// Names this instance in a job the pure functions made with the vendor's name.
    fn owned(&self, mut job: Job) -> Job {
        job.handle.provider = self.info.name.to_string();
        job
    }

    fn endpoint(&self, segments: &[&str]) -> Url {
        endpoint(&self.config.base_url, segments, &[])
    }

    /// Sends a control-plane request with the account key; returns the success status, headers
    /// and body, or the parsed error.
    async fn call(
        &self,
        spec: RequestSpec,
        method: Method,
        url: Url,
        body: Option<&Value>,
        headers: &[(&'static str, String)],
    ) -> Result<(StatusCode, HeaderMap, Bytes)> {
        let op = spec.operation();
        let response = self
            .http
            .send(spec, |client| {
                let mut rb = client
                    .request(method.clone(), url.clone())
                    .header(API_KEY_HEADER, self.config.api_key.expose())
                    .header(http::header::ACCEPT, "application/json");
                for (name, value) in headers {
                    rb = rb.header(*name, value);
                }
                if let Some(body) = body {
                    rb = rb.json(body);
                }
                Ok(rb)
            })
            .await?;
        let (status, headers, body) = self.http.read_body(op, response, MAX_JSON).await?;
        if status.is_success() {
            Ok((status, headers, body))
        } else {
            Err(self.named(parse_error(op, status, &headers, &body)))
        }
    }

    async fn call_job(
        &self,
        spec: RequestSpec,
        method: Method,
        url: Url,
        body: Option<&Value>,
        headers: &[(&'static str, String)],
    ) -> Result<(WireJob, Job)> {
        let op = spec.operation();
        let (status, resp_headers, bytes) = self.call(spec, method, url, body, headers).await?;
        if status == StatusCode::NO_CONTENT {
            // The create endpoint answers 204 with an error body when it got no usable JSON.
            return Err(self.named(parse_error(op, status, &resp_headers, &bytes)));
        }
        let (wire, raw) = parse_job(&bytes, op).map_err(|e| self.named(e))?;
        check_outputs_listed(&wire, &raw, &bytes, op).map_err(|e| self.named(e))?;
        let job = self.owned(to_job(&wire, raw));
        Ok((wire, job))
    }

    fn job_url(&self, handle: &JobHandle, rest: &[&str]) -> Url {
        let mut segments = vec!["jobs", handle.id.as_str()];
        segments.extend_from_slice(rest);
        self.endpoint(&segments)
    }

    /// Creates a job **staged** (`process: false`) with every input that needs no upload and every
    /// conversion of `request`; nothing converts until [`start`](Self::start). Safe to retry: an
    /// orphaned staged job never converts anything. Sends an `Idempotency-Key`.
    pub async fn create(&self, request: &JobRequest) -> Result<Job> {
        self.create_job(request, false).await.map(|(_, job)| job)
    }

    async fn create_job(&self, request: &JobRequest, process: bool) -> Result<(WireJob, Job)> {
        let body = job_body(request, process)?;
        let key = request
            .idempotency_key
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        // A staged create starts nothing, so resending it is harmless; a create that starts work
        // is resent only when provably refused or never sent.
        let replay = if process {
            Replay::CreatesJob
        } else {
            Replay::Keyed
        };
        self.call_job(
            RequestSpec::new(Operation::Submit).replay(replay),
            Method::POST,
            self.endpoint(&["jobs"]),
            Some(&body),
            &[("idempotency-key", key)],
        )
        .await
    }

    /// Adds one input to a staged job (`POST /jobs/{id}/input`); a local input is uploaded instead.
    /// Returns the new input as the vendor reports it (its id is what the PATCH endpoints take).
    pub async fn add_input(&self, handle: &JobHandle, input: &Input) -> Result<JobInput> {
        if needs_upload(input) {
            return self.upload(handle, input).await;
        }
        let op = Operation::Other("add_input");
        let body = input_json(input)?.ok_or_else(|| {
            Error::new(ErrorKind::InvalidInput, NAME, op, "this input is uploaded")
        })?;
        let (_, _, bytes) = self
            .call(
                RequestSpec::new(op),
                Method::POST,
                self.job_url(handle, &["input"]),
                Some(&body),
                &[],
            )
            .await?;
        parse_added(&bytes, op, |i: &WireInput| &i.id)
            .map(|wire| job_input(&wire))
            .map_err(|e| self.named(e))
    }

    /// Adds several inputs that need no upload in one request (the endpoint takes an array);
    /// returns them as the vendor reports them, in order.
    pub async fn add_inputs(&self, handle: &JobHandle, inputs: &[Input]) -> Result<Vec<JobInput>> {
        let op = Operation::Other("add_inputs");
        let body = inputs
            .iter()
            .map(|i| {
                input_json(i)?.ok_or_else(|| {
                    Error::new(
                        ErrorKind::InvalidInput,
                        NAME,
                        op,
                        "local files are uploaded one by one: use add_input",
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let (_, _, bytes) = self
            .call(
                RequestSpec::new(op),
                Method::POST,
                self.job_url(handle, &["input"]),
                Some(&Value::Array(body)),
                &[],
            )
            .await?;
        // One input per element sent; a lone object is accepted for a one-element array.
        let added: Vec<WireInput> = match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Array(items)) => items
                .into_iter()
                .map(serde_json::from_value)
                .collect::<std::result::Result<_, _>>()
                .unwrap_or_default(),
            Ok(one @ Value::Object(_)) => serde_json::from_value(one)
                .map(|i| vec![i])
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        if added.len() != inputs.len() || added.iter().any(|i| i.id.trim().is_empty()) {
            return Err(self.named(
                Error::new(
                    ErrorKind::Protocol,
                    NAME,
                    op,
                    format!("the reply does not list the {} inputs added", inputs.len()),
                )
                .with_body(&bytes),
            ));
        }
        Ok(added.iter().map(job_input).collect())
    }

    /// Adds a conversion to a staged job (`POST /jobs/{id}/conversions`); returns it as the vendor
    /// reports it (its id is what [`patch_conversion`](Self::patch_conversion) takes).
    pub async fn add_conversion(
        &self,
        handle: &JobHandle,
        conversion: &Conversion,
    ) -> Result<JobConversion> {
        let op = Operation::Other("add_conversion");
        let body = conversion_json(conversion)?;
        let (_, _, bytes) = self
            .call(
                RequestSpec::new(op),
                Method::POST,
                self.job_url(handle, &["conversions"]),
                Some(&body),
                &[],
            )
            .await?;
        parse_added(&bytes, op, |c: &WireConversion| &c.id)
            .map(|wire| job_conversion(&wire))
            .map_err(|e| self.named(e))
    }

    /// Uploads a local input (path, bytes or reader) to the job's server, streamed as multipart
    /// `file`, authenticated with the job token only (the account key never reaches the upload
    /// host). Returns the new input.
    ///
    /// A path or bytes upload that fails ambiguously is reconciled: the job is read back, and the
    /// file is sent again only if no input arrived; should the first send land after all, it is
    /// deleted before this returns. A one-shot reader is never resent.
    pub async fn upload(&self, handle: &JobHandle, input: &Input) -> Result<JobInput> {
        let job = self.get(handle).await?;
        let before = job.inputs.len();
        let (arrived, resent) = self.upload_reconciled(handle, input, before, None).await?;
        if resent {
            let mut kept: Vec<String> = job.inputs.into_iter().map(|i| i.id).collect();
            kept.push(arrived.id.clone());
            self.drop_late_uploads(handle, 0, &kept).await?;
        }
        Ok(arrived)
    }

    /// Uploads `input`; after an ambiguous failure, reads the job back and sends it again only
    /// if it did not arrive. Returns the input and whether it was sent again (the first send
    /// may still land later: see [`drop_late_uploads`](Self::drop_late_uploads)).
    async fn upload_reconciled(
        &self,
        handle: &JobHandle,
        input: &Input,
        inputs_before: usize,
        progress: Option<Progress>,
    ) -> Result<(JobInput, bool)> {
        let upload_id = uuid::Uuid::new_v4().simple().to_string();
        match self
            .upload_once(handle, input, &upload_id, progress.clone())
            .await
        {
            Ok(id) => Ok((id, false)),
            Err(e) if input.is_replayable() && e.is_ambiguous() => {
                tracing::debug!(provider = NAME, job = %handle.id, "upload outcome unknown: reading the job back");
                let mut job = self.get(handle).await?;
                if job.inputs.len() > inputs_before {
                    if let Some(arrived) = job.inputs.pop() {
                        return Ok((arrived, false));
                    }
                }
                self.upload_once(handle, input, &upload_id, progress.clone())
                    .await
                    .map(|input| (input, true))
            }
            Err(e) => Err(e),
        }
    }

    /// Before a job whose upload was sent twice starts: an input that is neither one the job
    /// was created with (its first `created_with`) nor one of `kept` is the first send of a
    /// re-sent upload, landed after all; it is deleted, so the job converts each file once. (A
    /// first send landing after the start is refused by the vendor: uploads go to staged jobs
    /// only.)
    async fn drop_late_uploads(
        &self,
        handle: &JobHandle,
        created_with: usize,
        kept: &[String],
    ) -> Result<()> {
        let job = self.get(handle).await?;
        for late in job
            .inputs
            .iter()
            .skip(created_with)
            .filter(|i| !kept.contains(&i.id))
        {
            tracing::debug!(provider = NAME, job = %handle.id, input = %late.id, "a re-sent upload's first send landed late: deleting it");
            let deleted = self
                .call(
                    RequestSpec::new(Operation::Upload),
                    Method::DELETE,
                    self.job_url(handle, &["input", &late.id]),
                    None,
                    &[],
                )
                .await;
            match deleted {
                // Gone already (a retried delete that had done its work): as wanted.
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                other => {
                    other?;
                }
            }
        }
        Ok(())
    }

    async fn upload_once(
        &self,
        handle: &JobHandle,
        input: &Input,
        upload_id: &str,
        progress: Option<Progress>,
    ) -> Result<JobInput> {
        let op = Operation::Upload;
        let fail = |kind, message: &str| Error::new(kind, NAME, op, message.to_owned());
        let server = handle
            .server
            .as_deref()
            .ok_or_else(|| fail(ErrorKind::Protocol, "the job has no upload server"))?;
        let token = handle
            .token
            .clone()
            .ok_or_else(|| fail(ErrorKind::Protocol, "the job has no token"))?;
        let server = Url::parse(server)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base())
            .ok_or_else(|| {
                fail(
                    ErrorKind::Protocol,
                    "the job's upload server is not an http(s) URL",
                )
            })?;
        let url = endpoint(&server, &["upload-file", &handle.id], &[]);
        let filename = multipart_filename(input.effective_filename().as_deref());
        let content_type = content_type_for(&filename);
        let password = input.password.clone();

        let source = UploadSource::of(input, NAME, op)
            .await?
            .ok_or_else(|| fail(ErrorKind::InvalidInput, "this input is not uploaded"))?;
        // An upload adds an input (a second one would be converted too): resent only when
        // provably refused or never sent; ambiguity is reconciled by the caller.
        let replay = if source.is_replayable() {
            Replay::CreatesJob
        } else {
            Replay::OneShot
        };
        let spec = RequestSpec::new(op).replay(replay).phase(Phase::Upload);
        let response = self
            .http
            .send(spec, |client| {
                let part = reqwest::multipart::Part::stream_with_length(
                    source.body(NAME, op, progress.as_ref())?,
                    source.len(),
                );
                let part = part
                    .file_name(filename.clone())
                    .mime_str(content_type)
                    .map_err(|_| fail(ErrorKind::InvalidInput, "bad content type"))?;
                let mut form = reqwest::multipart::Form::new().part("file", part);
                if let Some(pw) = &password {
                    form = form.text("decrypt_password", pw.expose().clone());
                }
                Ok(client
                    .post(url.clone())
                    .header(TOKEN_HEADER, token.expose())
                    .header("x-oc-upload-uuid", upload_id)
                    .header(http::header::ACCEPT, "application/json")
                    .multipart(form))
            })
            .await?;
        let (status, headers, body) = self.http.read_body(op, response, MAX_JSON).await?;
        if !status.is_success() {
            return Err(self.named(parse_error(op, status, &headers, &body)));
        }
        let reply: WireUploadReply = serde_json::from_slice(&body).map_err(|_| {
            fail(ErrorKind::Protocol, "the upload reply is not an input").with_body(&body)
        })?;
        let id = reply
            .input_id()
            .map(str::to_owned)
            .ok_or_else(|| fail(ErrorKind::Protocol, "the upload reply has no input id"))?;
        Ok(match reply {
            WireUploadReply::Input(wire) => job_input(&wire),
            // The nested form names only the ids: the rest is what we sent.
            WireUploadReply::Nested { .. } => {
                let mut input = JobInput::new(id);
                input.kind = Some("upload".into());
                input.filename = Some(filename);
                input
            }
        })
    }

    /// Starts a staged job (`PATCH /jobs/{id}` `{"process": true}`), optionally setting its
    /// callback. Starting a job that already runs is a [`Conflict`](ErrorKind::Conflict) error
    /// (the vendor's 409). An ambiguous failure is resolved by reading the job back: the start is
    /// sent again only if the job is still staged, and a 409 to that second start means the first
    /// one went through after all.
    pub async fn start(&self, handle: &JobHandle, callback: Option<&Url>) -> Result<Job> {
        let mut body = json!({"process": true});
        if let Some(cb) = callback {
            body["callback"] = Value::String(cb.to_string());
        }
        let spec = RequestSpec::new(Operation::Submit).replay(Replay::CreatesJob);
        let url = self.job_url(handle, &[]);
        let first = self
            .call_job(spec, Method::PATCH, url.clone(), Some(&body), &[])
            .await;
        let error = match first {
            Ok((_, job)) => return Ok(job),
            Err(e) if e.is_ambiguous() => e,
            Err(e) => return Err(e.with_job(handle.clone())),
        };
        let job = self.get(handle).await?;
        if !job.status.is_staged() {
            return Ok(job);
        }
        tracing::debug!(provider = %self.info.name, job = %handle.id, error = %error, "start outcome unknown and the job is still staged: starting again");
        match self
            .call_job(spec, Method::PATCH, url, Some(&body), &[])
            .await
        {
            Ok((_, job)) => Ok(job),
            Err(e) if e.kind() == ErrorKind::Conflict => {
                let job = self.get(handle).await?;
                if job.status.is_staged() {
                    Err(e.with_job(handle.clone()))
                } else {
                    Ok(job)
                }
            }
            Err(e) => Err(e.with_job(handle.clone())),
        }
    }

    /// Changes a job's settings without starting it (`PATCH /jobs/{id}`): callback,
    /// `notify_status`, `fail_on_input_error`, `fail_on_conversion_error`, download passwords.
    /// An empty update is refused before any request. Returns the job as the vendor reports it.
    pub async fn update_job(&self, handle: &JobHandle, update: &JobUpdate) -> Result<Job> {
        let op = Operation::Other("update_job");
        let body = update_body(update).map_err(|e| self.named(e))?;
        let (_, mut job) = self
            .call_job(
                RequestSpec::new(op),
                Method::PATCH,
                self.job_url(handle, &[]),
                Some(&body),
                &[],
            )
            .await?;
        if job.handle.token.is_none() {
            job.handle.token = handle.token.clone();
        }
        Ok(job)
    }

    /// Reads a job (`GET /jobs/{id}`).
    pub async fn get(&self, handle: &JobHandle) -> Result<Job> {
        let (_, mut job) = self
            .call_job(
                RequestSpec::new(Operation::Poll),
                Method::GET,
                self.job_url(handle, &[]),
                None,
                &[],
            )
            .await?;
        // The vendor does not echo the token on every read; keep the one we have.
        if job.handle.token.is_none() {
            job.handle.token = handle.token.clone();
        }
        Ok(job)
    }

    /// Lists jobs (`GET /jobs`), optionally by status, 50 per page from page 1. A 204 is an empty
    /// page. [`list_all`](Self::list_all) walks every page.
    pub async fn list(&self, status: Option<&JobStatus>, page: Option<u32>) -> Result<JobPage> {
        let op = Operation::Other("list");
        let page = page.map(|p| p.to_string());
        let status = status.map(status_code);
        let query: Vec<(&str, &str)> = [("status", status), ("page", page.as_deref())]
            .into_iter()
            .filter_map(|(k, v)| Some((k, v?)))
            .collect();
        let url = endpoint(&self.config.base_url, &["jobs"], &query);
        let (status, headers, body) = self
            .call(RequestSpec::new(op), Method::GET, url, None, &[])
            .await?;
        let total = headers
            .get("x-count")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        if status == StatusCode::NO_CONTENT || body.is_empty() {
            return Ok(JobPage {
                jobs: Vec::new(),
                total,
            });
        }
        let items: Vec<Value> = serde_json::from_slice(&body).map_err(|_| {
            self.named(
                Error::new(
                    ErrorKind::Protocol,
                    NAME,
                    op,
                    "the reply is not a list of jobs",
                )
                .with_body(&body),
            )
        })?;
        let jobs = items
            .into_iter()
            .map(|v| {
                let bytes = serde_json::to_vec(&v).unwrap_or_default();
                parse_job(&bytes, op).map(|(wire, raw)| self.owned(to_job(&wire, raw)))
            })
            .collect::<Result<Vec<_>>>()
            .map_err(|e| self.named(e))?;
        Ok(JobPage { jobs, total })
    }

    /// Every job, optionally of one status, page after page: a stream that asks for the next
    /// page only when the previous one is used up, and ends at an empty page (a 204) or once the
    /// `X-Count` total is reached. An error ends it.
    ///
    /// ```no_run
    /// use futures_util::TryStreamExt;
    /// use multiconvert_core::JobStatus;
    /// # async fn run(oc: multiconvert_online_convert::OnlineConvert) -> multiconvert_core::Result<()> {
    /// let failed: Vec<_> = oc.list_all(Some(JobStatus::Failed)).try_collect().await?;
    /// # let _ = failed; Ok(()) }
    /// ```
    pub fn list_all(
        &self,
        status: Option<JobStatus>,
    ) -> impl futures_util::Stream<Item = Result<Job>> + Send + '_ {
        use futures_util::TryStreamExt;
        // (next page, jobs seen so far, whether the last page was the last)
        futures_util::stream::try_unfold((1u32, 0u64, false), move |(page, seen, last)| {
            let status = status.clone();
            async move {
                if last {
                    return Ok(None);
                }
                let listed = self.list(status.as_ref(), Some(page)).await?;
                if listed.jobs.is_empty() {
                    return Ok(None);
                }
                let seen = seen + listed.jobs.len() as u64;
                let last = listed.total.is_some_and(|total| seen >= total) || page == u32::MAX;
                let jobs = futures_util::stream::iter(listed.jobs.into_iter().map(Ok));
                Ok(Some((jobs, (page + 1, seen, last))))
            }
        })
        .try_flatten()
    }

    async fn get_list<T: serde::de::DeserializeOwned>(
        &self,
        op: &'static str,
        url: Url,
    ) -> Result<Vec<T>> {
        let op = Operation::Other(op);
        let (status, _, body) = self
            .call(RequestSpec::new(op), Method::GET, url, None, &[])
            .await?;
        if status == StatusCode::NO_CONTENT || body.is_empty() {
            return Ok(Vec::new());
        }
        serde_json::from_slice(&body).map_err(|_| {
            self.named(
                Error::new(
                    ErrorKind::Protocol,
                    NAME,
                    op,
                    "the reply is not the expected list",
                )
                .with_body(&body),
            )
        })
    }

    /// A job's status history (`GET /jobs/{id}/history`).
    pub async fn history(&self, handle: &JobHandle) -> Result<Vec<HistoryEntry>> {
        self.get_list("history", self.job_url(handle, &["history"]))
            .await
    }

    /// Every status code the API uses (`GET /statuses`).
    pub async fn statuses(&self) -> Result<Vec<StatusInfo>> {
        self.get_list("statuses", self.endpoint(&["statuses"]))
            .await
    }

    /// The conversions catalog (`GET /conversions`), optionally filtered.
    pub async fn conversions(
        &self,
        category: Option<&str>,
        target: Option<&str>,
        page: Option<u32>,
    ) -> Result<Vec<CatalogEntry>> {
        let page = page.map(|p| p.to_string());
        let query: Vec<(&str, &str)> = [
            ("category", category),
            ("target", target),
            ("page", page.as_deref()),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect();
        let url = endpoint(&self.config.base_url, &["conversions"], &query);
        self.get_list("conversions", url).await
    }

    /// A PATCH whose answer only needs to be a success; an empty change is refused before any
    /// request.
    async fn patch(&self, op: &'static str, url: Url, body: &Value) -> Result<()> {
        if body.as_object().is_some_and(|o| o.is_empty()) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                NAME,
                Operation::Other(op),
                "nothing to change",
            ));
        }
        self.call(
            RequestSpec::new(Operation::Other(op)),
            Method::PATCH,
            url,
            Some(body),
            &[],
        )
        .await
        .map(|_| ())
    }

    /// Reorders a staged job's inputs (`PATCH /jobs/{id}/input`): positions from 1 up to the
    /// job's input count, slide durations 0.1–120 s. Values out of range are refused before any
    /// request; the input count is read from the job before the change is sent.
    pub async fn reorder_inputs(&self, handle: &JobHandle, orders: &[InputOrder]) -> Result<()> {
        check_order(orders)?;
        let job = self.get(handle).await?;
        check_positions(orders, job.inputs.len())?;
        self.patch(
            "reorder_inputs",
            self.job_url(handle, &["input"]),
            &order_body(orders),
        )
        .await
    }

    /// Sets the password that opens an input (`PATCH /jobs/{id}/input/{input}`); only before
    /// the job starts.
    pub async fn set_decrypt_password(
        &self,
        handle: &JobHandle,
        input_id: &str,
        password: &Secret,
    ) -> Result<()> {
        let body = json!({"credentials": {"decrypt_password": password.expose()}});
        self.patch(
            "set_decrypt_password",
            self.job_url(handle, &["input", input_id]),
            &body,
        )
        .await
    }

    /// Changes a conversion's options and/or metadata (`PATCH /jobs/{id}/conversions/{c}`).
    pub async fn patch_conversion(
        &self,
        handle: &JobHandle,
        conversion_id: &str,
        options: Option<JsonMap>,
        metadata: Option<JsonMap>,
    ) -> Result<()> {
        let mut body = json!({});
        if let Some(o) = options {
            body["options"] = Value::Object(o);
        }
        if let Some(m) = metadata {
            body["metadata"] = Value::Object(m);
        }
        self.patch(
            "patch_conversion",
            self.job_url(handle, &["conversions", conversion_id]),
            &body,
        )
        .await
    }

    /// Renames an output and/or protects its download with a password
    /// (`PATCH /jobs/{id}/output/{o}`).
    pub async fn patch_output(
        &self,
        handle: &JobHandle,
        output_id: &str,
        filename: Option<&str>,
        download_password: Option<&Secret>,
    ) -> Result<()> {
        let op = Operation::Other("patch_output");
        let mut body = json!({});
        if let Some(name) = filename {
            if name.contains(['/', '\\', '\0']) || name.trim().is_empty() {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    NAME,
                    op,
                    "the file name must be a plain name",
                ));
            }
            body["filename"] = Value::String(name.into());
        }
        if let Some(pw) = download_password {
            body["download_password"] = Value::String(pw.expose().clone());
        }
        self.patch(
            "patch_output",
            self.job_url(handle, &["output", output_id]),
            &body,
        )
        .await
    }

    /// Streams an output protected with a download password. The password travels only in its
    /// header, on a request that follows no redirect.
    pub async fn download_with_password(
        &self,
        output: &Output,
        password: &Secret,
    ) -> Result<ByteStream> {
        let url = output_url(output)?;
        let mut headers = HeaderMap::new();
        let value = HeaderValue::from_str(password.expose()).map_err(|_| {
            Error::new(
                ErrorKind::InvalidInput,
                NAME,
                Operation::Download,
                "the download password is not a valid header value",
            )
        })?;
        headers.insert(DOWNLOAD_PASSWORD_HEADER, value);
        self.http.download(url, headers, true).await
    }
}

fn output_url(output: &Output) -> Result<&str> {
    output
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
        })
}

/// The vendor's code for a status, as `GET /jobs?status=` takes it.
fn status_code(status: &JobStatus) -> &str {
    status.as_str()
}

/// The most catalog pages read for format lookups (the catalog is paged).
const MAX_CATALOG_PAGES: u32 = 50;

/// Format lookups from the conversions catalog (`GET /conversions`, read once, all pages). The
/// catalog lists targets, not sources: a target it lists is supported from any source.
#[async_trait]
impl FormatCatalog for OnlineConvert {
    async fn supports(&self, _source: &str, target: &str) -> Result<Option<bool>> {
        let targets = self
            .targets
            .get_or_try_init(|| async {
                let mut targets = std::collections::BTreeSet::new();
                for page in 1..=MAX_CATALOG_PAGES {
                    let entries = self.conversions(None, None, Some(page)).await?;
                    if entries.is_empty() {
                        break;
                    }
                    targets.extend(entries.into_iter().map(|e| e.target.to_ascii_lowercase()));
                }
                Ok::<_, Error>(targets)
            })
            .await?;
        Ok(Some(targets.contains(&target.to_ascii_lowercase())))
    }
}

#[async_trait]
impl ConversionProvider for OnlineConvert {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }

    async fn submit(&self, request: &JobRequest) -> Result<JobHandle> {
        self.submit_inner(request).await.map_err(|e| self.named(e))
    }

    async fn poll(&self, handle: &JobHandle) -> Result<Job> {
        self.get(handle).await
    }

    fn webhook(&self, request: &WebhookRequest) -> Result<WebhookEvent> {
        let mut event = crate::webhook::parse_event(request, &self.config.webhook)
            .map_err(|e| self.named(e))?;
        event.provider = self.info.name.to_string();
        Ok(event)
    }

    async fn resume(&self, handle: &JobHandle, request: &JobRequest) -> Result<JobHandle> {
        self.resume_inner(handle, request)
            .await
            .map_err(|e| self.named(e))
    }

    async fn delete(&self, handle: &JobHandle) -> Result<()> {
        self.call(
            RequestSpec::new(Operation::Delete),
            Method::DELETE,
            self.job_url(handle, &[]),
            None,
            &[],
        )
        .await
        .map(|_| ())
    }

    async fn download(&self, output: &Output) -> Result<ByteStream> {
        // No key, no token: the download host gets nothing secret, so redirects may be followed.
        self.http
            .download(output_url(output)?, HeaderMap::new(), false)
            .await
            .map_err(|e| self.named(e))
    }
}

/// Before the start nothing converts: an ambiguous failure leaves at most a staged orphan.
fn staged(e: Error) -> Error {
    if e.delivery() == Delivery::Ambiguous {
        e.with_delivery(Delivery::NoJobStarted)
    } else {
        e
    }
}

impl OnlineConvert {
    async fn submit_inner(&self, request: &JobRequest) -> Result<JobHandle> {
        crate::request::check_complete(request)?;
        let uploads: Vec<&Input> = request.inputs.iter().filter(|i| needs_upload(i)).collect();
        // A signed callback needs the job id, known only after the create: start separately.
        let one_shot = self.config.submit_mode == SubmitMode::OneShot
            && uploads.is_empty()
            && !request.needs_job_id_for_callback();
        if one_shot {
            // Work starts with the create: the journal learns the handle once it exists (a crash
            // before that is the one window the one-shot mode keeps open; see `SubmitMode`).
            let (_, job) = self.create_job(request, true).await?;
            multiconvert_core::journal::record_handle(&job.handle).await?;
            return Ok(job.handle);
        }
        let (wire, job) = self.create_job(request, false).await.map_err(staged)?;
        let handle = job.handle;
        multiconvert_core::journal::record_handle(&handle).await?;
        self.finish_staged(request, &handle, wire.input.len(), uploads)
            .await?;
        Ok(handle)
    }

    /// Uploads `uploads` to a staged job that holds `inputs_before` inputs, then starts it.
    async fn finish_staged(
        &self,
        request: &JobRequest,
        handle: &JobHandle,
        inputs_before: usize,
        uploads: Vec<&Input>,
    ) -> Result<()> {
        let handle = handle.clone();
        let created_with = inputs_before;
        let mut kept = Vec::new();
        let mut resent = false;
        for (inputs_before, input) in (inputs_before..).zip(uploads) {
            let (arrived, again) = self
                .upload_reconciled(
                    &handle,
                    input,
                    inputs_before,
                    request.upload_progress.clone(),
                )
                .await
                .map_err(|e| staged(with_op(e, Operation::Upload)))?;
            kept.push(arrived.id);
            resent |= again;
        }
        if resent {
            self.drop_late_uploads(&handle, created_with, &kept)
                .await
                .map_err(|e| staged(with_op(e, Operation::Upload)))?;
        }
        let callback = request
            .needs_job_id_for_callback()
            .then(|| request.callback_for(&handle.id))
            .flatten();
        self.start(&handle, callback.as_ref())
            .await
            .map_err(|e| e.with_job(handle.clone()))?;
        Ok(())
    }

    /// [`resume`](ConversionProvider::resume): a job still staged was left while its inputs
    /// uploaded; the uploads that did not arrive are sent and the job is started.
    async fn resume_inner(&self, handle: &JobHandle, request: &JobRequest) -> Result<JobHandle> {
        let job = match self.get(handle).await {
            Ok(job) => job,
            Err(e) if e.kind() == ErrorKind::NotFound => return self.submit_inner(request).await,
            Err(e) => return Err(e),
        };
        if !job.status.is_staged() {
            return Ok(handle.clone());
        }
        let uploads: Vec<&Input> = request.inputs.iter().filter(|i| needs_upload(i)).collect();
        // The create sent every input that needs no upload; uploads arrive in order after them.
        let created_with = request.inputs.len() - uploads.len();
        let arrived = job.inputs.len().saturating_sub(created_with);
        let missing = uploads.into_iter().skip(arrived).collect();
        tracing::debug!(provider = %self.info.name, job = %handle.id, arrived, "resuming a staged job");
        self.finish_staged(request, handle, job.inputs.len(), missing)
            .await?;
        Ok(handle.clone())
    }
}
