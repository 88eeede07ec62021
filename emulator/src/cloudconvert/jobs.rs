//! `/jobs` (`../shared/reference/cloudconvert.md` §2): create a job from its task graph, list,
//! show, wait on the sync host, delete.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::common::{enter, error, invalid, json_status, not_found, now, terminal, S};
use super::objects::job_json;
use super::processing::run;
use super::records::CcJob;
use super::tasks::tasks_of;
use crate::faults::{self};
use crate::query;
use crate::state::uuid;

pub(super) async fn create(
    State(shared): S,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = match enter(&shared, "cc.create", &uri, &headers).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_DATA",
            "The body is not JSON.",
        );
    };
    let tasks = match tasks_of(&shared, &body) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let text = |key: &str| -> Result<Option<String>, Response> {
        match body.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(key, &format!("The {key} must be a string."))),
        }
    };
    let (tag, webhook_url) = match (text("tag"), text("webhook_url")) {
        (Ok(t), Ok(w)) => (t, w),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let job = CcJob {
        id: uuid(),
        tag,
        status: "waiting".into(),
        webhook_url,
        seq: shared.next_seq(),
        created_at: now(),
        started_at: None,
        ended_at: None,
        tasks,
    };
    let id = job.id.clone();
    let rendered = job_json(&shared, &job, true);
    shared.lock().cc_jobs.insert(id.clone(), job);
    let driver = shared.clone();
    tokio::spawn(async move { run(driver, id).await });
    faults::after(
        fault.as_ref(),
        json_status(StatusCode::CREATED, json!({"data": rendered})),
    )
}

fn page_of(uri: &Uri) -> (usize, usize) {
    let q = query(uri);
    let get = |k: &str| {
        q.iter()
            .find(|(n, _)| n == k)
            .and_then(|(_, v)| v.parse::<usize>().ok())
    };
    (
        get("page").unwrap_or(1).max(1),
        get("per_page").unwrap_or(100).clamp(1, 1000),
    )
}

pub(super) async fn list(State(shared): S, uri: Uri, headers: HeaderMap) -> Response {
    let fault = match enter(&shared, "cc.list", &uri, &headers).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let q = query(&uri);
    let filter = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let (status, tag) = (filter("filter[status]"), filter("filter[tag]"));
    let with_tasks = filter("include").is_some_and(|i| i.split(',').any(|p| p == "tasks"));
    let (page, per_page) = page_of(&uri);
    let inner = shared.lock();
    let mut jobs: Vec<&CcJob> = inner
        .cc_jobs
        .values()
        .filter(|j| status.as_ref().is_none_or(|s| &j.status == s))
        .filter(|j| tag.as_ref().is_none_or(|t| j.tag.as_ref() == Some(t)))
        .collect();
    // Newest first, as the API lists them.
    jobs.sort_by_key(|j| std::cmp::Reverse(j.seq));
    let start = (page - 1) * per_page;
    let data: Vec<Value> = jobs
        .iter()
        .skip(start)
        .take(per_page)
        .map(|j| job_json(&shared, j, with_tasks))
        .collect();
    let base = format!("{}/jobs", shared.cc_base.get().cloned().unwrap_or_default());
    let next = (start + per_page < jobs.len()).then(|| format!("{base}?page={}", page + 1));
    let body = json!({"data": data,
        "links": {"first": format!("{base}?page=1"), "last": Value::Null,
                  "prev": (page > 1).then(|| format!("{base}?page={}", page - 1)), "next": next},
        "meta": {"current_page": page, "from": start + 1, "path": base, "per_page": per_page,
                 "to": start + data.len()}});
    drop(inner);
    faults::after(fault.as_ref(), json_status(StatusCode::OK, body))
}

pub(super) async fn show(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let fault = match enter(&shared, "cc.poll", &uri, &headers).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    shared.polled(&id);
    let rendered = shared
        .lock()
        .cc_jobs
        .get(&id)
        .map(|job| job_json(&shared, job, true));
    match rendered {
        Some(job) => faults::after(
            fault.as_ref(),
            json_status(StatusCode::OK, json!({"data": job})),
        ),
        None => not_found(),
    }
}

/// The sync host: answers once the job ended (or after five minutes, as it stands).
pub(super) async fn wait(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let fault = match enter(&shared, "cc.wait", &uri, &headers).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    shared.polled(&id);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        let ended = shared.cc_ended.notified();
        tokio::pin!(ended);
        ended.as_mut().enable();
        let state = shared
            .lock()
            .cc_jobs
            .get(&id)
            .map(|job| (terminal(&job.status), job_json(&shared, job, true)));
        match state {
            None => return not_found(),
            Some((true, job)) => {
                return faults::after(
                    fault.as_ref(),
                    json_status(StatusCode::OK, json!({"data": job})),
                )
            }
            Some((false, job)) if tokio::time::Instant::now() >= deadline => {
                return json_status(StatusCode::OK, json!({"data": job}))
            }
            Some((false, _)) => {
                let _ = tokio::time::timeout_at(deadline, ended).await;
            }
        }
    }
}

pub(super) async fn delete(
    State(shared): S,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let fault = match enter(&shared, "cc.delete", &uri, &headers).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    if shared.lock().cc_jobs.remove(&id).is_none() {
        return not_found();
    }
    shared.cc_ended.notify_waiters();
    faults::after(fault.as_ref(), StatusCode::NO_CONTENT.into_response())
}
