//! How long to wait between polls, and for how long at most.

use std::time::Duration;

/// The pacing of [`ProviderExt::wait`](crate::ProviderExt::wait): the first poll is immediate,
/// then the interval starts at `initial_interval`, grows by `factor` up to `max_interval`, is
/// stretched by a random factor in `[1, 1 + jitter)` and never drops below `min_interval`.
/// Past `deadline` the wait ends with a [`Timeout`](crate::ErrorKind::Timeout) error that carries
/// the job's last status; the job itself keeps running at the vendor.
///
/// Waiting runs on tokio time (a paused clock in tests) and is cancelled by dropping the future.
///
/// ```
/// use std::time::Duration;
/// use multiconvert_core::PollPolicy;
/// let p = PollPolicy::default().with_jitter(0.0);
/// let first: Vec<_> = p.intervals().take(5).collect();
/// assert_eq!(first, [1.0, 1.5, 2.25, 3.375, 5.0].map(Duration::from_secs_f64));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct PollPolicy {
    /// The first interval.
    pub initial_interval: Duration,
    /// How much each interval grows.
    pub factor: f64,
    /// The largest interval.
    pub max_interval: Duration,
    /// The smallest interval, whatever the other settings say.
    pub min_interval: Duration,
    /// Random stretch of each interval, as a fraction (`0.25` = up to 25 % longer).
    pub jitter: f64,
    /// How long to wait in all.
    pub deadline: Duration,
}

impl Default for PollPolicy {
    /// 1 s, ×1.5, up to 5 s, +0–25 % jitter, at least 0.5 s apart, 300 s in all.
    fn default() -> Self {
        PollPolicy {
            initial_interval: Duration::from_secs(1),
            factor: 1.5,
            max_interval: Duration::from_secs(5),
            min_interval: Duration::from_millis(500),
            jitter: 0.25,
            deadline: Duration::from_secs(300),
        }
    }
}

impl PollPolicy {
    /// A fixed interval with no growth and no jitter.
    pub fn fixed(interval: Duration, deadline: Duration) -> Self {
        PollPolicy {
            initial_interval: interval,
            factor: 1.0,
            max_interval: interval,
            min_interval: interval,
            jitter: 0.0,
            deadline,
        }
    }
    /// Sets the first interval.
    pub fn with_initial_interval(mut self, interval: Duration) -> Self {
        self.initial_interval = interval;
        self
    }
    /// Sets the growth factor (values below 1 are treated as 1).
    pub fn with_factor(mut self, factor: f64) -> Self {
        self.factor = factor;
        self
    }
    /// Sets the largest interval.
    pub fn with_max_interval(mut self, interval: Duration) -> Self {
        self.max_interval = interval;
        self
    }
    /// Sets the smallest interval.
    pub fn with_min_interval(mut self, interval: Duration) -> Self {
        self.min_interval = interval;
        self
    }
    /// Sets the jitter fraction (clamped to 0–1).
    pub fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }
    /// Sets the overall deadline.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// The un-jittered intervals, forever (the caller stops at the deadline).
    pub fn intervals(&self) -> impl Iterator<Item = Duration> {
        let factor = if self.factor.is_finite() && self.factor >= 1.0 {
            self.factor
        } else {
            1.0
        };
        let max = self.max_interval.max(self.min_interval);
        let min = self.min_interval;
        std::iter::successors(Some(self.initial_interval.clamp(min, max)), move |d| {
            Some(d.mul_f64(factor).clamp(min, max))
        })
    }

    /// `interval` stretched by a random factor in `[1, 1 + jitter)`.
    pub fn jittered(&self, interval: Duration) -> Duration {
        let jitter = if self.jitter.is_finite() {
            self.jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        interval.mul_f64(1.0 + jitter * fastrand::f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_respect_floor_and_cap_whatever_the_settings() {
        let p = PollPolicy::default()
            .with_initial_interval(Duration::ZERO)
            .with_factor(f64::NAN)
            .with_max_interval(Duration::ZERO);
        assert!(p
            .intervals()
            .take(3)
            .all(|d| d == Duration::from_millis(500)));
        let p = PollPolicy::default().with_jitter(7.0);
        for _ in 0..100 {
            let d = p.jittered(Duration::from_secs(1));
            assert!(d >= Duration::from_secs(1) && d < Duration::from_secs(2));
        }
    }
}
