//! One provider instance's request budget shared by every process on the store: the
//! [`SharedPace`] that [`multiconvert_core::pace::share_through`] makes every vendor instance
//! take its slots from.

use multiconvert_core::pace::SharedPace;
use multiconvert_core::Result;

use crate::backend::failed;
use crate::Store;

/// Takes a slot: `slot = max(next - allowance, now, paused)`, `next = max(next, slot) +
/// interval`, in one upsert (PostgreSQL locks the row, SQLite has one writer), every SET
/// reading the row as it was. `$1` instance, `$2` now, `$3` interval, `$4` allowance.
macro_rules! take_sql {
    ($max:literal) => {
        concat!(
            "INSERT INTO pace (instance, next_us, slot_us, paused_us) VALUES ($1, $2 + $3, $2, 0) ",
            "ON CONFLICT (instance) DO UPDATE SET ",
            "slot_us = ",
            $max,
            "(pace.next_us - $4, $2, pace.paused_us), ",
            "next_us = ",
            $max,
            "(pace.next_us, ",
            $max,
            "(pace.next_us - $4, $2, pace.paused_us)) + $3 ",
            "RETURNING slot_us"
        )
    };
}

macro_rules! pause_sql {
    ($max:literal) => {
        concat!(
            "INSERT INTO pace (instance, next_us, slot_us, paused_us) VALUES ($1, $2, 0, $2) ",
            "ON CONFLICT (instance) DO UPDATE SET ",
            "paused_us = ",
            $max,
            "(pace.paused_us, $2), next_us = ",
            $max,
            "(pace.next_us, $2)"
        )
    };
}

#[multiconvert_core::async_trait]
impl SharedPace for Store {
    async fn take_slot(
        &self,
        instance: &str,
        now_us: i64,
        interval_us: i64,
        allowance_us: i64,
    ) -> Result<i64> {
        let sql = self.per_dialect(take_sql!("MAX"), take_sql!("GREATEST"));
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let rows = fetch!(
            self,
            (i64,),
            sql,
            instance,
            now_us,
            interval_us,
            allowance_us
        )
        .map_err(|e| failed("take a request slot", e))?;
        Ok(rows.first().map_or(now_us, |(slot,)| *slot))
    }

    async fn pause_until(&self, instance: &str, until_us: i64) -> Result<()> {
        let sql = self.per_dialect(pause_sql!("MAX"), pause_sql!("GREATEST"));
        execute!(self, sql, instance, until_us).map_err(|e| failed("pause the requests", e))?;
        Ok(())
    }
}
