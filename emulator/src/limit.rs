//! An account's request limit: past it, each vendor's throttling answer.
//!
//! A token bucket of `limit` requests a second holding up to a second's worth, the way API
//! gateways count: a client that keeps to the rate on average is never refused, a burst past
//! the bucket is. Every refusal is counted as `{vendor}.throttled` (see
//! [`Running::count`](crate::Running::count)).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::state::Shared;

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// One vendor account's bucket.
#[derive(Clone)]
struct Limiter {
    per_second: f64,
    bucket: Arc<Mutex<Bucket>>,
}

impl Limiter {
    fn new(per_second: u32) -> Self {
        let per_second = f64::from(per_second.max(1));
        Limiter {
            per_second,
            bucket: Arc::new(Mutex::new(Bucket {
                tokens: per_second,
                at: Instant::now(),
            })),
        }
    }

    /// Takes a token if one is left.
    fn admit(&self) -> bool {
        let mut bucket = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let refill = now.duration_since(bucket.at).as_secs_f64() * self.per_second;
        bucket.tokens = (bucket.tokens + refill).min(self.per_second);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The answer a vendor gives a request past the account's limit. online-convert documents a
/// `429` ("back off and retry"; its `Retry-After` is unverified), ConvertAPI a `503` "Retry is
/// available after a few seconds" without `Retry-After`; CloudConvert's `429` body and
/// `Retry-After` are unverified (its API is Laravel's, whose throttle answers like this).
fn throttled(vendor: &str) -> Response {
    let json = [(header::CONTENT_TYPE, "application/json")];
    match vendor {
        "ca" => (
            StatusCode::SERVICE_UNAVAILABLE,
            json,
            r#"{"Message":"Retry is available after a few seconds."}"#,
        )
            .into_response(),
        "cc" => (
            StatusCode::TOO_MANY_REQUESTS,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::RETRY_AFTER, "1"),
            ],
            r#"{"message":"Too Many Attempts.","code":"TOO_MANY_REQUESTS"}"#,
        )
            .into_response(),
        _ => (
            StatusCode::TOO_MANY_REQUESTS,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::RETRY_AFTER, "1"),
            ],
            r#"{"code":429,"message":"Too many requests: back off and retry."}"#,
        )
            .into_response(),
    }
}

/// `router` behind an account limit of `per_second` requests a second (none: unlimited).
pub(crate) fn limited(
    router: Router,
    shared: Arc<Shared>,
    vendor: &'static str,
    per_second: Option<u32>,
) -> Router {
    let Some(per_second) = per_second else {
        return router;
    };
    let limiter = Limiter::new(per_second);
    router.layer(axum::middleware::from_fn(
        move |request: Request, next: Next| {
            let (limiter, shared) = (limiter.clone(), shared.clone());
            async move {
                if limiter.admit() {
                    next.run(request).await
                } else {
                    shared.count(&format!("{vendor}.throttled"));
                    throttled(vendor)
                }
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_of_requests_goes_then_the_rest_wait_for_the_refill() {
        let limiter = Limiter::new(50);
        let admitted = (0..80).filter(|_| limiter.admit()).count();
        // 50 from the full bucket, and at most a token or two refilled meanwhile.
        assert!((50..=52).contains(&admitted), "{admitted}");
        std::thread::sleep(std::time::Duration::from_millis(100));
        let admitted = (0..20).filter(|_| limiter.admit()).count();
        assert!((4..=7).contains(&admitted), "{admitted}");
    }
}
