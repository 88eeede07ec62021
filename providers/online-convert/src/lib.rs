//! # multiconvert-online-convert
//!
//! The online-convert / api2convert v2 **job API** as a multiconvert
//! [`ConversionProvider`](multiconvert_core::ConversionProvider): async, streaming both ways,
//! never leaking the account key or the job token, proven against recorded and transcribed
//! traffic by the shared conformance suite.
//!
//! - `submit` is **two-phase** by default: the job is created staged (`process: false`) with its
//!   remote, cloud and base64 inputs and its conversions, local files are uploaded to the job's
//!   server with the job token, then `PATCH {"process": true}` starts it. Each step is retried or
//!   reconciled without ever running a second conversion. [`SubmitMode::OneShot`] trades that for
//!   one round trip.
//! - The inherent API of [`OnlineConvert`] covers the step-by-step flow and the PATCH endpoints:
//!   [`create`](OnlineConvert::create), [`add_input`](OnlineConvert::add_input),
//!   [`add_conversion`](OnlineConvert::add_conversion) (each returns the input or conversion
//!   with the id the PATCH endpoints take; every [`Job`](multiconvert_core::Job) lists them too),
//!   [`update_job`](OnlineConvert::update_job) (settings, not started),
//!   [`start`](OnlineConvert::start) (a second start is a `Conflict`),
//!   [`list`](OnlineConvert::list) and [`list_all`](OnlineConvert::list_all) (every page, as a
//!   stream), [`history`](OnlineConvert::history),
//!   [`statuses`](OnlineConvert::statuses), [`reorder_inputs`](OnlineConvert::reorder_inputs),
//!   [`set_decrypt_password`](OnlineConvert::set_decrypt_password),
//!   [`patch_conversion`](OnlineConvert::patch_conversion),
//!   [`patch_output`](OnlineConvert::patch_output), [`conversions`](OnlineConvert::conversions).
//! - Callbacks: [`Config`] with a webhook secret requires a valid `X-Oc-Signature`; without one,
//!   events are marked unverified.
//!
//! Configuration from the environment: `API2CONVERT_API_KEY` (or `ONLINE_CONVERT_API_KEY`),
//! `API2CONVERT_BASE_URL`, `API2CONVERT_WEBHOOK_SECRET`.
#![warn(missing_docs)]

pub mod cloud;
pub mod config;
pub mod provider;
pub mod request;
pub mod response;
pub mod webhook;
pub mod wire;

pub use config::{
    default_poll_policy, Config, ConfigBuilder, SubmitMode, WebhookVerification, DEFAULT_BASE_URL,
};
pub use provider::{JobPage, OnlineConvert};
pub use request::{InputOrder, JobUpdate};

/// The provider's name.
pub const NAME: &str = "online-convert";
