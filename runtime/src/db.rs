//! The database: connection pool, per-statement timeout and migrations, for the dialect
//! this crate is built for (feature `sqlite` or `postgres`).
//!
//! Statements in this crate are written once for both dialects with numbered `$N`
//! placeholders, which PostgreSQL reads natively and SQLite reads as parameter number N
//! (sqlx binds SQLite's `$NNN` parameters by their number).

use sqlx::migrate::{MigrateError, Migrator};
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

/// Opens a pool; a SQLite file database is created on first use. `statement_timeout`
/// becomes SQLite's busy timeout, or PostgreSQL's `statement_timeout` (the server aborts
/// longer queries). Errors: an invalid URL, or (PostgreSQL) a server that cannot be reached.
#[cfg(feature = "sqlite")]
pub async fn connect(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
    statement_timeout: Duration,
) -> Result<Pool, sqlx::Error> {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
    let memory = url.contains(":memory:") || url.contains("mode=memory");
    let mut options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .foreign_keys(true)
        .busy_timeout(statement_timeout);
    if !memory {
        options = options.journal_mode(SqliteJournalMode::Wal);
    }
    SqlitePoolOptions::new()
        // An in-memory database lives in one connection.
        .max_connections(if memory { 1 } else { max_connections })
        .min_connections(if memory { 1 } else { 0 })
        .idle_timeout(if memory {
            None
        } else {
            Some(Duration::from_secs(600))
        })
        .max_lifetime(if memory {
            None
        } else {
            Some(Duration::from_secs(1800))
        })
        .acquire_timeout(acquire_timeout)
        // sqlx pings a connection before lending it by default: a round trip to the
        // connection's worker thread on every query, there to find a dropped network
        // connection. An embedded database has none to drop.
        .test_before_acquire(false)
        .connect_with(options)
        .await
}

/// Opens a pool; a SQLite file database is created on first use. `statement_timeout`
/// becomes SQLite's busy timeout, or PostgreSQL's `statement_timeout` (the server aborts
/// longer queries). Errors: an invalid URL, or (PostgreSQL) a server that cannot be reached.
#[cfg(feature = "postgres")]
pub async fn connect(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
    statement_timeout: Duration,
) -> Result<Pool, sqlx::Error> {
    use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
    let timeout = format!("{}ms", statement_timeout.as_millis());
    let options =
        PgConnectOptions::from_str(url)?.options([("statement_timeout", timeout.as_str())]);
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(acquire_timeout)
        .connect_with(options)
        .await
}

/// Runs `migrator`'s pending migrations.
///
/// SQLite: foreign keys are switched off on the migrating connection around the
/// migrator's transaction (SQLite ignores the pragma inside one), so migrations that
/// rebuild a table work; `PRAGMA foreign_key_check` then refuses to finish if any
/// reference is broken (<https://www.sqlite.org/lang_altertable.html>, "otheralter").
#[cfg(feature = "sqlite")]
pub async fn migrate(pool: &Pool, migrator: &Migrator) -> Result<(), MigrateError> {
    let mut conn = pool.acquire().await.map_err(MigrateError::Execute)?;
    sqlx::query("PRAGMA foreign_keys = OFF")
        .execute(&mut *conn)
        .await
        .map_err(MigrateError::Execute)?;
    let result = migrator.run(&mut *conn).await;
    sqlx::query("PRAGMA foreign_keys = ON")
        .execute(&mut *conn)
        .await
        .map_err(MigrateError::Execute)?;
    result?;
    let broken = sqlx::query("PRAGMA foreign_key_check")
        .fetch_all(&mut *conn)
        .await
        .map_err(MigrateError::Execute)?;
    if broken.is_empty() {
        Ok(())
    } else {
        Err(MigrateError::Execute(sqlx::Error::Protocol(format!(
            "{} row(s) break a foreign key after migrating",
            broken.len()
        ))))
    }
}

/// Runs `migrator`'s pending migrations.
#[cfg(feature = "postgres")]
pub async fn migrate(pool: &Pool, migrator: &Migrator) -> Result<(), MigrateError> {
    migrator.run(pool).await
}

/// Whether `sql`, a `SELECT 1 … WHERE "id" = <placeholder 1>`, finds a row for `key`: how
/// a nested list learns that its parent exists. Errors: the database's.
pub async fn exists<'q, K>(sql: &'q str, key: K, pool: &Pool) -> Result<bool, sqlx::Error>
where
    K: 'q + Send + sqlx::Encode<'q, Db> + sqlx::Type<Db>,
{
    Ok(sqlx::query(sql)
        .bind(key)
        .fetch_optional(pool)
        .await?
        .is_some())
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn numbered_dollar_placeholders_bind_by_number_in_sqlite() {
        let pool = connect(
            "sqlite::memory:",
            1,
            Duration::from_secs(5),
            Duration::from_secs(5),
        )
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
    async fn the_account_tables_create_and_a_lookup_by_key_finds_a_row() {
        let pool = connect(
            "sqlite::memory:",
            1,
            Duration::from_secs(5),
            Duration::from_secs(5),
        )
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
