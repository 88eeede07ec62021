//! Claiming work: workers of one batch take its unfinished entries without two live workers
//! ever holding the same one (PostgreSQL `FOR UPDATE SKIP LOCKED`; SQLite's single writer
//! serialises the same update), renew their claims, give them back or defer them to a rerun.

use std::time::Duration;

use multiconvert_core::Result;

use crate::backend::{failed, now};
use crate::journal::{entry, Row};
use crate::{Entry, Store};

/// The claiming update, with the backend's row-locking clause; `$5` is the batch.
macro_rules! claim_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE jobs SET claimed_by = $1, claimed_at = $2 WHERE job_key IN ( ",
            "SELECT job_key FROM jobs WHERE ",
            unfinished!(),
            " AND batch = $5 AND (claimed_by IS NULL OR claimed_at < $3) ",
            "ORDER BY created_at, job_key LIMIT $4 ",
            $lock,
            ") RETURNING ",
            columns!()
        )
    };
}

impl Store {
    /// Claims up to `limit` unfinished entries (pending or submitted) of batch `batch` for
    /// `worker`, oldest first, that no other worker holds (a claim older than `stale` is taken
    /// over: its worker died; a live worker [`renew`](Self::renew)s its claims). No entry is
    /// ever handed to two live workers.
    pub async fn claim(
        &self,
        batch: &str,
        worker: &str,
        limit: u32,
        stale: Duration,
    ) -> Result<Vec<Entry>> {
        let at = now();
        let before = at - i64::try_from(stale.as_millis()).unwrap_or(i64::MAX);
        // PostgreSQL skips rows another transaction is claiming; SQLite has one writer at a
        // time, which serialises the same statement.
        let sql = self.per_dialect(claim_sql!(""), claim_sql!("FOR UPDATE SKIP LOCKED"));
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let rows = fetch!(self, Row, sql, worker, at, before, i64::from(limit), batch)
            .map_err(|e| failed("claim work", e))?;
        let mut claimed: Vec<Entry> = rows.into_iter().map(entry).collect();
        claimed.sort_by(|a, b| a.submission.key.cmp(&b.submission.key));
        Ok(claimed)
    }

    /// Renews every claim `worker` holds on unfinished entries (a heartbeat: call it well within
    /// the `stale` period given to [`claim`](Self::claim)); returns how many it holds.
    pub async fn renew(&self, worker: &str) -> Result<u64> {
        execute!(
            self,
            concat!(
                "UPDATE jobs SET claimed_at = $2 WHERE claimed_by IN ($1, $3) AND ",
                unfinished!()
            ),
            worker,
            now(),
            deferred(worker),
        )
        .map_err(|e| failed("renew claims", e))
    }

    /// `worker` gave up on `key` for this run (a budget spent, a vendor down): it keeps the
    /// claim, renewed with its others, so no other worker of the batch takes the entry up again
    /// in this run, and no worker waits for it ([`remaining`](Self::remaining) leaves it out).
    /// A rerun takes it up once the claim goes stale.
    pub async fn defer(&self, worker: &str, key: &str) -> Result<()> {
        execute!(
            self,
            "UPDATE jobs SET claimed_by = $3 WHERE claimed_by = $1 AND job_key = $2",
            worker,
            key,
            deferred(worker),
        )
        .map_err(|e| failed("defer a claim", e))?;
        Ok(())
    }

    /// Gives up `worker`'s claim on `key` (it stopped before finishing it), so another worker
    /// takes it at once.
    pub async fn release(&self, worker: &str, key: &str) -> Result<()> {
        execute!(
            self,
            "UPDATE jobs SET claimed_by = NULL, claimed_at = NULL WHERE claimed_by = $1 AND job_key = $2",
            worker,
            key,
        )
        .map_err(|e| failed("release a claim", e))?;
        Ok(())
    }

    /// How many entries of batch `batch` are unfinished, whoever holds them, leaving out those
    /// a worker [`defer`](Self::defer)red.
    pub async fn remaining(&self, batch: &str) -> Result<u64> {
        let rows = fetch!(
            self,
            (i64,),
            concat!(
                "SELECT COUNT(*) FROM jobs WHERE batch = $1 AND ",
                unfinished!(),
                " AND (claimed_by IS NULL OR claimed_by NOT LIKE 'deferred:%')"
            ),
            batch
        )
        .map_err(|e| failed("count the work left", e))?;
        Ok(rows
            .first()
            .and_then(|(n,)| u64::try_from(*n).ok())
            .unwrap_or(0))
    }
}

/// The claim a worker keeps on entries it deferred.
fn deferred(worker: &str) -> String {
    format!("deferred:{worker}")
}
