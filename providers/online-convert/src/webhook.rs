//! Incoming callbacks: the POSTed job JSON, optionally signed with `X-Oc-Signature`.

use hmac::{Hmac, KeyInit, Mac};
use multiconvert_core::{
    Error, ErrorKind, Operation, Result, Secret, WebhookEvent, WebhookRequest,
};
use sha2::Sha256;

use crate::config::WebhookVerification;
use crate::response::{map_status, parse_job};
use crate::NAME;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-oc-signature";

fn rejected(message: &str) -> Error {
    Error::new(
        ErrorKind::WebhookRejected,
        NAME,
        Operation::Webhook,
        message,
    )
}

/// Checks `signature` (hex, either case, no prefix) against the HMAC-SHA256 of the exact `body`
/// bytes under `secret`, in constant time.
pub fn verify_signature(secret: &Secret, body: &[u8], signature: Option<&str>) -> Result<()> {
    let signature = signature.ok_or_else(|| rejected("the X-Oc-Signature header is missing"))?;
    let given = hex::decode(signature.trim())
        .map_err(|_| rejected("the X-Oc-Signature header is not hex"))?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    mac.verify_slice(&given)
        .map_err(|_| rejected("the X-Oc-Signature does not match the body"))
}

/// The signature online-convert would send for `body` (for tests and for relaying).
pub fn sign(secret: &Secret, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Turns a callback into an event. With a secret configured, the signature must match or the
/// callback is rejected; without one the event is marked unverified. Either way it is a hint to
/// confirm by polling. The dedupe key is (`id`, `status.code`, `modified_at`): deliveries repeat.
pub fn parse_event(
    request: &WebhookRequest,
    verification: &WebhookVerification,
) -> Result<WebhookEvent> {
    if request.method != http::Method::POST {
        return Err(rejected("online-convert callbacks are POST requests"));
    }
    let verified = match verification {
        WebhookVerification::Secret(secret) => {
            verify_signature(secret, &request.body, request.header(SIGNATURE_HEADER))?;
            true
        }
        WebhookVerification::Unsigned => false,
    };
    let (wire, _) = parse_job(&request.body, Operation::Webhook)
        .map_err(|_| rejected("the callback body is not a job"))?;
    let mut event = WebhookEvent::unverified(NAME, wire.id.clone());
    event.status = Some(map_status(&wire.status.code));
    event.verified = verified;
    event.dedupe_key = format!(
        "{}:{}:{}",
        wire.id,
        wire.status.code,
        wire.modified_at.as_deref().unwrap_or_default()
    );
    Ok(event)
}
