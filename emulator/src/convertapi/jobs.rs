//! An async job by its JobId (`../shared/reference/convertapi.md` §7): polls answering 200
//! (result), 202 (running), 404 (unknown or expired), 503 (another poll in flight), 5xx (the
//! conversion failed), and DELETE, on both routes.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::api::{authorize, error, json_status, S};
use super::records::{CaRoute, CaState};
use crate::faults::{self, Fault};
use crate::state::Shared;

pub(super) async fn poll_legacy(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    poll(shared, id, CaRoute::Legacy, uri, headers).await
}

pub(super) async fn poll_current(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    poll(shared, id, CaRoute::Current, uri, headers).await
}

/// Clears a job's in-flight poll mark when the poll ends, however it ends.
struct PollGuard<'a> {
    shared: &'a Shared,
    id: String,
}

impl Drop for PollGuard<'_> {
    fn drop(&mut self) {
        if let Some(job) = self.shared.lock().ca_jobs.get_mut(&self.id) {
            job.polling = false;
        }
    }
}

async fn poll(
    shared: Arc<Shared>,
    id: String,
    route: CaRoute,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let op = "ca.poll";
    let fault = shared.enter(op);
    if let Err(r) = authorize(&shared, op, &uri, &headers) {
        return r;
    }
    shared.polled(&id);
    if fault == Some(Fault::Busy) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let state = {
        let mut inner = shared.lock();
        match inner.ca_jobs.get_mut(&id) {
            None => None,
            Some(job) if job.route != route => Some(Err(job.route)),
            Some(job) if job.polling => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
            Some(job) => {
                job.polling = true;
                Some(Ok(job.state.clone()))
            }
        }
    };
    let state = match state {
        None => {
            return error(
                StatusCode::NOT_FOUND,
                4040,
                "The job does not exist or expired.",
            )
        }
        Some(Err(lives_on)) => {
            shared.violation(
                op,
                "wrong_route",
                format!("job {id} lives on the {lives_on:?} route"),
            );
            return error(
                StatusCode::NOT_FOUND,
                4040,
                "The job does not exist or expired.",
            );
        }
        Some(Ok(state)) => state,
    };
    let _guard = PollGuard {
        shared: &shared,
        id,
    };
    if let Some(r) = faults::before(fault.as_ref(), "ca").await {
        return r;
    }
    let response = match state {
        CaState::Running => StatusCode::ACCEPTED.into_response(),
        CaState::Done(result) => json_status(StatusCode::OK, result),
        CaState::Failed(status, body) => json_status(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body,
        ),
    };
    faults::after(fault.as_ref(), response)
}

pub(super) async fn delete_legacy(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    delete_job(shared, id, CaRoute::Legacy, uri, headers).await
}

pub(super) async fn delete_current(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    delete_job(shared, id, CaRoute::Current, uri, headers).await
}

async fn delete_job(
    shared: Arc<Shared>,
    id: String,
    route: CaRoute,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let op = "ca.delete";
    let fault = shared.enter(op);
    if let Some(r) = faults::before(fault.as_ref(), "ca").await {
        return r;
    }
    if let Err(r) = authorize(&shared, op, &uri, &headers) {
        return r;
    }
    let removed = {
        let mut inner = shared.lock();
        match inner.ca_jobs.get(&id) {
            Some(job) if job.route == route => inner.ca_jobs.remove(&id).is_some(),
            Some(_) => {
                drop(inner);
                shared.violation(
                    op,
                    "wrong_route",
                    format!("job {id} lives on the other route"),
                );
                false
            }
            None => false,
        }
    };
    let response = if removed {
        StatusCode::OK.into_response()
    } else {
        error(
            StatusCode::NOT_FOUND,
            4040,
            "The job does not exist or was deleted.",
        )
    };
    faults::after(fault.as_ref(), response)
}
