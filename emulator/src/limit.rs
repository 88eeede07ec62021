//! An account's request limit: past it, the vendor's throttling answer (each vendor's module
//! says what that is: `throttled`).
//!
//! A token bucket of `limit` requests a second holding up to a second's worth, the way API
//! gateways count: a client that keeps to the rate on average is never refused, a burst past
//! the bucket is. Every refusal is counted as `{vendor}.throttled` (see
//! [`Running::count`](crate::Running::count)).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
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

    /// Takes a token if one is left at `now`.
    fn admit(&self, now: Instant) -> bool {
        let mut bucket = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
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

/// `router` behind an account limit of `per_second` requests a second (none: unlimited); past
/// it, the vendor's `throttled` answer.
pub(crate) fn limited(
    router: Router,
    shared: Arc<Shared>,
    vendor: &'static str,
    per_second: Option<u32>,
    throttled: fn() -> Response,
) -> Router {
    let Some(per_second) = per_second else {
        return router;
    };
    let limiter = Limiter::new(per_second);
    router.layer(axum::middleware::from_fn(
        move |request: Request, next: Next| {
            let (limiter, shared) = (limiter.clone(), shared.clone());
            async move {
                if limiter.admit(Instant::now()) {
                    next.run(request).await
                } else {
                    shared.count(&format!("{vendor}.throttled"));
                    throttled()
                }
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_second_of_requests_goes_then_the_rest_wait_for_the_refill() {
        let limiter = Limiter::new(50);
        let start = limiter.bucket.lock().unwrap().at;
        let admitted = (0..80).filter(|_| limiter.admit(start)).count();
        assert_eq!(admitted, 50, "a full bucket, then nothing");
        // A tenth of a second refills a tenth of the rate; the bucket never holds more than a
        // second's worth however long it rests.
        let later = start + Duration::from_millis(100);
        assert_eq!((0..20).filter(|_| limiter.admit(later)).count(), 5);
        let much_later = later + Duration::from_secs(60);
        assert_eq!((0..80).filter(|_| limiter.admit(much_later)).count(), 50);
    }
}
