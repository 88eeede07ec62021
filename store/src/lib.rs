//! # multiconvert-store
//!
//! The state many instances of an application share, on a real database: SQLite (embedded, a
//! file) or PostgreSQL (one cluster for many instances), chosen by URL, with migrations shipped
//! and applied on open.
//!
//! - **A job journal**: a submission is recorded *before* it is sent, under the key that makes it
//!   idempotent (an `Idempotency-Key`, a client JobId), then its handle when the vendor answers,
//!   every status, the outputs saved and the cost. A crash at any point is resumed by reconciling
//!   what the journal holds with the vendor, never by a blind resubmit.
//! - **Webhook deliveries** deduplicated by a unique key (provider instance, job id, status)
//!   across instances.
//! - **Failover cooldowns** shared across instances.
//! - **Spend budgets**: a [`SpendLedger`](multiconvert_core::spend::SpendLedger) whose
//!   reservations never pass a cap, however many instances reserve at once.
//! - **Claiming work**: many workers take pending jobs without two taking the same one
//!   (PostgreSQL `FOR UPDATE SKIP LOCKED`; SQLite's single writer serialises the same update).
//!
//! ```no_run
//! use multiconvert_store::{Store, Submission};
//! # async fn run() -> multiconvert_core::Result<()> {
//! let store = Store::open("sqlite:state.db").await?; // or postgres://user@host/db
//! let fresh = store
//!     .record_submission(&Submission::new("key-1", "convertapi", "sha256:…", "in/a.docx"))
//!     .await?;
//! assert!(fresh);
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use multiconvert_core::{Error, ErrorKind, JobHandle, JobStatus, Operation, Result};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

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

type Row = (
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

const INSERT_SUBMISSION: &str =
    "INSERT INTO jobs (job_key, provider, digest, source, batch, state, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6) ON CONFLICT (job_key) DO NOTHING";

const UPSERT_OUTPUT: &str = "INSERT INTO outputs (job_key, path, size) VALUES ($1, $2, $3) \
     ON CONFLICT (job_key, path) DO UPDATE SET size = excluded.size";

fn entry(row: Row) -> Entry {
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

#[derive(Clone, Debug)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The shared state, on SQLite or PostgreSQL.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    writes: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// What the store's errors name as their operation ("store access failed (io): …").
const ACCESS: Operation = Operation::Other("access");

fn failed(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::new(ErrorKind::Io, "store", ACCESS, format!("could not {what}")).with_source(e)
}

/// Like [`failed`], saying the cause too: for a local SQLite file, whose errors hold no secret
/// (a PostgreSQL URL's password must never reach a message).
fn failed_because(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    let message = format!("could not {what}: {e}");
    Error::new(ErrorKind::Io, "store", ACCESS, message).with_source(e)
}

/// Holds an exclusive lock on `<state file>.lock` while a process opens a SQLite state and
/// applies its migrations: two processes creating one new file at once otherwise race on
/// creating it, switching it to WAL and applying the migrations (SQLite's migrations take no
/// lock of their own; two `batch` runs started together failed one round in three with "could
/// not apply its migrations"). A separate file, because closing any descriptor of the database
/// file itself would drop SQLite's own POSIX locks. Released when dropped.
async fn open_lock(path: &str) -> Result<Option<std::fs::File>> {
    let file = path.split('?').next().unwrap_or_default();
    if file.is_empty() || file.starts_with(':') {
        return Ok(None); // in memory: nobody else opens it
    }
    let lock_path = format!("{file}.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| failed_because(&format!("open its SQLite file's lock {lock_path}"), e))?;
    // Opening and migrating takes milliseconds; a holder past this is stuck, not busy.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match lock.try_lock() {
            Ok(()) => return Ok(Some(lock)),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::new(
                    ErrorKind::Io,
                    "store",
                    ACCESS,
                    format!(
                        "could not open its SQLite file: another process has held {lock_path} \
                         for 30 s while opening it"
                    ),
                ))
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(failed_because(&format!("lock {lock_path}"), e))
            }
        }
    }
}

fn millis(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn now() -> i64 {
    millis(SystemTime::now())
}

/// Runs one statement on whichever backend, with the same SQL (`$1`… placeholders, which both
/// take) and binds; evaluates to the rows affected.
macro_rules! execute {
    ($store:expr, $sql:expr $(, $arg:expr)* $(,)?) => {{
        $store.writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match &$store.backend {
            Backend::Sqlite(pool) => sqlx::query($sql)$(.bind($arg))*.execute(pool).await.map(|r| r.rows_affected()),
            Backend::Postgres(pool) => sqlx::query($sql)$(.bind($arg))*.execute(pool).await.map(|r| r.rows_affected()),
        }
    }};
}

/// Runs statements `(sql, args…)` in one transaction: one commit, so one sync to disk, for all.
macro_rules! transaction {
    ($store:expr, $( ($sql:expr $(, $arg:expr)* $(,)?) ),+ $(,)?) => {{
        $store.writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match &$store.backend {
            Backend::Sqlite(pool) => async {
                let mut tx = pool.begin().await?;
                $( sqlx::query($sql)$(.bind($arg))*.execute(&mut *tx).await?; )+
                tx.commit().await
            }.await,
            Backend::Postgres(pool) => async {
                let mut tx = pool.begin().await?;
                $( sqlx::query($sql)$(.bind($arg))*.execute(&mut *tx).await?; )+
                tx.commit().await
            }.await,
        }
    }};
}

/// Like [`execute!`], fetching rows of type `$row`.
macro_rules! fetch {
    ($store:expr, $row:ty, $sql:expr $(, $arg:expr)* $(,)?) => {
        match &$store.backend {
            Backend::Sqlite(pool) => sqlx::query_as::<_, $row>($sql)$(.bind($arg))*.fetch_all(pool).await,
            Backend::Postgres(pool) => sqlx::query_as::<_, $row>($sql)$(.bind($arg))*.fetch_all(pool).await,
        }
    };
}

impl Store {
    /// Opens the store at `url` and applies its migrations: `postgres://…` / `postgresql://…`
    /// for PostgreSQL; `sqlite:PATH`, `sqlite://PATH` or a plain file path for SQLite (the
    /// file is created when missing).
    pub async fn open(url: &str) -> Result<Store> {
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await
                .map_err(|e| failed("connect to PostgreSQL", e))?;
            POSTGRES
                .run(&pool)
                .await
                .map_err(|e| failed("apply its migrations", e))?;
            Backend::Postgres(pool)
        } else {
            let path = url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .unwrap_or(url);
            let _open = open_lock(path).await?;
            let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
                .map_err(|e| failed_because("read its SQLite path", e))?
                .create_if_missing(true)
                // Durable and shared: WAL lets readers run beside the one writer, and a writer
                // waits for another instead of failing; FULL (sqlx's default, spelt out so
                // nobody trades it away) fsyncs the WAL at every commit, as a journal must.
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options)
                .await
                .map_err(|e| failed_because("open its SQLite file", e))?;
            SQLITE
                .run(&pool)
                .await
                .map_err(|e| failed_because("apply its migrations", e))?;
            Backend::Sqlite(pool)
        };
        Ok(Store {
            backend,
            writes: Default::default(),
        })
    }

    /// How many writes this handle (and its clones) committed, a statement or a transaction
    /// each (one sync to disk each): what the benchmark counts per job.
    pub fn writes(&self) -> u64 {
        self.writes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// [`record_submission`](Self::record_submission) for many, in one transaction (one sync to
    /// disk for a whole batch); returns how many were new.
    pub async fn record_submissions(&self, submissions: &[Submission]) -> Result<u64> {
        let at = now();
        let sql = INSERT_SUBMISSION;
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        macro_rules! all_in_one {
            ($pool:expr) => {
                async {
                    let mut tx = $pool.begin().await?;
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
                    tx.commit().await?;
                    Ok::<u64, sqlx::Error>(added)
                }
                .await
            };
        }
        match &self.backend {
            Backend::Sqlite(pool) => all_in_one!(pool),
            Backend::Postgres(pool) => all_in_one!(pool),
        }
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

    /// Creates database `name` on the PostgreSQL server `admin_url` connects to (as a user
    /// allowed to), and returns its URL: a private database for a test, or a setup script's.
    /// `name` must be a plain identifier (`[a-z0-9_]`, starting with a letter).
    pub async fn create_postgres_database(admin_url: &str, name: &str) -> Result<String> {
        use sqlx::Connection;
        let plain = name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        let base = admin_url.rsplit_once('/').map(|(base, _)| base);
        let (true, Some(base)) = (plain, base) else {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "store",
                ACCESS,
                "a database name is [a-z0-9_] and the URL ends in /DATABASE",
            ));
        };
        let mut conn = sqlx::PgConnection::connect(admin_url)
            .await
            .map_err(|e| failed("connect to PostgreSQL", e))?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .map_err(|e| failed("create a database", e))?;
        Ok(format!("{base}/{name}"))
    }

    /// Which backend this is: `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

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
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        macro_rules! all_in_one {
            ($pool:expr) => {
                async {
                    let mut tx = $pool.begin().await?;
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
                    tx.commit().await
                }
                .await
            };
        }
        match &self.backend {
            Backend::Sqlite(pool) => all_in_one!(pool),
            Backend::Postgres(pool) => all_in_one!(pool),
        }
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

    /// A [`SubmitJournal`](multiconvert_core::shared::SubmitJournal) that records the handles
    /// of the submission journaled under `key`: set it on the request
    /// ([`JobRequest::journal`](multiconvert_core::JobRequest::journal)) so the handle is durable
    /// before the job can start.
    pub fn journal(
        &self,
        key: &str,
    ) -> std::sync::Arc<dyn multiconvert_core::shared::SubmitJournal> {
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

    /// `true` the first time any instance sharing the store sees this delivery (provider
    /// instance, job id, status); `false` for a duplicate.
    pub async fn first_delivery(&self, provider: &str, job_id: &str, status: &str) -> Result<bool> {
        let added = execute!(
            self,
            "INSERT INTO deliveries (provider, job_id, status, at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (provider, job_id, status) DO NOTHING",
            provider,
            job_id,
            status,
            now(),
        )
        .map_err(|e| failed("record a delivery", e))?;
        Ok(added == 1)
    }

    /// Forgets a delivery (it could not be confirmed: the vendor will deliver it again).
    pub async fn forget_delivery(&self, provider: &str, job_id: &str, status: &str) -> Result<()> {
        execute!(
            self,
            "DELETE FROM deliveries WHERE provider = $1 AND job_id = $2 AND status = $3",
            provider,
            job_id,
            status,
        )
        .map_err(|e| failed("forget a delivery", e))?;
        Ok(())
    }

    /// Cools `member` down until `until` (a later cooldown already set wins).
    pub async fn cool_down(&self, member: &str, until: SystemTime) -> Result<()> {
        let until = millis(until);
        let sql = match self.backend {
            Backend::Sqlite(_) => {
                "INSERT INTO cooldowns (member, until_ms) VALUES ($1, $2) \
                 ON CONFLICT (member) DO UPDATE SET until_ms = MAX(until_ms, excluded.until_ms)"
            }
            Backend::Postgres(_) => {
                "INSERT INTO cooldowns (member, until_ms) VALUES ($1, $2) \
                 ON CONFLICT (member) DO UPDATE SET until_ms = GREATEST(cooldowns.until_ms, excluded.until_ms)"
            }
        };
        execute!(self, sql, member, until).map_err(|e| failed("record a cooldown", e))?;
        Ok(())
    }

    /// Until when `member` cools down, if it does now.
    pub async fn cooling_until(&self, member: &str) -> Result<Option<SystemTime>> {
        let rows = fetch!(
            self,
            (i64,),
            "SELECT until_ms FROM cooldowns WHERE member = $1 AND until_ms > $2",
            member,
            now()
        )
        .map_err(|e| failed("read a cooldown", e))?;
        Ok(rows.into_iter().next().and_then(|(ms,)| {
            u64::try_from(ms)
                .ok()
                .map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
        }))
    }

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
        let sql = match self.backend {
            Backend::Sqlite(_) => claim_sql!(""),
            Backend::Postgres(_) => claim_sql!("FOR UPDATE SKIP LOCKED"),
        };
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

/// [`Store::journal`]'s journal.
#[derive(Debug)]
struct Journal {
    store: Store,
    key: String,
}

#[multiconvert_core::async_trait]
impl multiconvert_core::shared::SubmitJournal for Journal {
    async fn record_handle(&self, handle: &JobHandle) -> Result<()> {
        self.store.record_handle(&self.key, handle).await
    }
}

#[multiconvert_core::async_trait]
impl multiconvert_core::shared::DeliveryLog for Store {
    async fn first_delivery(&self, provider: &str, job_id: &str, status: &str) -> Result<bool> {
        Store::first_delivery(self, provider, job_id, status).await
    }
    async fn forget_delivery(&self, provider: &str, job_id: &str, status: &str) -> Result<()> {
        Store::forget_delivery(self, provider, job_id, status).await
    }
}

#[multiconvert_core::async_trait]
impl multiconvert_core::shared::CooldownBoard for Store {
    async fn cool_down(&self, member: &str, until: SystemTime) -> Result<()> {
        Store::cool_down(self, member, until).await
    }
    async fn cooling_until(&self, member: &str) -> Result<Option<SystemTime>> {
        Store::cooling_until(self, member).await
    }
}

mod pace;
mod spend;
