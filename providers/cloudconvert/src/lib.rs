//! # multiconvert-cloudconvert
//!
//! CloudConvert's v2 API as a multiconvert
//! [`ConversionProvider`](multiconvert_core::ConversionProvider). CloudConvert's model is a
//! **job made of named tasks** that reference each other: a [`JobRequest`](multiconvert_core::JobRequest)
//! becomes one import task per input (`import/url`, `import/upload`, `import/base64`, or a cloud
//! import), one `convert` task per input and conversion (its options flattened into the task),
//! a cloud export per output target, and one `export/url` task that makes every result
//! downloadable.
//!
//! - Local files are uploaded to the storage form each `import/upload` task returns (every form
//!   parameter in its order, then `file`), never with the API key.
//! - Every job carries a `tag`: the request's idempotency key, or a fresh one. A create whose
//!   outcome is unknown (a timeout, a 5xx) is looked up by that tag (`filter[tag]`) before it
//!   is sent again, and a request with a key of its own is looked up before its first send, so a
//!   resumed submit never creates a second job.
//! - Tasks are visible as the job's [`inputs`](multiconvert_core::Job::inputs) (import tasks)
//!   and [`conversions`](multiconvert_core::Job::conversions) (convert tasks); a failed task is
//!   a message with its `code`, its `message` and the task's name.
//! - Waiting ([`ProviderExt::wait`](multiconvert_core::ProviderExt::wait), and so `convert`)
//!   takes one request on the sync host, which answers when the job has ended; without a sync
//!   host it polls.
//! - Webhooks (`CloudConvert-Signature`, HMAC-SHA256 of the raw body) are checked in constant time
//!   when a signing secret is configured; an empty secret is refused, never skipped. The job's
//!   `webhook_url` is sent as given: a per-job token
//!   ([`JobRequest::sign_callback`](multiconvert_core::JobRequest::sign_callback)) cannot be put
//!   in it, since the job id comes with the create's answer, so configure the signing secret and
//!   a receiver accepts CloudConvert's events as verified.
//!
//! Configuration from the environment: `CLOUDCONVERT_API_KEY`, `CLOUDCONVERT_BASE_URL` (the API
//! base, ending in `/v2`), `CLOUDCONVERT_SYNC_BASE_URL`, `CLOUDCONVERT_SANDBOX=1`,
//! `CLOUDCONVERT_WEBHOOK_SECRET`.
#![warn(missing_docs)]

pub mod config;
pub mod provider;
pub mod request;
pub mod response;
pub mod webhook;
pub mod wire;

pub use config::{Config, ConfigBuilder, DEFAULT_BASE_URL, DEFAULT_SYNC_BASE_URL};
pub use provider::CloudConvert;

/// The provider's name.
pub const NAME: &str = "cloudconvert";
