//! # multiconvert-core
//!
//! The vendor-neutral heart of multiconvert: one model of a conversion job, one
//! [`ConversionProvider`] trait that every vendor crate implements, and what all providers share —
//! waiting with backoff ([`PollPolicy`]), the single HTTP retry loop ([`http`]), streaming,
//! verified, atomic downloads ([`download`]) and secrets that never print ([`Secret`]).
//!
//! ```no_run
//! use std::sync::Arc;
//! use multiconvert_core::{ConversionProvider, Conversion, Input, JobRequest, ProviderExt, SaveOptions};
//!
//! async fn run(provider: Arc<dyn ConversionProvider>) -> multiconvert_core::Result<()> {
//!     let request = JobRequest::new(Input::path("photo.png"), Conversion::to("jpg"));
//!     let policy = provider.info().poll_policy;
//!     let job = provider.convert(&request, &policy).await?;
//!     // Every output, under distinct names even where the vendor's names collide.
//!     for saved in provider.save_all(&job, "out".as_ref(), &SaveOptions::default()).await? {
//!         println!("{} ({} bytes)", saved.path.display(), saved.size);
//!     }
//!     Ok(())
//! }
//! ```
#![warn(missing_docs)]

pub mod callback;
pub mod capabilities;
pub mod config;
pub mod cost;
pub mod disk_jobs;
pub mod download;
pub mod error;
pub mod failover;
pub mod handle;
pub mod http;
pub mod journal;
pub mod model;
pub mod pace;
pub mod poll;
pub mod progress;
pub mod provider;
pub mod reader;
#[cfg(feature = "axum")]
pub mod receiver;
pub mod redact;
pub mod secret;
mod seen;
pub mod shared;
pub mod spend;
pub mod status;
pub mod stream;
pub mod tap;
pub mod upload;
pub mod wrappers;

pub use callback::CallbackSigner;
pub use capabilities::{Capabilities, FormatTable, ProviderInfo};
pub use cost::{Cost, Price};
pub use disk_jobs::DiskJobs;
pub use download::{
    distinct_filenames, remove_partial_saves, safe_filename, Overwrite, SaveOptions, Saved,
};
pub use error::{Attempt, Delivery, Error, ErrorKind, Operation, Result};
pub use model::{
    Checksum, CloudLocation, Conversion, Input, InputKind, InputSource, Job, JobConversion,
    JobHandle, JobInput, JobMessage, JobRequest, JobStatus, JsonMap, Output, ReaderSource,
    Severity, WebhookEvent, WebhookRequest, VENDOR_SOURCE,
};
pub use poll::PollPolicy;
pub use provider::{failed_job_error, ByteStream, ConversionProvider, ProviderExt};
pub use secret::Secret;
pub use upload::UploadSource;

pub use ::http as http_types;
/// Re-exported so providers and applications name the same versions.
pub use async_trait::async_trait;
pub use bytes;
pub use reqwest;
pub use url;
