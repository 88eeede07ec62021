//! ConvertAPI v2, as `../shared/reference/convertapi.md` describes it: raw uploads, the sync
//! convert (semi-async with a client UUID JobId), both async routes with their own JobId formats,
//! polls answering 200/202/404/503/5xx, both WebHook shapes, stored results under `/d/`.
//!
//! Laid out as the reference is: [`router`] lists the routes; §2's authentication and §4's error
//! bodies are in `api`, §3's convert (sync, semi-async and the async submit of §7) in `convert`,
//! §5's upload in `uploads`, §7's polls and deletes of a job in `jobs`, its WebHook in `callbacks`,
//! the stored results under `/d/` in `downloads`, §6's account and metadata in `account`. `records`
//! is what the emulator remembers (stored files, async jobs).

mod account;
mod api;
mod callbacks;
mod convert;
mod downloads;
mod jobs;

pub(crate) mod records;
mod uploads;

pub(crate) use api::throttled;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;

use crate::state::Shared;
use account::{can_convert, user};
use api::error;
use convert::{convert_current, convert_legacy};
use downloads::{delete_file, download, download_named};
use jobs::{delete_current, delete_legacy, poll_current, poll_legacy};
use uploads::upload;

/// The routes, at the root of the ConvertAPI base URL.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/upload", post(upload))
        .route("/convert/{from}/to/{to}", post(convert_legacy))
        .route("/async/convert/{from}/to/{to}", post(convert_current))
        .route("/job/{id}", get(poll_legacy).delete(delete_legacy))
        .route("/async/job/{id}", get(poll_current).delete(delete_current))
        .route("/d/{id}", get(download).delete(delete_file))
        .route("/d/{id}/{name}", get(download_named))
        .route("/info/canconvert/{from}/to/{to}", get(can_convert))
        .route("/user", get(user))
        .fallback(|| async { error(StatusCode::NOT_FOUND, 4040, "Not found") })
        .with_state(shared)
}
