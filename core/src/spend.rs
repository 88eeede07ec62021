//! Spend caps per provider instance and period: a [`Budget`] (`500/month`) and the
//! [`SpendLedger`] that enforces it, in this process ([`MemoryLedger`]) or across processes
//! (`multiconvert-store`'s SQLite or PostgreSQL ledger).
//!
//! A [`Failover`](crate::failover::Failover) reserves what a job is expected to cost (in the
//! member's own unit) before it submits it, and skips a member whose budget the reservation
//! would pass, like a cooled-down one; when the job ends, the reservation is settled with what
//! the vendor said it cost. A reservation is one conditional update, so however many processes
//! share a ledger, the reserved total never passes the cap.
//!
//! ```
//! use multiconvert_core::spend::{Budget, Period};
//! let budget: Budget = "500/month".parse().unwrap();
//! assert_eq!((budget.cap, budget.period), (500, Period::Month));
//! ```

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Datelike, Utc};

use crate::error::{Error, Result};

/// The calendar period a budget counts over, in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Period {
    /// A calendar day.
    Day,
    /// An ISO week (Monday to Sunday).
    Week,
    /// A calendar month.
    Month,
}

impl Period {
    /// The key of the period `at` falls in: `2026-12-06`, `2026-W49`, `2026-12`.
    pub fn key(self, at: DateTime<Utc>) -> String {
        match self {
            Period::Day => at.format("%Y-%m-%d").to_string(),
            Period::Week => {
                let week = at.iso_week();
                format!("{}-W{:02}", week.year(), week.week())
            }
            Period::Month => at.format("%Y-%m").to_string(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }
}

/// At most `cap` units of a provider instance's cost per `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Units of the instance's [`Cost`](crate::Cost) (credits, conversions).
    pub cap: u64,
    /// Over what.
    pub period: Period,
}

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.cap, self.period.name())
    }
}

impl FromStr for Budget {
    type Err = Error;

    /// `500/month`, `20/day`, `100/week`.
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::config(
                "budget",
                format!("{s:?} is not a budget: write N/day, N/week or N/month"),
            )
        };
        let (cap, period) = s.trim().split_once('/').ok_or_else(bad)?;
        let period = match period.trim() {
            "day" | "d" => Period::Day,
            "week" | "w" => Period::Week,
            "month" | "mo" => Period::Month,
            _ => return Err(bad()),
        };
        let cap = cap.trim().parse().map_err(|_| bad())?;
        Ok(Budget { cap, period })
    }
}

/// What a reservation came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reserved {
    /// Held under this id, to [`settle`](SpendLedger::settle) when the job ends.
    Held(String),
    /// It would pass the cap: `spent` units are spent or held this period.
    Over {
        /// Spent or held this period.
        spent: u64,
    },
}

/// Where budgets are counted. Implementations make [`reserve`](Self::reserve) atomic: two
/// callers never both pass the cap.
#[async_trait]
pub trait SpendLedger: Send + Sync + fmt::Debug {
    /// Holds `amount` units of `member`'s budget for `period` (a [`Period::key`]) unless the
    /// total would pass `cap`.
    async fn reserve(&self, member: &str, period: &str, cap: u64, amount: u64) -> Result<Reserved>;
    /// Replaces a reservation's amount with what the job cost (`0`: it never ran); a
    /// reservation is settled once, later calls do nothing.
    async fn settle(&self, reservation: &str, actual: u64) -> Result<()>;
    /// What `member` spent or holds for `period`.
    async fn spent(&self, member: &str, period: &str) -> Result<u64>;
}

/// A ledger in this process's memory.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    inner: Mutex<Ledger>,
}

#[derive(Debug, Default)]
struct Ledger {
    totals: HashMap<(String, String), u64>,
    /// Unsettled reservations: id → (member, period, amount).
    open: HashMap<String, (String, String, u64)>,
    next: u64,
}

impl MemoryLedger {
    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl SpendLedger for MemoryLedger {
    async fn reserve(&self, member: &str, period: &str, cap: u64, amount: u64) -> Result<Reserved> {
        let mut ledger = self.ledger();
        let key = (member.to_owned(), period.to_owned());
        let spent = ledger.totals.get(&key).copied().unwrap_or(0);
        if spent.saturating_add(amount) > cap {
            return Ok(Reserved::Over { spent });
        }
        ledger.totals.insert(key, spent + amount);
        ledger.next += 1;
        let id = format!("memory-{}", ledger.next);
        ledger
            .open
            .insert(id.clone(), (member.to_owned(), period.to_owned(), amount));
        Ok(Reserved::Held(id))
    }

    async fn settle(&self, reservation: &str, actual: u64) -> Result<()> {
        let mut ledger = self.ledger();
        if let Some((member, period, amount)) = ledger.open.remove(reservation) {
            let total = ledger.totals.entry((member, period)).or_default();
            *total = total.saturating_sub(amount).saturating_add(actual);
        }
        Ok(())
    }

    async fn spent(&self, member: &str, period: &str) -> Result<u64> {
        Ok(self
            .ledger()
            .totals
            .get(&(member.to_owned(), period.to_owned()))
            .copied()
            .unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn budgets_and_periods_read_as_written() {
        let b: Budget = " 20/day".parse().unwrap();
        assert_eq!(
            b,
            Budget {
                cap: 20,
                period: Period::Day
            }
        );
        assert_eq!(b.to_string(), "20/day");
        for bad in ["", "500", "500/year", "x/month", "-1/day"] {
            assert!(bad.parse::<Budget>().is_err(), "{bad}");
        }
        let at = Utc.with_ymd_and_hms(2026, 12, 6, 7, 0, 0).unwrap();
        assert_eq!(Period::Day.key(at), "2026-12-06");
        assert_eq!(Period::Week.key(at), "2026-W49");
        assert_eq!(Period::Month.key(at), "2026-12");
        // 2027-01-01 is in ISO week 53 of 2026.
        let at = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(Period::Week.key(at), "2026-W53");
    }

    #[tokio::test]
    async fn reservations_stop_at_the_cap_and_settle_to_what_was_spent() {
        let ledger = MemoryLedger::default();
        let Reserved::Held(first) = ledger.reserve("a", "p", 3, 2).await.unwrap() else {
            panic!("the first reservation fits");
        };
        assert_eq!(
            ledger.reserve("a", "p", 3, 2).await.unwrap(),
            Reserved::Over { spent: 2 }
        );
        // Another member or period has its own total.
        assert!(matches!(
            ledger.reserve("b", "p", 3, 2).await.unwrap(),
            Reserved::Held(_)
        ));
        assert!(matches!(
            ledger.reserve("a", "q", 3, 2).await.unwrap(),
            Reserved::Held(_)
        ));
        ledger.settle(&first, 1).await.unwrap();
        ledger.settle(&first, 0).await.unwrap(); // once only
        assert_eq!(ledger.spent("a", "p").await.unwrap(), 1);
        assert!(matches!(
            ledger.reserve("a", "p", 3, 2).await.unwrap(),
            Reserved::Held(_)
        ));
        assert_eq!(ledger.spent("a", "p").await.unwrap(), 3);
    }
}
