//! Local inputs as request bodies: streamed from disk or memory, rebuilt for every attempt where
//! that is possible.

use std::path::PathBuf;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};

use crate::error::{Error, ErrorKind, Operation, Result};
use crate::http::file_stream;
use crate::model::{Input, InputSource};
use crate::reader::ReaderSource;

pub use crate::progress::{Progress, ProgressEvent};

/// The bytes of a local input, ready to become a request body: a path is reopened and a byte
/// buffer shared on every attempt, so both can be retried; a reader is streamed once.
#[derive(Clone, Debug)]
pub enum UploadSource {
    /// A file and its length, measured when the upload starts.
    Path(PathBuf, u64),
    /// Bytes in memory.
    Bytes(Bytes),
    /// A one-shot reader.
    Reader(ReaderSource),
}

impl UploadSource {
    /// The upload source of a local input (path, bytes, reader); `None` for any other input.
    pub async fn of(input: &Input, provider: &str, operation: Operation) -> Result<Option<Self>> {
        Ok(Some(match &input.source {
            InputSource::Path(p) => {
                let meta = tokio::fs::metadata(p).await.map_err(|e| {
                    Error::new(
                        ErrorKind::Io,
                        provider.to_owned(),
                        operation,
                        format!("cannot read {}", p.display()),
                    )
                    .with_source(e)
                })?;
                if !meta.is_file() {
                    return Err(Error::new(
                        ErrorKind::InvalidInput,
                        provider.to_owned(),
                        operation,
                        format!("{} is not a file", p.display()),
                    ));
                }
                UploadSource::Path(p.clone(), meta.len())
            }
            InputSource::Bytes(b) => UploadSource::Bytes(b.clone()),
            InputSource::Reader(r) => UploadSource::Reader(r.clone()),
            _ => return Ok(None),
        }))
    }

    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            UploadSource::Path(_, len) => *len,
            UploadSource::Bytes(b) => b.len() as u64,
            UploadSource::Reader(r) => r.length,
        }
    }

    /// True when it has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// False only for a reader: it cannot be sent twice.
    pub fn is_replayable(&self) -> bool {
        !matches!(self, UploadSource::Reader(_))
    }

    /// A fresh body for one attempt, streamed 64 KiB at a time, reporting each chunk sent to
    /// `progress`. A reader's second attempt is an error (it was consumed by the first).
    pub fn body(
        &self,
        provider: &str,
        operation: Operation,
        progress: Option<&Progress>,
    ) -> Result<reqwest::Body> {
        let stream = match (self, progress) {
            // One buffer, nobody watching: no need to cut it up.
            (UploadSource::Bytes(b), None) => return Ok(reqwest::Body::from(b.clone())),
            _ => self.stream(provider, operation)?,
        };
        Ok(match progress {
            Some(progress) => {
                progress.restart();
                let progress = progress.clone();
                reqwest::Body::wrap_stream(
                    stream.inspect_ok(move |chunk| progress.advance(chunk.len() as u64)),
                )
            }
            None => reqwest::Body::wrap_stream(stream),
        })
    }

    fn stream(
        &self,
        provider: &str,
        operation: Operation,
    ) -> Result<BoxStream<'static, std::io::Result<Bytes>>> {
        Ok(match self {
            UploadSource::Path(p, _) => file_stream(p.clone()).boxed(),
            UploadSource::Bytes(b) => {
                let b = b.clone();
                let chunks: Vec<std::io::Result<Bytes>> = (0..b.len())
                    .step_by(CHUNK)
                    .map(|start| Ok(b.slice(start..(start + CHUNK).min(b.len()))))
                    .collect();
                futures_util::stream::iter(chunks).boxed()
            }
            UploadSource::Reader(r) => {
                let reader = r.take().ok_or_else(|| {
                    Error::new(
                        ErrorKind::InvalidInput,
                        provider.to_owned(),
                        operation,
                        "the reader input was already consumed",
                    )
                })?;
                tokio_util::io::ReaderStream::with_capacity(reader, CHUNK).boxed()
            }
        })
    }
}

/// The size of the chunks a body is streamed in.
const CHUNK: usize = 64 * 1024;
