//! The WebHook (`../shared/reference/convertapi.md` §7), called once an async job ends: the legacy
//! route's `GET <url>?JobId=`, the current route's `POST <url>` `{"JobId"}`.

use std::time::Duration;

use axum::http::header;
use serde_json::json;

use super::records::CaRoute;
use crate::faults::Fault;
use crate::state::{simple_id, Shared};

/// The WebHook: legacy `GET <url>?JobId=`, current `POST <url>` `{"JobId"}`; unsigned.
pub(super) async fn call_back(shared: &Shared, url: &str, job: &str, route: CaRoute) {
    let fault = shared.enter("ca.webhook");
    if let Some(Fault::Slow { delay_ms }) = fault {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    }
    let send = |id: String| async move {
        let request = match route {
            CaRoute::Legacy => {
                let sep = if url.contains('?') { '&' } else { '?' };
                shared.http.get(format!("{url}{sep}JobId={id}"))
            }
            CaRoute::Current => shared
                .http
                .post(url)
                .header(header::CONTENT_TYPE, "application/json")
                .body(json!({"JobId": id}).to_string()),
        };
        let _ = request.timeout(Duration::from_secs(10)).send().await;
    };
    send(job.to_owned()).await;
    match fault {
        Some(Fault::Duplicate) => send(job.to_owned()).await,
        Some(Fault::Forged) => {
            let forged = match route {
                CaRoute::Current => simple_id(),
                CaRoute::Legacy => uuid::Uuid::new_v4().to_string(),
            };
            send(forged).await;
        }
        _ => {}
    }
}
