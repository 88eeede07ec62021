//! One job looked up or edited under the shared lock: a staged job's parts (inputs, conversions)
//! changed only before it starts, its status set with its history
//! (`../shared/reference/online-convert.md` §6).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::api::{error, Json};
use super::objects::info;
use super::records::OcJob;
use crate::state::{now, Shared};

pub(super) fn set_status(job: &mut OcJob, status: &str) {
    job.status = status.to_owned();
    job.info = info(status).to_owned();
    job.modified_at = now();
    let id = (job.history.len() + 1).to_string();
    job.history
        .push((id, status.to_owned(), job.modified_at.clone()));
}

pub(super) fn staged_status(job: &OcJob) -> &'static str {
    if job.inputs.is_empty() || job.conversions.is_empty() {
        "incomplete"
    } else {
        "ready"
    }
}

/// Changes job `id` with `f`, which may refuse with the vendor's answer; the vendor's 404 when
/// there is no such job.
pub(super) fn edit<T>(
    shared: &Shared,
    id: &str,
    f: impl FnOnce(&mut OcJob) -> Result<T, Response>,
) -> Result<T, Response> {
    with_job(shared, id, f)?
}

/// One part of job `id` (an input, a conversion, an output), rendered by `find`; the vendor's 404
/// saying `missing` when `find` finds none, or the job's 404.
pub(super) fn one_part(
    shared: &Shared,
    id: &str,
    missing: &str,
    find: impl FnOnce(&mut OcJob) -> Option<Value>,
) -> Response {
    match with_job(shared, id, find) {
        Ok(Some(v)) => Json(v).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, 404, missing),
        Err(r) => r,
    }
}

/// A job by id, rendered, or the vendor's 404.
pub(super) fn with_job<T>(
    shared: &Shared,
    id: &str,
    f: impl FnOnce(&mut OcJob) -> T,
) -> Result<T, Response> {
    let mut inner = shared.lock();
    inner
        .oc_jobs
        .get_mut(id)
        .map(f)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, 404, "The job does not exist"))
}

pub(super) fn staged_only(job: &OcJob) -> Result<(), Response> {
    if job.started {
        Err(error(
            StatusCode::CONFLICT,
            409,
            "The job has started: it cannot change any more",
        ))
    } else {
        Ok(())
    }
}

/// Removes a part of a staged job (`remove` says whether it found it); 204, or the vendor's
/// 404 naming `what`.
pub(super) fn remove_part(
    shared: &Shared,
    id: &str,
    what: &str,
    remove: impl FnOnce(&mut OcJob) -> bool,
) -> Response {
    let outcome = edit(shared, id, |job| {
        staged_only(job)?;
        if !remove(job) {
            return Err(error(
                StatusCode::NOT_FOUND,
                404,
                &format!("The {what} does not exist"),
            ));
        }
        let status = staged_status(job);
        set_status(job, status);
        Ok(())
    });
    match outcome {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => r,
    }
}
