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
    /// When set, no pause is longer than this share of the time the wait has already run (but
    /// never shorter than `min_interval`), so a job that runs at least the first interval is
    /// noticed at most that share of its running time after it ends. `0.1`: a 2 s job is seen
    /// within 0.2 s of its end, a 40 s job within 4 s. Costs polls (about one per tenth more of
    /// the time waited); the geometric schedule rules when it is shorter. See
    /// [`pause`](Self::pause).
    pub lateness: Option<f64>,
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
            lateness: None,
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
            lateness: None,
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
    /// Bounds how late a finished job is noticed, as a share of the time waited (see
    /// [`lateness`](Self::lateness)); `None` turns the bound off.
    pub fn with_lateness(mut self, share: Option<f64>) -> Self {
        self.lateness = share;
        self
    }

    /// The pause before the next poll, `waited` into the wait, when the schedule's next interval
    /// is `interval`. Without a [`lateness`](Self::lateness) bound: the interval jittered. With
    /// one: the jitter shortens instead of stretching (so the bound holds), and once the wait has
    /// run `min_interval`, the pause is at most that share of `waited`, never below
    /// `min_interval`. The first pause, right after the immediate first poll, follows the schedule
    /// alone: a job shorter than the first interval is seen at the first interval.
    ///
    /// ```
    /// use std::time::Duration;
    /// use multiconvert_core::PollPolicy;
    /// let p = PollPolicy::default()
    ///     .with_jitter(0.0)
    ///     .with_min_interval(Duration::from_millis(100))
    ///     .with_lateness(Some(0.1));
    /// let s = Duration::from_secs;
    /// assert_eq!(p.pause(s(1), Duration::ZERO), s(1));
    /// assert_eq!(p.pause(s(1), Duration::from_millis(500)), Duration::from_millis(100));
    /// assert_eq!(p.pause(s(5), s(20)), s(2));
    /// assert_eq!(p.pause(s(5), s(120)), s(5));
    /// ```
    pub fn pause(&self, interval: Duration, waited: Duration) -> Duration {
        let Some(share) = self.lateness.filter(|s| s.is_finite() && *s > 0.0) else {
            return self.jittered(interval);
        };
        let jitter = if self.jitter.is_finite() {
            self.jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let shorten = |d: Duration| d.mul_f64(1.0 - jitter * 0.5 * fastrand::f64());
        let scheduled = shorten(interval).max(self.min_interval.min(interval));
        if waited < self.min_interval {
            return scheduled;
        }
        let bound = shorten(waited.mul_f64(share.min(1.0))).max(self.min_interval);
        scheduled.min(bound)
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
    fn a_lateness_bound_caps_every_pause_and_keeps_the_floor() {
        let p = PollPolicy::default()
            .with_min_interval(Duration::from_millis(100))
            .with_lateness(Some(0.1));
        for waited_ms in [0u64, 50, 999, 1_000, 7_777, 50_000, 600_000] {
            let waited = Duration::from_millis(waited_ms);
            for interval in p.intervals().take(8) {
                let pause = p.pause(interval, waited);
                if waited >= Duration::from_millis(100) {
                    let bound = waited.mul_f64(0.1).max(Duration::from_millis(100));
                    assert!(pause <= bound, "{pause:?} > {bound:?} after {waited:?}");
                }
                assert!(pause >= Duration::from_millis(100), "{pause:?}");
                // With a bound, jitter only ever shortens.
                assert!(pause <= interval, "{pause:?} vs {interval:?}");
            }
        }
        // Without a bound (or with a nonsensical one), the schedule alone rules.
        for lateness in [None, Some(f64::NAN), Some(-1.0), Some(0.0)] {
            let p = PollPolicy::default()
                .with_jitter(0.0)
                .with_lateness(lateness);
            assert_eq!(
                p.pause(Duration::from_secs(5), Duration::ZERO),
                Duration::from_secs(5)
            );
        }
    }

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
