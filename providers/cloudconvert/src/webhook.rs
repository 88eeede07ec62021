//! Incoming webhooks: `POST` `{"event": "job.finished", "job": {…}}`, signed with
//! `CloudConvert-Signature` = hex HMAC-SHA256 of the raw body under the webhook's signing secret.

use hmac::{Hmac, KeyInit, Mac};
use multiconvert_core::{
    Error, ErrorKind, JobStatus, Operation, Result, Secret, WebhookEvent, WebhookRequest,
};
use sha2::Sha256;

use crate::response::status;
use crate::wire::WireEvent;
use crate::NAME;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "CloudConvert-Signature";

fn rejected(message: &str) -> Error {
    Error::new(
        ErrorKind::WebhookRejected,
        NAME,
        Operation::Webhook,
        message,
    )
}

/// Whether `signature` (hex, either case) is the HMAC-SHA256 of `body` under `secret`, compared
/// in constant time. An empty secret never verifies anything: it would let anyone sign.
pub fn verify_signature(secret: &[u8], body: &[u8], signature: &str) -> bool {
    if secret.is_empty() {
        return false;
    }
    let Ok(expected) = hex::decode(signature.trim()) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// Turns a webhook into an event. With a `secret`, the signature over the exact body must match
/// (the event is then `verified`); without one, the event is an unverified hint that only ever
/// triggers a confirming poll. The event's status is the job's (`job.failed` is failed whatever
/// the job says); `job.created` carries none worth acting on.
pub fn parse_event(request: &WebhookRequest, secret: Option<&Secret>) -> Result<WebhookEvent> {
    if request.method != http::Method::POST {
        return Err(rejected("CloudConvert calls back with POST"));
    }
    let verified = match secret {
        Some(secret) => {
            let signature = request.header(SIGNATURE_HEADER).ok_or_else(|| {
                rejected("the callback is not signed (no CloudConvert-Signature)")
            })?;
            if !verify_signature(secret.expose().as_bytes(), &request.body, signature) {
                return Err(rejected("the callback's signature does not match its body"));
            }
            true
        }
        None => false,
    };
    let event: WireEvent = serde_json::from_slice(&request.body)
        .map_err(|_| rejected("the callback body is not a CloudConvert event"))?;
    if event.job.id.is_empty() || event.job.id.len() > 128 {
        return Err(rejected("the callback names no job"));
    }
    let claimed = match event.event.as_str() {
        "job.failed" => Some(JobStatus::Failed),
        "job.finished" => Some(status(event.job.status.as_deref())),
        "job.created" => None,
        _ => return Err(rejected("the callback's event is not a job event")),
    };
    let mut out = WebhookEvent::unverified(NAME, event.job.id.clone());
    out.verified = verified;
    out.dedupe_key = format!("{}:{}", event.job.id, event.event);
    out.status = claimed;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference's recomputed vector (§6): secret `90sffs0d8fs0f9sf0` over `cloudconvert`.
    #[test]
    fn the_documented_vector_verifies_and_nothing_else_does() {
        let sig = "5c4c0691bce8a1a2af738b7073fe0627e792734813358c5f88a658819dd0a6d2";
        assert!(verify_signature(b"90sffs0d8fs0f9sf0", b"cloudconvert", sig));
        assert!(verify_signature(
            b"90sffs0d8fs0f9sf0",
            b"cloudconvert",
            &sig.to_uppercase()
        ));
        assert!(!verify_signature(
            b"90sffs0d8fs0f9sf0",
            b"cloudconvert ",
            sig
        ));
        assert!(!verify_signature(b"other", b"cloudconvert", sig));
        assert!(!verify_signature(b"", b"cloudconvert", sig));
        assert!(!verify_signature(
            b"90sffs0d8fs0f9sf0",
            b"cloudconvert",
            "zz"
        ));
    }
}
