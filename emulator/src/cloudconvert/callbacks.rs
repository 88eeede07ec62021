//! Webhooks (`../shared/reference/cloudconvert.md` §6): `job.finished` / `job.failed` posted to the
//! job's webhook URL, signed with `CloudConvert-Signature`.

use std::time::Duration;

use axum::http::header;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::faults::Fault;
use crate::state::Shared;

/// POSTs a webhook signed with `CloudConvert-Signature` when the emulator has a webhook secret;
/// retried three times on a network error or a 5xx, as the vendor does.
pub(super) async fn deliver(shared: &Shared, url: &str, body: String) {
    let fault = shared.fault("cc.callback");
    if let Some(Fault::Slow { delay_ms }) = fault {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    }
    let signature = |genuine: bool| {
        shared.config.webhook_secret.as_ref().map(|secret| {
            let mut mac =
                Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
            mac.update(body.as_bytes());
            let sig = hex::encode(mac.finalize().into_bytes());
            if genuine {
                sig
            } else {
                "0".repeat(sig.len())
            }
        })
    };
    let copies = match fault {
        Some(Fault::Duplicate) => vec![true, true],
        Some(Fault::Forged) => vec![false, true],
        _ => vec![true],
    };
    for genuine in copies {
        for attempt in 0..4u32 {
            let mut request = shared
                .http
                .post(url)
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::USER_AGENT, "CloudConvert-Webhook")
                .timeout(Duration::from_secs(10))
                .body(body.clone());
            if let Some(sig) = signature(genuine) {
                request = request.header("CloudConvert-Signature", sig);
            }
            shared.count("cc.webhook");
            match request.send().await {
                Ok(r) if !r.status().is_server_error() => break,
                _ => tokio::time::sleep(Duration::from_millis(200 << attempt)).await,
            }
        }
    }
}
