//! Callbacks (`../shared/reference/online-convert.md` §9): the job's JSON posted to its `callback`
//! URL on every status in `notify_status` (or at the end), signed with `X-Oc-Signature` when the
//! account has a secret.

use std::sync::Arc;
use std::time::Duration;

use axum::http::header;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;

use super::objects::job_json;
use crate::faults::Fault;
use crate::state::Shared;

/// Delivers the job's callback: on every status change with `notify_status`, at the end always.
pub(super) fn notify(shared: &Arc<Shared>, id: &str, terminal: bool) {
    let (url, body) = {
        let inner = shared.lock();
        let Some(job) = inner.oc_jobs.get(id) else {
            return;
        };
        if job.callback.is_empty() || !(terminal || job.notify_status) {
            return;
        }
        (job.callback.clone(), job_json(shared, job).to_string())
    };
    let shared = shared.clone();
    tokio::spawn(async move {
        let fault = shared.enter("oc.callback");
        if let Some(Fault::Slow { delay_ms }) = fault {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        }
        deliver(&shared, &url, body.clone(), true).await;
        match fault {
            Some(Fault::Duplicate) => deliver(&shared, &url, body, true).await,
            Some(Fault::Forged) => {
                let forged = json!({"id": "00000000-0000-0000-0000-000000000000",
                    "status": {"code": "completed", "info": ""}, "output": []});
                deliver(&shared, &url, forged.to_string(), false).await;
            }
            _ => {}
        }
    });
}

/// POSTs a callback, signed when the emulator has a webhook secret (`genuine` false: a wrong
/// signature); 5xx and timeouts are retried a few times, 4xx is final, as the vendor does.
async fn deliver(shared: &Shared, url: &str, body: String, genuine: bool) {
    let signature = shared.config.webhook_secret.as_ref().map(|secret| {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(body.as_bytes());
        let sig = hex::encode(mac.finalize().into_bytes());
        if genuine {
            sig
        } else {
            "0".repeat(sig.len())
        }
    });
    for attempt in 0..4u32 {
        let mut request = shared
            .http
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                header::USER_AGENT,
                "API2Convert API v2 Client (https://api.api2convert.com)",
            )
            .timeout(Duration::from_secs(if attempt == 0 { 3 } else { 10 }))
            .body(body.clone());
        if let Some(sig) = &signature {
            request = request.header("X-Oc-Signature", sig);
        }
        match request.send().await {
            Ok(r) if r.status().is_success() || r.status().is_client_error() => return,
            _ => tokio::time::sleep(Duration::from_millis(200 << attempt)).await,
        }
    }
}
