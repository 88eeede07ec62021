//! Batch entries: a whole batch's submissions journaled in one transaction, and read back.

use multiconvert_core::Result;

use crate::backend::{failed, now};
use crate::journal::{entry, Row, INSERT_SUBMISSION};
use crate::{Entry, Store, Submission};

impl Store {
    /// [`record_submission`](Self::record_submission) for many, in one transaction (one sync to
    /// disk for a whole batch); returns how many were new.
    pub async fn record_submissions(&self, submissions: &[Submission]) -> Result<u64> {
        let at = now();
        let sql = INSERT_SUBMISSION;
        in_transaction!(self, |tx| {
            let mut added = 0;
            for s in submissions {
                added += sqlx::query(sql)
                    .bind(&s.key)
                    .bind(&s.provider)
                    .bind(&s.digest)
                    .bind(&s.source)
                    .bind(&s.batch)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            added
        })
        .map_err(|e| failed("record submissions", e))
    }

    /// Every entry of batch `batch`, oldest first.
    pub async fn batch_entries(&self, batch: &str) -> Result<Vec<Entry>> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM jobs WHERE batch = $1 ORDER BY created_at, job_key"
        );
        let rows = fetch!(self, Row, sql, batch).map_err(|e| failed("read the journal", e))?;
        Ok(rows.into_iter().map(entry).collect())
    }
}
