//! The job journal: a submission recorded before it is sent, under the key that makes it
//! idempotent, then its handle, every status, the outputs saved and the cost; what a resumed run
//! reconciles with the vendor.

use multiconvert_core::{JobHandle, JobStatus, Result};

use crate::backend::{failed, now};
use crate::Store;

/// Where a journaled job stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// Recorded; the request may or may not have been sent.
    Pending,
    /// The vendor answered with a handle.
    Submitted,
    /// Ended completed.
    Done,
    /// Ended failed or canceled.
    Failed,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Submitted => "submitted",
            State::Done => "done",
            State::Failed => "failed",
        }
    }
    fn parse(text: &str) -> State {
        match text {
            "submitted" => State::Submitted,
            "done" => State::Done,
            "failed" => State::Failed,
            _ => State::Pending,
        }
    }
}

/// A submission about to be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Submission {
    /// The key that makes it idempotent (`Idempotency-Key`, client JobId): unique.
    pub key: String,
    /// The provider instance it goes to.
    pub provider: String,
    /// A digest of the request, to tell a changed request from a resumed one.
    pub digest: String,
    /// What it converts (a file path, a URL), for the application.
    pub source: String,
    /// The batch it belongs to, if any: workers of one batch claim its jobs only.
    pub batch: Option<String>,
}

impl Submission {
    /// A submission.
    pub fn new(
        key: impl Into<String>,
        provider: impl Into<String>,
        digest: impl Into<String>,
        source: impl Into<String>,
    ) -> Self {
        Submission {
            key: key.into(),
            provider: provider.into(),
            digest: digest.into(),
            source: source.into(),
            batch: None,
        }
    }

    /// Puts the submission in batch `batch`.
    pub fn in_batch(mut self, batch: impl Into<String>) -> Self {
        self.batch = Some(batch.into());
        self
    }
}

/// A journaled job.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Entry {
    /// Its submission.
    pub submission: Submission,
    /// Where it stands.
    pub state: State,
    /// Its handle, once the vendor answered.
    pub handle: Option<JobHandle>,
    /// Its last status.
    pub status: Option<JobStatus>,
    /// What the vendor said it cost.
    pub cost: Option<u64>,
    /// Why it failed, when it did without a job to show it (see [`Store::record_error`]).
    pub error: Option<String>,
}

pub(crate) type Row = (
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
);

/// The columns an [`Entry`] is read from, for `concat!` (SQL stays a compile-time constant).
macro_rules! columns {
    () => {
        "job_key, provider, digest, source, batch, state, handle, status, cost, error"
    };
}

/// The states of an entry not ended yet.
macro_rules! unfinished {
    () => {
        "state IN ('pending', 'submitted')"
    };
}

pub(crate) const INSERT_SUBMISSION: &str =
    "INSERT INTO jobs (job_key, provider, digest, source, batch, state, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6) ON CONFLICT (job_key) DO NOTHING";

const UPSERT_OUTPUT: &str = "INSERT INTO outputs (job_key, path, size) VALUES ($1, $2, $3) \
     ON CONFLICT (job_key, path) DO UPDATE SET size = excluded.size";

pub(crate) fn entry(row: Row) -> Entry {
    let (key, provider, digest, source, batch, state, handle, status, cost, error) = row;
    Entry {
        submission: Submission {
            key,
            provider,
            digest,
            source,
            batch,
        },
        state: State::parse(&state),
        handle: handle.and_then(|h| serde_json::from_str(&h).ok()),
        status: status.map(|s| JobStatus::parse(&s)),
        cost: cost.and_then(|c| u64::try_from(c).ok()),
        error,
    }
}

impl Store {
    /// Records a submission before it is sent. `false` when its key is journaled already (a
    /// resumed run): the caller reconciles that entry instead of sending again.
    pub async fn record_submission(&self, s: &Submission) -> Result<bool> {
        let at = now();
        let added = execute!(
            self,
            INSERT_SUBMISSION,
            &s.key,
            &s.provider,
            &s.digest,
            &s.source,
            &s.batch,
            at,
        )
        .map_err(|e| failed("record a submission", e))?;
        Ok(added == 1)
    }

    /// Records the handle the vendor answered with (a later one replaces it while the job is
    /// unfinished: a router that moved to another member, a resumed submission).
    pub async fn record_handle(&self, key: &str, handle: &JobHandle) -> Result<()> {
        // The token is serialised on purpose: the store is what lets another process resume.
        let json = serde_json::to_string(handle).map_err(|e| failed("serialise a handle", e))?;
        self.update(
            "UPDATE jobs SET handle = $2, provider = $3, state = 'submitted', updated_at = $4 \
             WHERE job_key = $1 AND state IN ('pending', 'submitted')",
            key,
            [Some(json), Some(handle.provider.clone())],
        )
        .await
    }

    /// Records a status change (and, for a terminal status, the end of the job).
    pub async fn record_status(&self, key: &str, status: &JobStatus) -> Result<()> {
        let at = now();
        let state = match status {
            JobStatus::Completed => Some(State::Done),
            JobStatus::Failed | JobStatus::Canceled => Some(State::Failed),
            _ => None,
        };
        transaction!(
            self,
            (
                "INSERT INTO job_events (job_key, status, at) VALUES ($1, $2, $3)",
                key,
                status.as_str(),
                at,
            ),
            (
                "UPDATE jobs SET status = $2, state = COALESCE($3, state), updated_at = $4 \
                 WHERE job_key = $1",
                key,
                status.as_str(),
                state.map(State::as_str),
                at,
            ),
        )
        .map_err(|e| failed("record a status", e))
    }

    /// Records, in one transaction, the end of a job that completed and whose outputs are all
    /// saved: the handle it ended with (a failover may have moved it), the cost the vendor
    /// reported, each saved output's path and size, and the `completed` status.
    pub async fn record_completed(
        &self,
        key: &str,
        handle: &JobHandle,
        cost: Option<u64>,
        outputs: &[(String, u64)],
    ) -> Result<()> {
        let at = now();
        let json = serde_json::to_string(handle).map_err(|e| failed("serialise a handle", e))?;
        let cost = cost.map(|c| i64::try_from(c).unwrap_or(i64::MAX));
        let status = JobStatus::Completed;
        in_transaction!(self, |tx| {
            sqlx::query(
                "UPDATE jobs SET handle = $2, provider = $3, cost = COALESCE($4, cost), \
                 status = $5, state = 'done', updated_at = $6 WHERE job_key = $1",
            )
            .bind(key)
            .bind(&json)
            .bind(&handle.provider)
            .bind(cost)
            .bind(status.as_str())
            .bind(at)
            .execute(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO job_events (job_key, status, at) VALUES ($1, $2, $3)")
                .bind(key)
                .bind(status.as_str())
                .bind(at)
                .execute(&mut *tx)
                .await?;
            for (path, size) in outputs {
                sqlx::query(UPSERT_OUTPUT)
                    .bind(key)
                    .bind(path)
                    .bind(i64::try_from(*size).unwrap_or(i64::MAX))
                    .execute(&mut *tx)
                    .await?;
            }
        })
        .map_err(|e| failed("record a completed job", e))
    }

    /// Records an output saved to disk (again: the size is updated). Recording a path before
    /// the download, with size 0, marks it as this job's, so a resumed run may replace it.
    pub async fn record_output(&self, key: &str, path: &str, size: u64) -> Result<()> {
        execute!(
            self,
            UPSERT_OUTPUT,
            key,
            path,
            i64::try_from(size).unwrap_or(i64::MAX),
        )
        .map_err(|e| failed("record an output", e))?;
        Ok(())
    }

    /// Records that the job failed for `reason` (ending it), when there is no job status to say
    /// so: the submission was refused, the outputs could not be saved.
    pub async fn record_error(&self, key: &str, reason: &str) -> Result<()> {
        execute!(
            self,
            "UPDATE jobs SET state = 'failed', error = $2, updated_at = $3 WHERE job_key = $1",
            key,
            reason,
            now(),
        )
        .map_err(|e| failed("record a failure", e))?;
        Ok(())
    }

    /// A [`SubmitJournal`](multiconvert_core::journal::SubmitJournal) that records the handles
    /// of the submission journaled under `key`: wrap the provider in
    /// [`Journaled`](multiconvert_core::journal::Journaled) with it for that submission, so the
    /// handle is durable before the job can start.
    pub fn journal(
        &self,
        key: &str,
    ) -> std::sync::Arc<dyn multiconvert_core::journal::SubmitJournal> {
        std::sync::Arc::new(Journal {
            store: self.clone(),
            key: key.to_owned(),
        })
    }

    /// Records what the vendor said the job cost.
    pub async fn record_cost(&self, key: &str, cost: u64) -> Result<()> {
        execute!(
            self,
            "UPDATE jobs SET cost = $2, updated_at = $3 WHERE job_key = $1",
            key,
            i64::try_from(cost).unwrap_or(i64::MAX),
            now(),
        )
        .map_err(|e| failed("record a cost", e))?;
        Ok(())
    }

    async fn update(
        &self,
        sql: &'static str,
        key: &str,
        values: [Option<String>; 2],
    ) -> Result<()> {
        let [a, b] = values;
        execute!(self, sql, key, a, b, now()).map_err(|e| failed("record a change", e))?;
        Ok(())
    }

    /// The journal's entry for `key`.
    pub async fn entry(&self, key: &str) -> Result<Option<Entry>> {
        let sql = concat!("SELECT ", columns!(), " FROM jobs WHERE job_key = $1");
        let rows = fetch!(self, Row, sql, key).map_err(|e| failed("read the journal", e))?;
        Ok(rows.into_iter().next().map(entry))
    }

    /// Every entry not ended yet (pending or submitted), oldest first: what a resumed run
    /// reconciles.
    pub async fn unfinished(&self) -> Result<Vec<Entry>> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM jobs WHERE ",
            unfinished!(),
            " ORDER BY created_at, job_key"
        );
        let rows = fetch!(self, Row, sql).map_err(|e| failed("read the journal", e))?;
        Ok(rows.into_iter().map(entry).collect())
    }

    /// The outputs recorded for `key`: (path, size).
    pub async fn outputs(&self, key: &str) -> Result<Vec<(String, u64)>> {
        let rows = fetch!(
            self,
            (String, i64),
            "SELECT path, size FROM outputs WHERE job_key = $1 ORDER BY path",
            key
        )
        .map_err(|e| failed("read the outputs", e))?;
        Ok(rows
            .into_iter()
            .map(|(p, s)| (p, u64::try_from(s).unwrap_or(0)))
            .collect())
    }
}

/// [`Store::journal`]'s journal.
#[derive(Debug)]
struct Journal {
    store: Store,
    key: String,
}

#[multiconvert_core::async_trait]
impl multiconvert_core::journal::SubmitJournal for Journal {
    async fn record_handle(&self, handle: &JobHandle) -> Result<()> {
        self.store.record_handle(&self.key, handle).await
    }
}
