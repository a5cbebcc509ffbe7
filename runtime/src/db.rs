//! The database: connection pool, per-statement timeout and migrations, for the dialect
//! this crate is built for (feature `sqlite` or `postgres`).
//!
//! Statements in this crate are written once for both dialects with numbered `$N`
//! placeholders, which PostgreSQL reads natively and SQLite reads as parameter number N
//! (sqlx binds SQLite's `$NNN` parameters by their number).

use sqlx::migrate::Migrator;
use std::str::FromStr;
use std::time::Duration;

/// The database of this build.
#[cfg(feature = "sqlite")]
pub type Db = sqlx::Sqlite;
/// The database of this build.
#[cfg(feature = "postgres")]
pub type Db = sqlx::Postgres;

/// A connection pool of [`Db`].
pub type Pool = sqlx::Pool<Db>;
/// A row of [`Db`].
pub type DbRow = <Db as sqlx::Database>::Row;

/// The account tables ([`crate::accounts`]) in this build's dialect: the first part of every
/// project's migration 0001, and what this crate's own tests create.
#[cfg(feature = "sqlite")]
pub const ACCOUNT_TABLES: &str = include_str!("../sql/sqlite/0001_accounts.sql");
/// The account tables ([`crate::accounts`]) in this build's dialect: the first part of every
/// project's migration 0001, and what this crate's own tests create.
#[cfg(feature = "postgres")]
pub const ACCOUNT_TABLES: &str = include_str!("../sql/postgres/0001_accounts.sql");

/// How the pool holds connections: `DB_*` settings of [`crate::Config`].
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Connections open at most (an in-memory SQLite database always has one).
    pub max_connections: u32,
    /// Connections kept open when idle.
    pub min_connections: u32,
    /// A caller waits at most this long for a connection, then gets 503.
    pub acquire_timeout: Duration,
    /// A query runs at most this long: PostgreSQL's `statement_timeout` (the server
    /// cancels it); on SQLite both the busy timeout (the longest a statement waits for the
    /// write lock) and the statement clock, which interrupts a statement running longer.
    /// Either way the request is answered 503. Migrations run without it.
    pub statement_timeout: Duration,
    /// An unused connection is closed after this long.
    pub idle_timeout: Duration,
    /// A connection is replaced after this long.
    pub max_lifetime: Duration,
}

impl PoolSettings {
    /// The settings of `config`.
    pub fn from_config(config: &crate::Config) -> PoolSettings {
        PoolSettings {
            max_connections: config.db_max_connections,
            min_connections: config.db_min_connections,
            acquire_timeout: config.db_acquire_timeout,
            statement_timeout: config.db_statement_timeout,
            idle_timeout: config.db_idle_timeout,
            max_lifetime: config.db_max_lifetime,
        }
    }

    /// One connection, 10 s to get it, 5 s a statement: a test's database.
    pub const TEST: PoolSettings = PoolSettings {
        max_connections: 1,
        min_connections: 0,
        acquire_timeout: Duration::from_secs(10),
        statement_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(600),
        max_lifetime: Duration::from_secs(1800),
    };
}

/// Opens a pool with `settings`; a SQLite file database is created on first use, in WAL
/// mode with foreign keys enforced. Errors: an invalid URL.
#[cfg(feature = "sqlite")]
pub async fn connect(url: &str, settings: &PoolSettings) -> Result<Pool, sqlx::Error> {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
    let statement_timeout = settings.statement_timeout;
    let memory = url.contains(":memory:") || url.contains("mode=memory");
    let mut options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .foreign_keys(true)
        .busy_timeout(settings.statement_timeout);
    if !memory {
        options = options.journal_mode(SqliteJournalMode::Wal);
    }
    SqlitePoolOptions::new()
        // An in-memory database lives in one connection.
        .max_connections(if memory {
            1
        } else {
            settings.max_connections.max(1)
        })
        .min_connections(if memory { 1 } else { settings.min_connections })
        .idle_timeout((!memory).then_some(settings.idle_timeout))
        .max_lifetime((!memory).then_some(settings.max_lifetime))
        .acquire_timeout(settings.acquire_timeout)
        // sqlx pings a connection before lending it by default: a round trip to the
        // connection's worker thread on every query, there to find a dropped network
        // connection. An embedded database has none to drop.
        .test_before_acquire(false)
        .after_connect(move |conn, _| {
            Box::pin(async move { statement_clock::install(conn, statement_timeout).await })
        })
        .connect_with(options)
        .await
}

/// SQLite has no statement timeout of its own: each connection gets a clock that starts
/// when a statement starts running (`sqlite3_trace_v2`, `SQLITE_TRACE_STMT`) and a progress
/// handler, called every 1,000 virtual-machine instructions, that interrupts the statement
/// once it has run `limit` (`SQLITE_INTERRUPT`, answered 503). Waiting for a lock is the
/// busy timeout's, which is the same length.
#[cfg(feature = "sqlite")]
mod statement_clock {
    use std::os::raw::{c_int, c_uint, c_void};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    /// When the running statement started, in nanoseconds since [`epoch`]; 0: none.
    struct Clock {
        started: AtomicU64,
    }

    fn epoch() -> Instant {
        static EPOCH: OnceLock<Instant> = OnceLock::new();
        *EPOCH.get_or_init(Instant::now)
    }

    fn now() -> u64 {
        u64::try_from(epoch().elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// The `SQLITE_TRACE_STMT` callback: a statement starts running.
    extern "C" fn on_statement(
        _: c_uint,
        clock: *mut c_void,
        _: *mut c_void,
        _: *mut c_void,
    ) -> c_int {
        // SAFETY: `clock` is the `Clock` leaked by `install`, alive for the process.
        let clock = unsafe { &*(clock as *const Clock) };
        clock.started.store(now(), Ordering::Relaxed);
        0
    }

    /// Installs the clock and the progress handler on `conn`. The clock (8 bytes) is leaked
    /// on purpose: SQLite may call the trace callback until the connection closes, and a
    /// leaked clock cannot be freed too early. Connections are replaced every
    /// `DB_MAX_LIFETIME_SECS`, so this is a few bytes an hour.
    pub async fn install(
        conn: &mut sqlx::SqliteConnection,
        limit: Duration,
    ) -> Result<(), sqlx::Error> {
        let clock: &'static Clock = Box::leak(Box::new(Clock {
            started: AtomicU64::new(0),
        }));
        let limit = u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX);
        let mut handle = conn.lock_handle().await?;
        // SAFETY: the handle is the connection's open database, locked for this call; the
        // callback and its context outlive it.
        let rc = unsafe {
            libsqlite3_sys::sqlite3_trace_v2(
                handle.as_raw_handle().as_ptr(),
                libsqlite3_sys::SQLITE_TRACE_STMT as c_uint,
                Some(on_statement),
                clock as *const Clock as *mut c_void,
            )
        };
        if rc != libsqlite3_sys::SQLITE_OK {
            return Err(sqlx::Error::Protocol(format!(
                "cannot install the statement clock (SQLite error {rc})"
            )));
        }
        handle.set_progress_handler(1000, move || {
            let started = clock.started.load(Ordering::Relaxed);
            started == 0 || now().saturating_sub(started) < limit
        });
        Ok(())
    }
}

/// Opens a pool with `settings`. Errors: an invalid URL, or a server that cannot be
/// reached.
#[cfg(feature = "postgres")]
pub async fn connect(url: &str, settings: &PoolSettings) -> Result<Pool, sqlx::Error> {
    use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
    let timeout = format!("{}ms", settings.statement_timeout.as_millis());
    let options =
        PgConnectOptions::from_str(url)?.options([("statement_timeout", timeout.as_str())]);
    PgPoolOptions::new()
        .max_connections(settings.max_connections.max(1))
        .min_connections(settings.min_connections)
        .idle_timeout(settings.idle_timeout)
        .max_lifetime(settings.max_lifetime)
        .acquire_timeout(settings.acquire_timeout)
        .connect_with(options)
        .await
}

/// Runs `migrator`'s pending migrations ([`crate::migrations::up`]: one transaction each,
/// foreign keys checked inside it, SQLite table rebuilds keeping what apigen did not
/// create), then creates the runtime's own idempotency and audit tables if they are missing.
/// Errors: see [`crate::migrations::MigrationError`].
pub async fn migrate(
    pool: &Pool,
    migrator: &Migrator,
) -> Result<(), crate::migrations::MigrationError> {
    crate::migrations::up(pool, migrator).await?;
    #[cfg(feature = "sqlite")]
    sqlx::query(crate::idempotency::TABLE).execute(pool).await?;
    #[cfg(feature = "postgres")]
    crate::idempotency::ensure_table(pool).await?;
    for statement in crate::audit::TABLE {
        sqlx::query(statement).execute(pool).await?;
    }
    Ok(())
}

/// Whether `sql`, a `SELECT 1 … WHERE "id" = <placeholder 1>`, finds a row for `key`: how
/// a nested list learns that its parent exists. Errors: the database's.
pub async fn exists<'q, K>(sql: &'q str, key: K, pool: &Pool) -> Result<bool, sqlx::Error>
where
    K: 'q + Send + sqlx::Encode<'q, Db> + sqlx::Type<Db>,
{
    let mut conn = crate::write::Conn::open(pool).await?;
    Ok(sqlx::query(sql)
        .bind(key)
        .fetch_optional(conn.conn())
        .await?
        .is_some())
}

/// Deletes, from each of `tables` (soft-deleting: a `deleted_at` column), the rows deleted
/// before `before`; a row another row still refers to is kept (its delete is skipped).
/// The number of rows removed. Errors: the database's, other than a foreign key.
pub async fn purge_deleted(
    pool: &Pool,
    tables: &[&str],
    before: chrono::DateTime<chrono::Utc>,
) -> Result<u64, sqlx::Error> {
    let mut removed = 0;
    for table in tables {
        let sql = format!(
            "DELETE FROM \"{table}\" WHERE \"deleted_at\" IS NOT NULL AND \"deleted_at\" < $1"
        );
        match sqlx::query(&sql).bind(before).execute(pool).await {
            Ok(done) => removed += done.rows_affected(),
            // Some deleted row is still referenced: purge the others one by one.
            Err(e) if is_foreign_key_violation(&e) => {
                let keys: Vec<(String,)> = sqlx::query_as(&format!(
                    "SELECT CAST(\"id\" AS TEXT) FROM \"{table}\" WHERE \"deleted_at\" IS NOT NULL AND \"deleted_at\" < $1"
                ))
                .bind(before)
                .fetch_all(pool)
                .await?;
                for (key,) in keys {
                    let one = format!("DELETE FROM \"{table}\" WHERE CAST(\"id\" AS TEXT) = $1");
                    if let Ok(done) = sqlx::query(&one).bind(key).execute(pool).await {
                        removed += done.rows_affected();
                    }
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

/// How often a read-modify-write (PATCH) retries when another writer changed the row
/// between its read and its conditional write; past it the change answers 409.
pub const WRITE_ATTEMPTS: u32 = 32;

/// Whether `e` is a foreign-key violation (a reference to no row, or a row still
/// referenced).
pub fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_foreign_key_violation())
}

/// The answer to a write that broke a foreign key: 422 naming `dangling`, the fields
/// whose reference finds no row (a repository's `dangling` lists them), else what `e`
/// maps to (a row still referenced: 409).
pub fn reference_error(
    e: sqlx::Error,
    dangling: Vec<crate::validation::FieldError>,
) -> crate::ApiError {
    if dangling.is_empty() {
        crate::ApiError::from(e)
    } else {
        crate::ApiError::UnknownReference(dangling)
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use super::*;

    /// A statement that runs past the statement timeout is interrupted and answered 503;
    /// the clock starts again with each statement, so a slow session of quick statements
    /// is not, and the connection serves on.
    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn a_sqlite_statement_past_its_timeout_is_interrupted_as_unavailable() {
        let file = std::env::temp_dir().join(format!("apigen-clock-{}.db", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}", file.display());
        let settings = PoolSettings {
            statement_timeout: std::time::Duration::from_millis(500),
            ..PoolSettings::TEST
        };
        let pool = connect(&url, &settings).await.unwrap();
        let endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) SELECT count(*) FROM c";
        let started = std::time::Instant::now();
        let e = sqlx::query_scalar::<_, i64>(endless)
            .fetch_one(&pool)
            .await
            .expect_err("interrupted");
        let waited = started.elapsed();
        assert!(
            waited < std::time::Duration::from_secs(3),
            "stopped after {waited:?}"
        );
        assert!(matches!(
            crate::ApiError::from(e),
            crate::ApiError::Unavailable
        ));
        let mut conn = pool.acquire().await.unwrap();
        for _ in 0..3 {
            let one: i64 = sqlx::query_scalar("SELECT 1")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            assert_eq!(one, 1);
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
        drop(conn);
        pool.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
        }
    }

    #[tokio::test]
    async fn numbered_dollar_placeholders_bind_by_number_in_sqlite() {
        let pool = connect("sqlite::memory:", &PoolSettings::TEST)
            .await
            .unwrap();
        let row: (i64, String, i64) = sqlx::query_as("SELECT $2, $1, $2 + 1")
            .bind("one")
            .bind(2_i64)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(row, (2, "one".to_string(), 3));
    }

    #[tokio::test]
    async fn purging_removes_rows_deleted_long_ago_but_keeps_referenced_ones() {
        let pool = connect("sqlite::memory:", &PoolSettings::TEST)
            .await
            .unwrap();
        sqlx::raw_sql(
            "CREATE TABLE authors (id TEXT PRIMARY KEY, deleted_at TEXT);
             CREATE TABLE books (id TEXT PRIMARY KEY, author_id TEXT REFERENCES authors (id));",
        )
        .execute(&pool)
        .await
        .unwrap();
        let now = chrono::Utc::now();
        let old = now - chrono::Duration::days(40);
        for (id, deleted) in [
            ("live", None),
            ("recent", Some(now)),
            ("old", Some(old)),
            ("cited", Some(old)),
        ] {
            sqlx::query("INSERT INTO authors (id, deleted_at) VALUES ($1, $2)")
                .bind(id)
                .bind(deleted)
                .execute(&pool)
                .await
                .unwrap();
        }
        sqlx::query("INSERT INTO books (id, author_id) VALUES ('b', 'cited')")
            .execute(&pool)
            .await
            .unwrap();
        let before = now - chrono::Duration::days(30);
        assert_eq!(purge_deleted(&pool, &["authors"], before).await.unwrap(), 1);
        let left: Vec<(String,)> = sqlx::query_as("SELECT id FROM authors ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
        let left: Vec<&str> = left.iter().map(|(id,)| id.as_str()).collect();
        assert_eq!(left, ["cited", "live", "recent"]);
    }

    #[tokio::test]
    async fn the_account_tables_create_and_a_lookup_by_key_finds_a_row() {
        let pool = connect("sqlite::memory:", &PoolSettings::TEST)
            .await
            .unwrap();
        sqlx::raw_sql(ACCOUNT_TABLES).execute(&pool).await.unwrap();
        let id = uuid::Uuid::now_v7();
        sqlx::query("INSERT INTO auth_users (id, email, password_hash, roles, created_at, updated_at) VALUES ($1, 'a@b.test', 'x', 'admin', $2, $2)").bind(id).bind(chrono::Utc::now()).execute(&pool).await.unwrap();
        assert!(exists("SELECT 1 FROM auth_users WHERE id = $1", id, &pool)
            .await
            .unwrap());
        assert!(!exists(
            "SELECT 1 FROM auth_users WHERE id = $1",
            uuid::Uuid::nil(),
            &pool
        )
        .await
        .unwrap());
    }
}

#[cfg(all(test, feature = "postgres"))]
mod postgres_tests {
    use super::*;

    /// PostgreSQL cancels a statement at `statement_timeout` (query_canceled, 57014): 503.
    #[tokio::test]
    async fn a_postgres_statement_past_its_timeout_is_unavailable() {
        let settings = PoolSettings {
            statement_timeout: std::time::Duration::from_millis(300),
            ..PoolSettings::TEST
        };
        let pool = connect(&crate::testing::postgres_url(), &settings)
            .await
            .unwrap();
        let e = sqlx::query("SELECT pg_sleep(5)")
            .execute(&pool)
            .await
            .expect_err("cancelled");
        assert!(matches!(
            crate::ApiError::from(e),
            crate::ApiError::Unavailable
        ));
        let one: i32 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(one, 1);
    }
}
