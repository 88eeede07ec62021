//! The one place that knows there are two SQL dialects: the pools, opening and migrating either
//! database, the store's errors, and the macros every other module runs its statements through
//! (one SQL text with `$1`… placeholders, which both backends take, compiled once per backend).
//! A statement whose text must differ picks it with [`Store::per_dialect`].

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use multiconvert_core::{Error, ErrorKind, Operation, Result};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Evaluates `$body` with `$pool` bound to this store's pool, whichever backend it is: the body
/// is written once and compiled for each (their pools are different types).
macro_rules! on_backend {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.backend {
            $crate::backend::Backend::Sqlite($pool) => $body,
            $crate::backend::Backend::Postgres($pool) => $body,
        }
    };
}

/// Runs one statement on whichever backend, with the same SQL (`$1`… placeholders, which both
/// take) and binds; evaluates to the rows affected.
macro_rules! execute {
    ($store:expr, $sql:expr $(, $arg:expr)* $(,)?) => {{
        $store.writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        on_backend!($store, |pool| {
            sqlx::query($sql)$(.bind($arg))*.execute(pool).await.map(|r| r.rows_affected())
        })
    }};
}

/// Runs `$body` in one transaction, `$tx`, on whichever backend, and commits: one sync to disk
/// for all its statements. Its statements run on `&mut *$tx` and leave with `?` on a database
/// error, which rolls back.
macro_rules! in_transaction {
    ($store:expr, |$tx:ident| $body:expr) => {{
        $store
            .writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        on_backend!($store, |pool| {
            async {
                let mut $tx = pool.begin().await?;
                let out = $body;
                $tx.commit().await?;
                Ok::<_, sqlx::Error>(out)
            }
            .await
        })
    }};
}

/// Runs statements `(sql, args…)` in one transaction: one commit, so one sync to disk, for all.
macro_rules! transaction {
    ($store:expr, $( ($sql:expr $(, $arg:expr)* $(,)?) ),+ $(,)?) => {
        in_transaction!($store, |tx| {
            $( sqlx::query($sql)$(.bind($arg))*.execute(&mut *tx).await?; )+
        })
    };
}

/// Like [`execute!`], fetching rows of type `$row`.
macro_rules! fetch {
    ($store:expr, $row:ty, $sql:expr $(, $arg:expr)* $(,)?) => {
        on_backend!($store, |pool| {
            sqlx::query_as::<_, $row>($sql)$(.bind($arg))*.fetch_all(pool).await
        })
    };
}

#[derive(Clone, Debug)]
pub(crate) enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The shared state, on SQLite or PostgreSQL.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) backend: Backend,
    pub(crate) writes: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// What the store's errors name as their operation ("store access failed (io): …").
pub(crate) const ACCESS: Operation = Operation::Other("access");

pub(crate) fn failed(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
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

pub(crate) fn millis(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub(crate) fn now() -> i64 {
    millis(SystemTime::now())
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

    /// The statement for this store's dialect: SQLite's text or PostgreSQL's (`MAX` against
    /// `GREATEST`, row-locking clauses).
    pub(crate) fn per_dialect(&self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => sqlite,
            Backend::Postgres(_) => postgres,
        }
    }
}
