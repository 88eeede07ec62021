//! Bytes in flight: an output streamed from a vendor or an engine, with what the server said about
//! its length and type. What the transport hands up and the saving code takes.

use std::fmt;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;

use crate::error::Result;

/// A stream of an output's bytes, with what the server said about its length and type.
pub struct ByteStream {
    /// The bytes.
    pub stream: Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>,
    /// The announced length (`Content-Length`), when known.
    pub content_length: Option<u64>,
    /// The announced media type, when known.
    pub content_type: Option<String>,
}

impl ByteStream {
    /// Wraps a stream.
    pub fn new(
        stream: impl Stream<Item = Result<Bytes>> + Send + 'static,
        content_length: Option<u64>,
        content_type: Option<String>,
    ) -> Self {
        ByteStream {
            stream: Box::pin(stream),
            content_length,
            content_type,
        }
    }
}

impl fmt::Debug for ByteStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByteStream")
            .field("content_length", &self.content_length)
            .field("content_type", &self.content_type)
            .finish_non_exhaustive()
    }
}
