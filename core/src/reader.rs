//! An input the application hands in as a reader: carried by the model, taken once by the transport
//! that streams it (`upload`). The one place the model names an I/O type.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio::io::AsyncRead;

type BoxReader = Pin<Box<dyn AsyncRead + Send + 'static>>;

/// A one-shot async reader with a known length. The first provider to [`take`](Self::take) it
/// owns it; clones share it, so a request can be cloned but its reader is still read once.
#[derive(Clone)]
pub struct ReaderSource {
    reader: Arc<Mutex<Option<BoxReader>>>,
    /// The exact number of bytes the reader yields.
    pub length: u64,
}

impl fmt::Debug for ReaderSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReaderSource({} bytes)", self.length)
    }
}

impl ReaderSource {
    /// Wraps a reader.
    pub fn new(reader: impl AsyncRead + Send + 'static, length: u64) -> Self {
        ReaderSource {
            reader: Arc::new(Mutex::new(Some(Box::pin(reader)))),
            length,
        }
    }
    /// Takes the reader; `None` once it has been taken.
    pub fn take(&self) -> Option<BoxReader> {
        self.reader
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }
}
