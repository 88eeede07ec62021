//! Conversions for both emulated vendors, done for real by in-process providers.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::TryStreamExt;
use multiconvert_core::{
    Conversion, ConversionProvider, ErrorKind, Input, JobRequest, JobStatus, JsonMap, ProviderExt,
};

/// One produced file.
#[derive(Clone, Debug)]
pub struct Produced {
    /// Its name: the input's stem and the target's extension.
    pub filename: String,
    /// Its bytes.
    pub bytes: Bytes,
    /// Its media type.
    pub content_type: String,
}

/// Why a conversion did not produce anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The pair is not one any engine converts.
    Unsupported(String),
    /// The input or an option is bad (the input's fault).
    Input(String),
    /// The input is a password-protected document.
    Protected(String),
}

impl Refusal {
    /// The text to show.
    pub fn message(&self) -> &str {
        match self {
            Refusal::Unsupported(m) | Refusal::Input(m) | Refusal::Protected(m) => m,
        }
    }
}

/// The providers that do the work, asked in order.
#[derive(Clone, Debug)]
pub struct Engine {
    providers: Vec<Arc<dyn ConversionProvider>>,
}

impl Engine {
    /// An engine over `providers`.
    pub fn new(providers: Vec<Arc<dyn ConversionProvider>>) -> Self {
        Engine { providers }
    }

    /// Whether some provider converts `source` to `target`.
    pub fn supports(&self, source: &str, target: &str) -> bool {
        self.providers
            .iter()
            .any(|p| p.info().capabilities.supports(source, target) == Some(true))
    }

    /// Every target some provider can produce from some source.
    pub fn targets(&self) -> Vec<String> {
        let mut targets: Vec<String> = self
            .providers
            .iter()
            .filter_map(|p| p.info().capabilities.formats())
            .flat_map(|table| table.iter().flat_map(|(_, to)| to.iter()))
            .map(|t| t.to_string())
            .collect();
        targets.sort();
        targets.dedup();
        targets
    }

    /// Converts `bytes` (named `filename`) to `target` with `options`.
    pub async fn convert(
        &self,
        bytes: Bytes,
        filename: &str,
        target: &str,
        options: &JsonMap,
    ) -> Result<Vec<Produced>, Refusal> {
        let source = filename
            .rsplit_once('.')
            .map(|(_, ext)| ext.to_ascii_lowercase())
            .unwrap_or_default();
        let provider = self
            .providers
            .iter()
            .find(|p| {
                source.is_empty() || p.info().capabilities.supports(&source, target) == Some(true)
            })
            .ok_or_else(|| {
                Refusal::Unsupported(format!("no conversion from {source} to {target}"))
            })?;
        let mut conversion = Conversion::to(target);
        conversion.options = options.clone();
        let request = JobRequest::new(Input::bytes(bytes, filename.to_owned()), conversion);
        let policy = provider.info().poll_policy;
        let job = match provider.convert(&request, &policy).await {
            Ok(job) => job,
            Err(e) => {
                // The engines' own checks (the office provider's input inspection among them)
                // become the vendor's input errors.
                return Err(match (e.kind(), e.provider_code()) {
                    (ErrorKind::Unsupported, _) => Refusal::Unsupported(e.message().to_owned()),
                    (_, Some("password_protected")) => Refusal::Protected(e.message().to_owned()),
                    _ => Refusal::Input(e.message().to_owned()),
                });
            }
        };
        debug_assert_eq!(job.status, JobStatus::Completed);
        let mut produced = Vec::with_capacity(job.outputs.len());
        for output in &job.outputs {
            let stream = provider
                .download(output)
                .await
                .map_err(|e| Refusal::Input(e.message().to_owned()))?;
            let chunks: Vec<Bytes> = stream
                .stream
                .try_collect()
                .await
                .map_err(|e| Refusal::Input(e.message().to_owned()))?;
            produced.push(Produced {
                filename: output
                    .filename
                    .clone()
                    .unwrap_or_else(|| format!("output.{target}")),
                bytes: Bytes::from(chunks.concat()),
                content_type: output
                    .content_type
                    .clone()
                    .unwrap_or_else(|| "application/octet-stream".into()),
            });
        }
        // The engine's own job is of no further use: its files live in the vendor's state now.
        let _ = provider.delete(&job.handle).await;
        Ok(produced)
    }
}
