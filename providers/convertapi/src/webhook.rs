//! Incoming WebHook calls: `GET <url>?JobId=` (legacy) or `POST {"JobId"}` (current), unsigned.

use multiconvert_core::{Error, ErrorKind, Operation, Result, WebhookEvent, WebhookRequest};
use serde_json::Value;

use crate::request::{route_of_job_id, ROUTE_META};
use crate::NAME;

fn rejected(message: &str) -> Error {
    Error::new(
        ErrorKind::WebhookRejected,
        NAME,
        Operation::Webhook,
        message,
    )
}

/// Turns a WebHook call of either shape into an event, whatever route is configured. ConvertAPI
/// signs nothing, so the event is always unverified: it only ever triggers a confirming poll.
/// The JobId must have one of the documented formats, and its format names the route the job
/// lives on (a UUID: legacy, 32 `[a-z0-9]`: current), recorded in the event's meta so that
/// [`confirm`](multiconvert_core::ProviderExt::confirm) polls there. The format decides rather
/// than the method: it is what the client chose at submit time.
pub fn parse_event(request: &WebhookRequest) -> Result<WebhookEvent> {
    let from_query = request
        .query()
        .into_iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("jobid"))
        .map(|(_, v)| v);
    let from_body = || {
        // The Content-Type may be absent or odd: try the body as JSON whatever it says.
        serde_json::from_slice::<Value>(&request.body)
            .ok()
            .and_then(|v| v.get("JobId").and_then(Value::as_str).map(str::to_owned))
    };
    let job_id = match request.method {
        http::Method::GET => from_query,
        http::Method::POST => from_body().or(from_query),
        _ => return Err(rejected("ConvertAPI calls back with GET or POST")),
    }
    .ok_or_else(|| rejected("the callback carries no JobId"))?;
    let route = route_of_job_id(&job_id)
        .ok_or_else(|| rejected("the JobId has neither documented format"))?;
    // The JobId's shape says where the job lives (semi-async jobs live on the legacy route
    // whatever the configured one), so the confirming poll goes there.
    Ok(WebhookEvent::unverified(NAME, job_id).with_meta(ROUTE_META, route.as_str()))
}
