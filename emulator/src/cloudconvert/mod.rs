//! CloudConvert v2, as `../shared/reference/cloudconvert.md` describes it: jobs as graphs of named
//! tasks, uploads through each `import/upload` task's S3-style form on a storage host that takes no
//! API key, exports as URLs, the sync host that answers once a job has ended, and `job.finished` /
//! `job.failed` webhooks signed with `CloudConvert-Signature`.
//!
//! Layout on its port: the API under `/v2`, the sync host under `/sync/v2` (so the Python SDK's
//! `endpoint` is the port's root and its `sync_endpoint` the root plus `/sync`), the storage under
//! `/storage`. Strict: a request without the key, the key sent to the storage, a form field after
//! the file or an upload without `Content-Length` (S3 takes no chunked body) is refused and counted
//! as a violation.
//!
//! Laid out as the reference is: the three routers below are §1's hosts; §2's jobs are in `jobs`,
//! §3's tasks and §4's task endpoints in `tasks`, the task graph played to its end in `processing`,
//! §6's webhooks in `callbacks`, the storage host's upload forms and export files in `uploads` and
//! `downloads`, `/users/me` in `account`; `objects` renders jobs and tasks and `common` holds §1's
//! authentication and §5's error bodies; `records` is what the emulator remembers of a job.

mod account;
mod callbacks;
mod common;
mod downloads;
mod jobs;
mod objects;
mod processing;

pub(crate) mod records;
mod tasks;
mod uploads;

pub(crate) use common::throttled;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;

use crate::state::Shared;
use account::me;
use common::error;
use downloads::download;
use jobs::{create, delete, list, show, wait};
use tasks::{show_task, wait_task};
use uploads::upload;

/// The API's routes (nested under `/v2`).
pub(crate) fn api(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/jobs", post(create).get(list))
        .route("/jobs/{id}", get(show).delete(delete))
        .route("/tasks/{id}", get(show_task))
        .route("/users/me", get(me))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "NOT_FOUND", "Not found") })
        .with_state(shared)
}

/// The sync host's routes (nested under `/sync/v2`): they answer once the job or task ended.
/// `GET /jobs/{id}/wait` is accepted too (one third-party summary names it; **UNVERIFIED**).
pub(crate) fn sync(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/jobs/{id}", get(wait))
        .route("/jobs/{id}/wait", get(wait))
        .route("/tasks/{id}", get(wait_task))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "NOT_FOUND", "Not found") })
        .with_state(shared)
}

/// The storage host (nested under `/storage`): upload forms and export files, no key.
pub(crate) fn storage(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/upload/{task}", post(upload))
        .route("/files/{task}/{name}", get(download))
        .with_state(shared)
}
