//! One request budget per provider instance: every request its HTTP client sends (submits,
//! uploads, polls, downloads, deletes, each retry) first takes a slot from the instance's
//! [`RequestBudget`], so a thousand waits share one rate against the vendor account instead of
//! each polling on its own schedule. A `429` from the vendor pauses the whole instance for its
//! `Retry-After`, not only the request that met it.
//!
//! The budget is a token bucket in its GCRA form: slots are handed out a fixed interval apart
//! (`1 / rate`), with up to `burst` of them at once after a quiet spell. Slots are handed out in
//! the order they were asked for, so under the budget the requests that have waited longest go
//! first, and an overshoot shows up as waiting, not as failed requests.
//!
//! ```
//! use multiconvert_core::pace::{Rate, RequestBudget};
//!
//! let rate: Rate = "50/s".parse().unwrap();
//! let budget = RequestBudget::new(rate);
//! // Every client built from this configuration shares `budget`.
//! let config = multiconvert_core::http::HttpConfig::default().with_budget(budget);
//! # let _ = config;
//! ```

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tokio::time::Instant;

use crate::error::Result;

/// Where several processes share one provider instance's request budget
/// (`multiconvert-store` gives a SQLite or PostgreSQL one): the same GCRA, its state in one row
/// per instance that each slot taken updates atomically.
#[async_trait]
pub trait SharedPace: Send + Sync + fmt::Debug {
    /// Takes `instance`'s next slot, `now_us` being now (Unix microseconds): the time at which
    /// the request may go, `interval_us` after the previous slot, at most `allowance_us` ahead
    /// of the schedule (the burst), never before a pause's end.
    async fn take_slot(
        &self,
        instance: &str,
        now_us: i64,
        interval_us: i64,
        allowance_us: i64,
    ) -> Result<i64>;
    /// Holds every request of `instance` back until `until_us` (Unix microseconds).
    async fn pause_until(&self, instance: &str, until_us: i64) -> Result<()>;
}

static SHARED_PACE: OnceLock<Arc<dyn SharedPace>> = OnceLock::new();

/// Makes every named budget of this process (each vendor instance's: see
/// [`RequestBudget::named`]) take its slots from `pace`, shared with every process that does the
/// same, from the next request on. Set once; a later call changes nothing and returns `false`.
pub fn share_through(pace: Arc<dyn SharedPace>) -> bool {
    SHARED_PACE.set(pace).is_ok()
}

fn unix_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Requests per second, with a burst allowance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    per_second: f64,
    burst: u32,
}

impl Rate {
    /// `per_second` requests a second on average (at least one a day; infinity is
    /// [`unlimited`](Self::unlimited)), bursts of one.
    pub fn per_second(per_second: f64) -> Self {
        Rate {
            per_second: if per_second.is_nan() {
                1.0 / 86_400.0
            } else {
                per_second.max(1.0 / 86_400.0)
            },
            burst: 1,
        }
    }

    /// No cap on the rate: requests go at once, and a `429` still pauses the whole instance.
    pub fn unlimited() -> Self {
        Rate {
            per_second: f64::INFINITY,
            burst: 1,
        }
    }

    /// Whether this rate is [`unlimited`](Self::unlimited).
    pub fn is_unlimited(&self) -> bool {
        self.per_second.is_infinite()
    }

    /// Lets up to `burst` requests (at least one) go at once after a quiet spell.
    pub fn with_burst(mut self, burst: u32) -> Self {
        self.burst = burst.max(1);
        self
    }

    /// Requests per second.
    pub fn requests_per_second(&self) -> f64 {
        self.per_second
    }

    /// The burst allowance.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    fn interval(&self) -> Duration {
        if self.is_unlimited() {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(1.0 / self.per_second)
        }
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_unlimited() {
            return f.write_str("unlimited");
        }
        write!(f, "{}/s", self.per_second)?;
        if self.burst > 1 {
            write!(f, " (burst {})", self.burst)?;
        }
        Ok(())
    }
}

/// Why a rate could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateError(String);

impl fmt::Display for RateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a rate: write N/s, N/min or N/h (N a positive number), optionally \
             followed by ,burst=B, or `unlimited`",
            self.0
        )
    }
}

impl std::error::Error for RateError {}

impl FromStr for Rate {
    type Err = RateError;

    /// `50/s`, `3000/min`, `10000/h`, a bare `50` (per second), each optionally followed by
    /// `,burst=10`; or `unlimited` (also `off`, `none`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || RateError(s.to_owned());
        if matches!(s.trim(), "unlimited" | "off" | "none") {
            return Ok(Rate::unlimited());
        }
        let (rate, burst) = match s.split_once(',') {
            Some((rate, extra)) => {
                let burst = extra
                    .trim()
                    .strip_prefix("burst=")
                    .and_then(|b| b.trim().parse::<u32>().ok())
                    .filter(|&b| b > 0)
                    .ok_or_else(bad)?;
                (rate.trim(), burst)
            }
            None => (s.trim(), 1),
        };
        let (count, seconds) = match rate.split_once('/') {
            Some((count, unit)) => {
                let seconds = match unit.trim() {
                    "s" | "sec" | "second" => 1.0,
                    "m" | "min" | "minute" => 60.0,
                    "h" | "hour" => 3600.0,
                    _ => return Err(bad()),
                };
                (count.trim(), seconds)
            }
            None => (rate, 1.0),
        };
        let count: f64 = count.parse().map_err(|_| bad())?;
        if !(count.is_finite() && count > 0.0) {
            return Err(bad());
        }
        Ok(Rate::per_second(count / seconds).with_burst(burst))
    }
}

/// A rate shared by every request of one provider instance (see the [module](self)). Cloning
/// shares it.
#[derive(Clone)]
pub struct RequestBudget {
    shared: Arc<Shared>,
}

struct Shared {
    rate: Rate,
    /// The instance it paces, under which it is shared once [`share_through`] is set.
    name: Option<String>,
    // A fair (FIFO) lock: slots go out in the order they were asked for.
    slots: tokio::sync::Mutex<Slots>,
}

struct Slots {
    /// The theoretical arrival time of the next request (GCRA): one interval past the latest
    /// slot; left in the past by a quiet spell, which is what refills the burst.
    next: Instant,
    /// Nothing goes before this (a vendor's `Retry-After`).
    paused_until: Option<Instant>,
}

impl fmt::Debug for RequestBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBudget")
            .field("rate", &self.shared.rate)
            .finish_non_exhaustive()
    }
}

impl RequestBudget {
    /// A budget of `rate`.
    pub fn new(rate: Rate) -> Self {
        RequestBudget::build(rate, None)
    }

    /// A budget of `rate` for provider instance `instance`: once [`share_through`] is set, its
    /// slots come from that shared pace, so every process pacing the same instance keeps to
    /// one rate together.
    pub fn named(rate: Rate, instance: impl Into<String>) -> Self {
        RequestBudget::build(rate, Some(instance.into()))
    }

    fn build(rate: Rate, name: Option<String>) -> Self {
        RequestBudget {
            shared: Arc::new(Shared {
                rate,
                name,
                slots: tokio::sync::Mutex::new(Slots {
                    next: Instant::now(),
                    paused_until: None,
                }),
            }),
        }
    }

    /// Its rate.
    pub fn rate(&self) -> Rate {
        self.shared.rate
    }

    /// The shared pace this budget takes its slots from, if any.
    fn remote(&self) -> Option<(&str, &Arc<dyn SharedPace>)> {
        let name = self.shared.name.as_deref()?;
        if self.shared.rate.is_unlimited() {
            return None;
        }
        Some((name, SHARED_PACE.get()?))
    }

    /// Waits for a slot; returns how long it waited.
    pub async fn acquire(&self) -> Duration {
        let asked = Instant::now();
        let interval = self.shared.rate.interval();
        let allowance = interval * (self.shared.rate.burst - 1);
        if let Some((name, pace)) = self.remote() {
            // The local lock keeps this process's requests in the order they asked.
            let turn = self.shared.slots.lock().await;
            let now_us = unix_us();
            let micros = |d: Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
            match pace
                .take_slot(name, now_us, micros(interval).max(1), micros(allowance))
                .await
            {
                Ok(slot_us) => {
                    let wait = Duration::from_micros(u64::try_from(slot_us - now_us).unwrap_or(0));
                    drop(turn);
                    tokio::time::sleep(wait).await;
                    return asked.elapsed();
                }
                Err(e) => {
                    tracing::warn!(instance = name, error = %e, "the shared request budget could not be read; pacing this process alone");
                }
            }
        }
        loop {
            let slot = {
                let mut slots = self.shared.slots.lock().await;
                let now = Instant::now();
                // `next` is the theoretical arrival time: a request may go up to the burst
                // allowance ahead of it, never before now or a pause's end.
                let mut slot = slots.next.checked_sub(allowance).unwrap_or(now).max(now);
                if let Some(until) = slots.paused_until {
                    slot = slot.max(until);
                }
                slots.next = slots.next.max(slot) + interval;
                slot
            };
            if slot <= Instant::now() {
                // Its slot is now, pauses included: nothing to wait for or to look at again.
                return asked.elapsed();
            }
            tokio::time::sleep_until(slot).await;
            // A pause that began while this request slept sends it back into line.
            let paused = self.shared.slots.lock().await.paused_until;
            if paused.is_none_or(|until| until <= Instant::now()) {
                return asked.elapsed();
            }
        }
    }

    /// Holds every request of the instance back for `period` (a `429`'s `Retry-After`).
    pub async fn pause(&self, period: Duration) {
        if let Some((name, pace)) = self.remote() {
            let until_us =
                unix_us().saturating_add(i64::try_from(period.as_micros()).unwrap_or(i64::MAX));
            if let Err(e) = pace.pause_until(name, until_us).await {
                tracing::warn!(instance = name, error = %e, "the shared request budget could not be paused");
            }
        }
        let until = Instant::now() + period;
        let mut slots = self.shared.slots.lock().await;
        if slots.paused_until.is_none_or(|current| current < until) {
            slots.paused_until = Some(until);
        }
        // Slots already handed out past the pause keep their place; the next ones follow it.
        slots.next = slots.next.max(until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_read_in_the_units_people_write() {
        let r: Rate = "50/s".parse().unwrap();
        assert_eq!((r.requests_per_second(), r.burst()), (50.0, 1));
        let r: Rate = "3000/min, burst=20".parse().unwrap();
        assert_eq!((r.requests_per_second(), r.burst()), (50.0, 20));
        let r: Rate = "7200/h".parse().unwrap();
        assert_eq!(r.requests_per_second(), 2.0);
        let r: Rate = "5".parse().unwrap();
        assert_eq!(r.requests_per_second(), 5.0);
        for off in ["unlimited", "off", " none "] {
            let r: Rate = off.parse().unwrap();
            assert!(r.is_unlimited(), "{off}");
            assert_eq!(r.to_string(), "unlimited");
        }
        assert_eq!(Rate::per_second(f64::INFINITY), Rate::unlimited());
        for bad in [
            "",
            "0/s",
            "-1/s",
            "x/s",
            "5/fortnight",
            "5/s,burst=0",
            "5/s,b=2",
            "inf/s",
            "NaN",
        ] {
            let e = bad.parse::<Rate>().unwrap_err();
            assert!(e.to_string().contains("is not a rate"), "{bad}: {e}");
        }
    }

    /// Twenty requests at 10/s with a burst of 5: five at once, then one every 100 ms.
    #[tokio::test(start_paused = true)]
    async fn slots_go_out_at_the_rate_after_the_burst() {
        let budget = RequestBudget::new(Rate::per_second(10.0).with_burst(5));
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..20 {
            budget.acquire().await;
            at.push(start.elapsed());
        }
        assert!(at[..5].iter().all(|t| *t == Duration::ZERO), "{at:?}");
        assert_eq!(at[5], Duration::from_millis(100));
        assert_eq!(at[19], Duration::from_millis(1500));
    }

    /// Many callers at once share the one rate, first asked first served.
    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_rate_in_the_order_they_asked() {
        let budget = RequestBudget::new(Rate::per_second(20.0));
        let start = Instant::now();
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..40 {
            let (budget, order) = (budget.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                budget.acquire().await;
                order.lock().unwrap().push(i);
            }));
            // Each asks a moment after the previous one.
            tokio::task::yield_now().await;
        }
        for task in tasks {
            task.await.unwrap();
        }
        // 40 slots at 20/s: the last one 39 intervals after the first.
        assert_eq!(start.elapsed(), Duration::from_millis(1950));
        assert_eq!(*order.lock().unwrap(), (0..40).collect::<Vec<_>>());
    }

    /// A pause holds back every caller, those already waiting included.
    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_back_the_whole_instance() {
        let budget = RequestBudget::new(Rate::per_second(100.0).with_burst(10));
        let start = Instant::now();
        budget.acquire().await;
        budget.pause(Duration::from_secs(3)).await;
        let waiter = {
            let budget = budget.clone();
            tokio::spawn(async move { budget.acquire().await })
        };
        let waited = waiter.await.unwrap();
        assert!(waited >= Duration::from_secs(3), "{waited:?}");
        assert!(start.elapsed() >= Duration::from_secs(3));
        // After the pause the rate applies again, burst and all.
        let before = Instant::now();
        budget.acquire().await;
        assert!(before.elapsed() <= Duration::from_millis(10));
    }
}
