//! Spend budgets shared by every instance on the store: the [`SpendLedger`] a failover reserves
//! a job's expected cost in before it submits, and settles when the job ends.

use multiconvert_core::spend::{Reserved, SpendLedger};
use multiconvert_core::Result;

use crate::backend::{failed, now};
use crate::Store;

/// Makes the period's row exist, so that the conditional update below has one to lock.
const OPEN_PERIOD: &str = "INSERT INTO spend (member, period, total) VALUES ($1, $2, 0) \
     ON CONFLICT (member, period) DO NOTHING";

/// Adds `$3` unless the total would pass `$4`: one statement, so two instances never both pass
/// the cap (PostgreSQL locks the row and re-checks the condition; SQLite has one writer).
const HOLD: &str = "UPDATE spend SET total = total + $3 \
     WHERE member = $1 AND period = $2 AND total + $3 <= $4";

const RECORD: &str = "INSERT INTO reservations (id, member, period, amount, created_at) \
     VALUES ($1, $2, $3, $4, $5)";

/// Marks a reservation settled, once: the update that finds it unsettled is the one that
/// adjusts the total.
const CLOSE: &str = "UPDATE reservations SET settled = 1 WHERE id = $1 AND settled = 0";

const ADJUST: &str = "UPDATE spend SET total = total - \
     (SELECT amount FROM reservations WHERE id = $1) + $2 \
     WHERE member = (SELECT member FROM reservations WHERE id = $1) \
     AND period = (SELECT period FROM reservations WHERE id = $1)";

#[multiconvert_core::async_trait]
impl SpendLedger for Store {
    async fn reserve(&self, member: &str, period: &str, cap: u64, amount: u64) -> Result<Reserved> {
        let (cap, amount) = (to_i64(cap), to_i64(amount));
        let id = uuid::Uuid::new_v4().to_string();
        let at = now();
        // Holding and recording in one transaction: a reservation is never held unrecorded.
        let held = in_transaction!(self, |tx| {
            sqlx::query(OPEN_PERIOD)
                .bind(member)
                .bind(period)
                .execute(&mut *tx)
                .await?;
            let held = sqlx::query(HOLD)
                .bind(member)
                .bind(period)
                .bind(amount)
                .bind(cap)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
            if held {
                sqlx::query(RECORD)
                    .bind(&id)
                    .bind(member)
                    .bind(period)
                    .bind(amount)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
            }
            held
        })
        .map_err(|e| failed("reserve a budget", e))?;
        if held {
            Ok(Reserved::Held(id))
        } else {
            Ok(Reserved::Over {
                spent: SpendLedger::spent(self, member, period).await?,
            })
        }
    }

    async fn settle(&self, reservation: &str, actual: u64) -> Result<()> {
        let actual = to_i64(actual);
        in_transaction!(self, |tx| {
            let first = sqlx::query(CLOSE)
                .bind(reservation)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
            if first {
                sqlx::query(ADJUST)
                    .bind(reservation)
                    .bind(actual)
                    .execute(&mut *tx)
                    .await?;
            }
        })
        .map_err(|e| failed("settle a budget", e))
    }

    async fn spent(&self, member: &str, period: &str) -> Result<u64> {
        let rows = fetch!(
            self,
            (i64,),
            "SELECT total FROM spend WHERE member = $1 AND period = $2",
            member,
            period
        )
        .map_err(|e| failed("read a budget", e))?;
        Ok(rows
            .first()
            .map_or(0, |(total,)| u64::try_from(*total).unwrap_or(0)))
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
