//! A small but real provider for an invented JSON job API ("toy"), to prove the harness. It has
//! switches that break it in the ways real providers break, so tests can show the suite notices.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, KeyInit, Mac};
use multiconvert_core::http::{HttpClient, HttpConfig, Phase, Replay, RequestSpec, RetryPolicy};
use multiconvert_core::{
    ByteStream, Capabilities, Checksum, ConversionProvider, Error, ErrorKind, InputSource, Job,
    JobHandle, JobMessage, JobRequest, JobStatus, Operation, Output, PollPolicy, ProviderInfo,
    Result, Secret, WebhookEvent, WebhookRequest,
};
use serde_json::{json, Value};
use sha2::Sha256;

/// Ways to break the toy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Breakage {
    /// Reports a failed job as completed.
    FailedLooksCompleted,
    /// Puts the API key in error messages.
    LeaksKeyInErrors,
    /// Sends the API key to the download host.
    KeyToDownloadHost,
    /// Accepts webhooks without checking the signature.
    TrustsWebhooks,
    /// Polls twice per call (an extra request the cassette does not expect).
    DoublePoll,
}

#[derive(Debug)]
pub struct Toy {
    info: ProviderInfo,
    base: String,
    key: Secret,
    webhook_secret: Secret,
    http: HttpClient,
    broken: Option<Breakage>,
}

const NAME: &str = "toy";

impl Toy {
    pub fn build(base: &str, broken: Option<Breakage>) -> Arc<dyn ConversionProvider> {
        let caps = Capabilities::new()
            .with_remote_service(true)
            .with_remote_input(true)
            .with_upload(true)
            .with_delete(true)
            .with_webhooks(true)
            .with_signed_webhooks(true)
            .with_idempotent_submit(true);
        let config = HttpConfig::default().with_retry(
            RetryPolicy::default()
                .with_backoff(Duration::from_millis(10), Duration::from_millis(50)),
        );
        Arc::new(Toy {
            info: ProviderInfo::new(NAME, caps, PollPolicy::default()),
            base: base.trim_end_matches('/').to_owned(),
            key: Secret::new(multiconvert_conformance::fake_secret("api_key")),
            webhook_secret: Secret::new(multiconvert_conformance::fake_secret("webhook_secret")),
            http: HttpClient::new(NAME, config).expect("client"),
            broken,
        })
    }

    async fn call(
        &self,
        spec: RequestSpec,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        extra: &[(&str, String)],
    ) -> Result<Value> {
        let url = format!("{}{}", self.base, path);
        let op = spec.operation();
        let response = self
            .http
            .send(spec, |client| {
                let mut rb = client
                    .request(method.clone(), &url)
                    .header("x-toy-key", self.key.expose());
                for (k, v) in extra {
                    rb = rb.header(*k, v);
                }
                if let Some(body) = &body {
                    rb = rb.json(body);
                }
                Ok(rb)
            })
            .await?;
        let (status, headers, bytes) = self.http.read_body(op, response, 1 << 20).await?;
        if !status.is_success() {
            let message = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_owned));
            let message = if self.broken == Some(Breakage::LeaksKeyInErrors) {
                Some(format!(
                    "{} (key {})",
                    message.unwrap_or_default(),
                    self.key.expose()
                ))
            } else {
                message
            };
            return Err(self
                .http
                .status_error(op, status, &headers, &bytes, message));
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|_| {
            Error::new(ErrorKind::Protocol, NAME, op, "the reply is not JSON").with_body(&bytes)
        })
    }

    fn job_from(&self, v: &Value, op: Operation) -> Result<Job> {
        let id = v["id"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::new(ErrorKind::Protocol, NAME, op, "the job has no id"))?;
        let mut status = JobStatus::parse(v["status"].as_str().unwrap_or_default());
        if status == JobStatus::Failed && self.broken == Some(Breakage::FailedLooksCompleted) {
            status = JobStatus::Completed;
        }
        let mut job = Job::new(JobHandle::new(NAME, id), status);
        for o in v["outputs"].as_array().into_iter().flatten() {
            let mut out = Output::new(o["url"].as_str().unwrap_or_default());
            if let Some(n) = o["filename"].as_str() {
                out = out.with_filename(n);
            }
            if let Some(n) = o["size"].as_u64() {
                out = out.with_size(n);
            }
            if let Some(m) = o["md5"].as_str() {
                out = out.with_checksum(Checksum::Md5(m.into()));
            }
            job.outputs.push(out);
        }
        for e in v["errors"].as_array().into_iter().flatten() {
            job.messages.push(
                JobMessage::error(e["message"].as_str().unwrap_or_default())
                    .with_code(e["code"].to_string()),
            );
        }
        job.raw = Some(v.clone());
        Ok(job)
    }
}

#[async_trait]
impl ConversionProvider for Toy {
    fn info(&self) -> &ProviderInfo {
        &self.info
    }

    async fn submit(&self, request: &JobRequest) -> Result<JobHandle> {
        let input = &request.inputs[0];
        let conversion = &request.conversions[0];
        let mut body = json!({"target": conversion.target, "from": conversion.source_format});
        match &input.source {
            InputSource::Remote(url) => body["source"] = json!(url.as_str()),
            InputSource::Path(_) | InputSource::Bytes(_) => {
                let bytes = match &input.source {
                    InputSource::Path(path) => tokio::fs::read(path).await.map_err(|e| {
                        Error::new(ErrorKind::Io, NAME, Operation::Upload, "cannot read")
                            .with_source(e)
                    })?,
                    InputSource::Bytes(b) => b.to_vec(),
                    _ => unreachable!("matched above"),
                };
                let url = format!("{}/uploads", self.base);
                let name = input.effective_filename().unwrap_or_default();
                let spec = RequestSpec::new(Operation::Upload).phase(Phase::Upload);
                let response = self
                    .http
                    .send(spec, |c| {
                        Ok(c.post(&url)
                            .header("x-toy-key", self.key.expose())
                            .header("x-filename", name.clone())
                            .body(bytes.clone()))
                    })
                    .await?;
                let (_, _, b) = self
                    .http
                    .read_body(Operation::Upload, response, 1 << 16)
                    .await?;
                let v: Value = serde_json::from_slice(&b).unwrap_or_default();
                body["file_id"] = v["file_id"].clone();
            }
            _ => {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    NAME,
                    Operation::Submit,
                    "toy takes URLs, paths and bytes",
                ))
            }
        }
        let key = request
            .idempotency_key
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let v = self
            .call(
                RequestSpec::new(Operation::Submit).replay(Replay::Keyed),
                reqwest::Method::POST,
                "/jobs",
                Some(body),
                &[("idempotency-key", key)],
            )
            .await?;
        Ok(self.job_from(&v, Operation::Submit)?.handle)
    }

    async fn poll(&self, handle: &JobHandle) -> Result<Job> {
        let path = format!("/jobs/{}", handle.id);
        let spec = RequestSpec::new(Operation::Poll);
        if self.broken == Some(Breakage::DoublePoll) {
            self.call(spec, reqwest::Method::GET, &path, None, &[])
                .await?;
        }
        let v = self
            .call(spec, reqwest::Method::GET, &path, None, &[])
            .await?;
        self.job_from(&v, Operation::Poll)
    }

    fn webhook(&self, request: &WebhookRequest) -> Result<WebhookEvent> {
        let reject = |m: &str| Error::new(ErrorKind::WebhookRejected, NAME, Operation::Webhook, m);
        let check = self.broken != Some(Breakage::TrustsWebhooks);
        if check {
            let sig = request
                .header("x-toy-signature")
                .and_then(|s| hex::decode(s).ok())
                .ok_or_else(|| reject("missing signature"))?;
            let mut mac = Hmac::<Sha256>::new_from_slice(self.webhook_secret.expose().as_bytes())
                .expect("any key length");
            mac.update(&request.body);
            mac.verify_slice(&sig)
                .map_err(|_| reject("bad signature"))?;
        }
        let v: Value = serde_json::from_slice(&request.body).map_err(|_| reject("not JSON"))?;
        let id = v["id"].as_str().ok_or_else(|| reject("no job id"))?;
        let mut event = WebhookEvent::unverified(NAME, id);
        event.status = v["status"].as_str().map(JobStatus::parse);
        event.verified = check;
        Ok(event)
    }

    async fn delete(&self, handle: &JobHandle) -> Result<()> {
        self.call(
            RequestSpec::new(Operation::Delete),
            reqwest::Method::DELETE,
            &format!("/jobs/{}", handle.id),
            None,
            &[],
        )
        .await
        .map(|_| ())
    }

    async fn download(&self, output: &Output) -> Result<ByteStream> {
        let mut headers = reqwest::header::HeaderMap::new();
        if self.broken == Some(Breakage::KeyToDownloadHost) {
            headers.insert("x-toy-key", self.key.expose().parse().expect("header"));
        }
        self.http
            .download(output.url.as_deref().unwrap_or_default(), headers, false)
            .await
    }
}
