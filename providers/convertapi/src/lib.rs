//! # multiconvert-convertapi
//!
//! [ConvertAPI](https://www.convertapi.com)'s **Async / JobId** model as a multiconvert
//! [`ConversionProvider`](multiconvert_core::ConversionProvider), on both documented routes:
//!
//! | | current (default) | legacy |
//! |---|---|---|
//! | submit | `POST /async/convert/{from}/to/{to}` | `POST /convert/{from}/to/{to}?Async=true` |
//! | poll, delete | `GET`/`DELETE /async/job/{id}` | `GET`/`DELETE /job/{id}` |
//! | WebHook | `POST {"JobId"}` | `GET ?JobId=` |
//! | client JobId | 32 `[a-z0-9]` | RFC 4122 UUID |
//!
//! Poll answers: 200 result, 202 running, 404 unknown or expired, 503 another poll in flight
//! (busy, not an error), other 5xx with `{Code, Message}` a failed conversion. On submit or
//! upload the same 5xx is a server fault: the JobId is polled first, and when no job can
//! complete the error is failover-eligible; nothing is resent without that check.
//!
//! Semi-async ([`ConvertApi::convert_sync`]) sends a UUID JobId to the synchronous endpoint and
//! recovers on the legacy `/job/{id}` route whatever route is configured; a WebHook's JobId
//! format names the route its job lives on, so confirming it polls there. Give each instance a
//! name ([`ConfigBuilder::name`]) when one application runs several.
//!
//! The secret goes in `Authorization: Bearer` (never in a URL unless [`AuthMode::Query`] is chosen
//! for an old deployment). Configuration from the environment: `CONVERTAPI_SECRET`,
//! `CONVERTAPI_BASE_URL`, `CONVERTAPI_ASYNC_ROUTE`.
#![warn(missing_docs)]

pub mod config;
pub mod provider;
pub mod request;
pub mod response;
pub mod webhook;
pub mod wire;

pub use config::{
    default_poll_policy, AsyncRoute, AuthMode, Config, ConfigBuilder, SubmitStyle,
    DEFAULT_BASE_URL, DEFAULT_HELD_LIMIT,
};
pub use provider::ConvertApi;

/// The provider's name.
pub const NAME: &str = "convertapi";
