//! The migration runner of a generated service: what the service does at start-up and what
//! its `migrate up | down | status` commands do, over the `Migrator` that
//! `sqlx::migrate!` embeds and sqlx's bookkeeping table `_sqlx_migrations`.
//!
//! Beyond sqlx's own `Migrator::run` and `undo`:
//! - **One transaction a migration, foreign keys checked inside it** (SQLite): foreign keys
//!   are off around the migration (SQLite's table-rebuild procedure needs that, and SQLite
//!   ignores the pragma inside a transaction), and `PRAGMA foreign_key_check` runs before
//!   the commit, so a migration that leaves a broken reference is rolled back, never
//!   committed (<https://www.sqlite.org/lang_altertable.html>, "otheralter"). The
//!   transaction is `BEGIN IMMEDIATE`, and a version another process applied meanwhile is
//!   skipped.
//! - **Table rebuilds keep what apigen did not create** (SQLite): before a table rebuild
//!   (an `-- apigen:rebuild {JSON}` line written by `apigen migrate`), the live table is
//!   read from `sqlite_master` and `pragma_table_info`; every column, index, trigger and
//!   view beyond those apigen created is carried through the rebuild with its values, in
//!   the same transaction, or the migration stops naming what it cannot carry.
//! - **Irreversible steps are refused**: a down file with `-- apigen:irreversible REASON`
//!   lines (values the up migration deleted or rewrote) is not applied unless forced.
//! - **Status with pre-checks**: [`status`] lists applied and pending versions and runs the
//!   pending migrations' pre-checks (`-- apigen:pre-check RULE` followed by
//!   `-- apigen:rows SELECT …`) read-only, with the keys of the rows that would stop them.
//!
//! PostgreSQL runs DDL in transactions and enforces foreign keys at once: its migrations
//! go through sqlx's own `apply` and `revert`, under sqlx's advisory lock.

use crate::db::{Db, Pool};
use sqlx::migrate::{Migrate, MigrateError, Migration, Migrator};
use sqlx::pool::PoolConnection;
use std::collections::HashMap;
use std::fmt;

/// Why migrating stopped.
#[derive(Debug)]
pub enum MigrationError {
    /// sqlx's runner or the database refused: a failed statement (a pre-check's message
    /// included), a changed or missing applied version, a dirty database.
    Migrate(MigrateError),
    /// The down file of `version` says it cannot restore what the up migration removed.
    Irreversible {
        version: i64,
        description: String,
        reasons: Vec<String>,
    },
    /// A table rebuild of `version` cannot carry `what` (which apigen did not create).
    CannotCarry {
        version: i64,
        table: String,
        what: String,
        why: String,
    },
    /// `version` left rows whose foreign key leads nowhere (SQLite); it was rolled back.
    ForeignKeys {
        version: i64,
        rows: usize,
        tables: Vec<String>,
    },
    /// `migrate down` found no applied migration to revert, or `version` has no down file.
    NothingToRevert(String),
}

impl fmt::Display for MigrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MigrationError::Migrate(MigrateError::ExecuteMigration(e, v)) => {
                write!(f, "migration {v} failed and changed nothing: {e}")
            }
            MigrationError::Migrate(e) => write!(f, "{e}"),
            MigrationError::Irreversible {
                version,
                description,
                reasons,
            } => write!(
                f,
                "migration {version} ({description}) cannot be reverted exactly: {}; nothing was reverted (`migrate down --force` reverts it and accepts that loss)",
                reasons.join("; ")
            ),
            MigrationError::CannotCarry {
                version,
                table,
                what,
                why,
            } => write!(
                f,
                "migration {version} rebuilds table {table} and cannot carry {what}, which apigen did not create, through the rebuild ({why}); nothing was changed: drop or change it in a migration of your own first, or declare it in the contract"
            ),
            MigrationError::ForeignKeys {
                version,
                rows,
                tables,
            } => write!(
                f,
                "migration {version} would leave {rows} row(s) of {} referring to rows that do not exist; it was rolled back: fix those rows, then migrate again",
                tables.join(", ")
            ),
            MigrationError::NothingToRevert(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for MigrationError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MigrationError::Migrate(e) => Some(e),
            _ => None,
        }
    }
}

impl From<MigrateError> for MigrationError {
    fn from(e: MigrateError) -> Self {
        MigrationError::Migrate(e)
    }
}

impl From<sqlx::Error> for MigrationError {
    fn from(e: sqlx::Error) -> Self {
        MigrationError::Migrate(MigrateError::Execute(e))
    }
}

/// The values of the `-- apigen:NAME VALUE` comment lines of `sql`, in order.
pub fn markers<'a>(sql: &'a str, name: &str) -> Vec<&'a str> {
    let prefix = format!("-- apigen:{name} ");
    sql.lines()
        .filter_map(|l| l.trim_start().strip_prefix(prefix.as_str()))
        .map(str::trim)
        .collect()
}

/// One migration's place in the database: from [`status`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The version (the file's `NNNN_` prefix).
    pub version: i64,
    /// The file's description (`add_pages_to_books`).
    pub description: String,
    /// Recorded as applied in `_sqlx_migrations`.
    pub applied: bool,
    /// Applied, but the file's checksum differs from the one recorded: it was edited after
    /// it was applied (the service refuses to start).
    pub changed: bool,
    /// Reasons its down file gives for not restoring exactly (`-- apigen:irreversible`).
    pub irreversible: Vec<String>,
    /// It has a down file.
    pub reversible: bool,
}

/// A pre-check of a pending migration run against the live database: from [`status`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The migration it belongs to.
    pub version: i64,
    /// What would break (`books.title: the new rule …`).
    pub rule: String,
    /// The outcome.
    pub outcome: Outcome,
}

/// What a pre-check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No row breaks the rule.
    Clear,
    /// The keys of the rows that break it (the first 20), as text.
    Blocked(Vec<String>),
    /// The query could not run on the schema as it is now (it reads what an earlier
    /// pending migration creates): the database's message.
    Unchecked(String),
}

/// Applied and pending migrations, and the pending ones' pre-checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Every migration the service embeds, by version.
    pub steps: Vec<Step>,
    /// The pre-checks of the pending migrations, in the order they would run.
    pub checks: Vec<Check>,
}

/// Applies every pending migration in version order, each in its own transaction; returns
/// the versions applied. Errors: see [`MigrationError`]; the failing migration changed
/// nothing, the ones before it stay applied.
pub async fn up(pool: &Pool, migrator: &Migrator) -> Result<Vec<i64>, MigrationError> {
    let mut conn = unbounded(pool).await?;
    let applied = begin(&mut conn, migrator).await?;
    let mut done = Vec::new();
    let mut result = Ok(());
    for m in migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
    {
        match applied.get(&m.version) {
            Some(checksum) if checksum != &*m.checksum => {
                result = Err(MigrateError::VersionMismatch(m.version).into());
                break;
            }
            Some(_) => {}
            None => match apply(&mut conn, m, true).await {
                Ok(true) => done.push(m.version),
                Ok(false) => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            },
        }
    }
    end(&mut conn, migrator).await?;
    result.map(|()| done)
}

/// Reverts applied migrations newest first: down to (not including) `to`, or only the
/// newest when `to` is `None`; returns the versions reverted. A step whose down file is
/// marked irreversible is refused, before anything is reverted, unless `force`.
/// Errors: see [`MigrationError`].
pub async fn down(
    pool: &Pool,
    migrator: &Migrator,
    to: Option<i64>,
    force: bool,
) -> Result<Vec<i64>, MigrationError> {
    let mut conn = unbounded(pool).await?;
    let applied = begin(&mut conn, migrator).await?;
    let result = revert_all(&mut conn, migrator, &applied, to, force).await;
    end(&mut conn, migrator).await?;
    result
}

async fn revert_all(
    conn: &mut PoolConnection<Db>,
    migrator: &Migrator,
    applied: &HashMap<i64, Vec<u8>>,
    to: Option<i64>,
    force: bool,
) -> Result<Vec<i64>, MigrationError> {
    let mut versions: Vec<i64> = applied.keys().copied().collect();
    versions.sort_unstable_by(|a, b| b.cmp(a));
    let targets: Vec<i64> = match to {
        Some(t) => versions.into_iter().filter(|v| *v > t).collect(),
        None => versions.into_iter().take(1).collect(),
    };
    if targets.is_empty() {
        return Err(MigrationError::NothingToRevert(match to {
            Some(t) => format!("no applied migration is newer than {t}"),
            None => "no migration is applied".to_string(),
        }));
    }
    let mut downs = Vec::new();
    for v in &targets {
        let m = migrator
            .iter()
            .find(|m| m.version == *v && m.migration_type.is_down_migration())
            .ok_or_else(|| {
                MigrationError::NothingToRevert(format!(
                    "migration {v} has no down file, so it cannot be reverted"
                ))
            })?;
        let reasons: Vec<String> = markers(&m.sql, "irreversible")
            .into_iter()
            .map(str::to_string)
            .collect();
        if !reasons.is_empty() && !force {
            return Err(MigrationError::Irreversible {
                version: m.version,
                description: m.description.to_string(),
                reasons,
            });
        }
        downs.push(m);
    }
    let mut done = Vec::new();
    for m in downs {
        if apply(conn, m, false).await? {
            done.push(m.version);
        }
    }
    Ok(done)
}

/// Applied and pending migrations, and the pending ones' pre-checks run read-only against
/// the database (their rows' keys listed). Creates sqlx's bookkeeping table if it is
/// missing, and changes nothing else. Errors: the database cannot be read.
pub async fn status(pool: &Pool, migrator: &Migrator) -> Result<Status, MigrationError> {
    let mut conn = unbounded(pool).await?;
    conn.ensure_migrations_table().await?;
    let applied: HashMap<i64, Vec<u8>> = conn
        .list_applied_migrations()
        .await?
        .into_iter()
        .map(|m| (m.version, m.checksum.into_owned()))
        .collect();
    let mut steps = Vec::new();
    let mut checks = Vec::new();
    for m in migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
    {
        let down = migrator
            .iter()
            .find(|d| d.version == m.version && d.migration_type.is_down_migration());
        let recorded = applied.get(&m.version);
        steps.push(Step {
            version: m.version,
            description: m.description.to_string(),
            applied: recorded.is_some(),
            changed: recorded.is_some_and(|c| c != &*m.checksum),
            irreversible: down
                .map(|d| {
                    markers(&d.sql, "irreversible")
                        .into_iter()
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            reversible: down.is_some(),
        });
        if recorded.is_none() {
            for (rule, rows) in prechecks(&m.sql) {
                let outcome = match sqlx::query_scalar::<_, String>(rows)
                    .fetch_all(&mut *conn)
                    .await
                {
                    Ok(keys) if keys.is_empty() => Outcome::Clear,
                    Ok(keys) => Outcome::Blocked(keys),
                    Err(e) => Outcome::Unchecked(e.to_string()),
                };
                checks.push(Check {
                    version: m.version,
                    rule: rule.to_string(),
                    outcome,
                });
            }
        }
    }
    Ok(Status { steps, checks })
}

/// The (rule, keys query) pairs of `sql`'s pre-checks: each `-- apigen:pre-check RULE` line
/// with the `-- apigen:rows SELECT …` line that follows it.
pub fn prechecks(sql: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rule = None;
    for line in sql.lines().map(str::trim_start) {
        if let Some(r) = line.strip_prefix("-- apigen:pre-check ") {
            rule = Some(r.trim());
        } else if let (Some(q), Some(r)) = (line.strip_prefix("-- apigen:rows "), rule.take()) {
            out.push((r, q.trim()));
        }
    }
    out
}

/// A connection of `pool` without the statement timeout (`DB_STATEMENT_TIMEOUT_SECS` is for
/// requests; rebuilding a large table may take longer), closed rather than returned to the
/// pool when dropped, so no request runs on it unbounded.
async fn unbounded(pool: &Pool) -> Result<PoolConnection<Db>, MigrationError> {
    let mut conn = pool.acquire().await?;
    // An in-memory SQLite database lives in its one connection: that one is kept (a test's
    // database then runs without the statement clock).
    #[cfg(feature = "sqlite")]
    {
        let file = pool
            .connect_options()
            .get_filename()
            .to_string_lossy()
            .into_owned();
        if !file.contains("memory") {
            conn.close_on_drop();
        }
        conn.lock_handle().await?.remove_progress_handler();
    }
    #[cfg(feature = "postgres")]
    conn.close_on_drop();
    #[cfg(feature = "postgres")]
    sqlx::query("SET statement_timeout = 0")
        .execute(&mut *conn)
        .await?;
    Ok(conn)
}

/// Locks, creates the bookkeeping table, refuses a dirty database or an applied version
/// the service no longer has; returns the applied versions with their checksums.
async fn begin(
    conn: &mut PoolConnection<Db>,
    migrator: &Migrator,
) -> Result<HashMap<i64, Vec<u8>>, MigrationError> {
    if migrator.locking {
        conn.lock().await?;
    }
    conn.ensure_migrations_table().await?;
    if let Some(v) = conn.dirty_version().await? {
        return Err(MigrateError::Dirty(v).into());
    }
    let applied = conn.list_applied_migrations().await?;
    if !migrator.ignore_missing {
        if let Some(a) = applied
            .iter()
            .find(|a| !migrator.iter().any(|m| m.version == a.version))
        {
            return Err(MigrateError::VersionMissing(a.version).into());
        }
    }
    Ok(applied
        .into_iter()
        .map(|m| (m.version, m.checksum.into_owned()))
        .collect())
}

async fn end(conn: &mut PoolConnection<Db>, migrator: &Migrator) -> Result<(), MigrationError> {
    if migrator.locking {
        conn.unlock().await?;
    }
    Ok(())
}

/// Applies `m` (`up`) or reverts it; false when another process did it first.
#[cfg(feature = "postgres")]
async fn apply(
    conn: &mut PoolConnection<Db>,
    m: &Migration,
    up: bool,
) -> Result<bool, MigrationError> {
    if up {
        conn.apply(m).await?;
    } else {
        conn.revert(m).await?;
    }
    Ok(true)
}

/// Applies `m` (`up`) or reverts it in one `BEGIN IMMEDIATE` transaction with foreign keys
/// off, carrying what apigen did not create through its table rebuilds and checking every
/// foreign key before the commit; false when another process did it first.
#[cfg(feature = "sqlite")]
async fn apply(
    conn: &mut PoolConnection<Db>,
    m: &Migration,
    up: bool,
) -> Result<bool, MigrationError> {
    sqlx::query("PRAGMA foreign_keys = OFF")
        .execute(&mut **conn)
        .await?;
    let result = rebuild::apply(conn, m, up).await;
    sqlx::query("PRAGMA foreign_keys = ON")
        .execute(&mut **conn)
        .await?;
    result
}

#[cfg(feature = "sqlite")]
mod rebuild {
    //! SQLite: one migration in one transaction, table rebuilds carrying what the live
    //! table has beyond apigen's own columns and indexes.
    use super::MigrationError;
    use crate::db::Db;
    use sqlx::migrate::{MigrateError, Migration};
    use sqlx::pool::PoolConnection;
    use sqlx::{Connection, Executor, Row, SqliteConnection};

    /// What `apigen migrate` says of a table it rebuilds (the `-- apigen:rebuild` line).
    #[derive(Debug, serde::Deserialize)]
    pub(super) struct Rebuild {
        /// The table's name before the migration.
        before: String,
        /// Its name after.
        table: String,
        /// Its key column.
        key: String,
        /// The columns apigen created, as named before the migration.
        columns: Vec<String>,
        /// The indexes apigen created.
        indexes: Vec<String>,
    }

    /// What a rebuild must carry: columns (name, definition), objects (type, name, SQL),
    /// and the temporary table holding the columns' values by key.
    struct Keep {
        rebuild: Rebuild,
        columns: Vec<(String, String)>,
        objects: Vec<(String, String, String)>,
        temp: String,
    }

    pub(super) async fn apply(
        conn: &mut PoolConnection<Db>,
        m: &Migration,
        up: bool,
    ) -> Result<bool, MigrationError> {
        let rebuilds: Vec<Rebuild> = super::markers(&m.sql, "rebuild")
            .into_iter()
            .map(|j| {
                serde_json::from_str(j).map_err(|e| {
                    MigrationError::Migrate(MigrateError::ExecuteMigration(
                        sqlx::Error::Protocol(format!("invalid apigen:rebuild line {j}: {e}")),
                        m.version,
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        let start = std::time::Instant::now();
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let recorded: Option<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE version = $1")
                .bind(m.version)
                .fetch_optional(&mut *tx)
                .await?;
        if recorded.is_some() == up {
            // Another process applied (or reverted) it while this one waited for the lock.
            return Ok(false);
        }
        let mut keeps = Vec::new();
        for (i, r) in rebuilds.into_iter().enumerate() {
            keeps.push(keep(&mut tx, r, i, m.version).await?);
        }
        tx.execute(&*m.sql)
            .await
            .map_err(|e| MigrateError::ExecuteMigration(e, m.version))?;
        for k in &keeps {
            restore(&mut tx, k, m.version).await?;
        }
        let broken = sqlx::query("PRAGMA foreign_key_check")
            .fetch_all(&mut *tx)
            .await?;
        if !broken.is_empty() {
            let mut tables: Vec<String> = broken
                .iter()
                .map(|r| r.try_get::<String, _>(0).unwrap_or_default())
                .collect();
            tables.sort();
            tables.dedup();
            return Err(MigrationError::ForeignKeys {
                version: m.version,
                rows: broken.len(),
                tables,
            });
        }
        if up {
            sqlx::query("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES ($1, $2, TRUE, $3, $4)")
                .bind(m.version)
                .bind(&*m.description)
                .bind(&*m.checksum)
                .bind(i64::try_from(start.elapsed().as_nanos()).unwrap_or(i64::MAX))
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query("DELETE FROM _sqlx_migrations WHERE version = $1")
                .bind(m.version)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    fn quoted(name: &str) -> String {
        format!("\"{}\"", name.replace('"', "\"\""))
    }

    /// Reads what the live table has beyond `r`, saves those columns' values by key, and
    /// drops the views that read the table (a rebuild's rename fails under them).
    async fn keep(
        tx: &mut SqliteConnection,
        rebuild: Rebuild,
        i: usize,
        version: i64,
    ) -> Result<Keep, MigrationError> {
        let known = |names: &[String], n: &str| names.iter().any(|k| k.eq_ignore_ascii_case(n));
        let live: Vec<(String, String, bool, Option<String>)> = sqlx::query(
            "SELECT name, type, \"notnull\", dflt_value FROM pragma_table_info($1) ORDER BY cid",
        )
        .bind(&rebuild.before)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| {
            (
                r.get::<String, _>(0),
                r.get::<String, _>(1),
                r.get::<bool, _>(2),
                r.get::<Option<String>, _>(3),
            )
        })
        .collect();
        let create: Option<String> =
            sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = $1")
                .bind(&rebuild.before)
                .fetch_optional(&mut *tx)
                .await?;
        let defs = create
            .as_deref()
            .map(column_definitions)
            .unwrap_or_default();
        let columns: Vec<(String, String)> = live
            .iter()
            .filter(|(name, ..)| !known(&rebuild.columns, name))
            .map(|(name, ty, not_null, default)| {
                let def = defs
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, d)| d.clone())
                    .unwrap_or_else(|| {
                        let mut d = format!("{} {ty}", quoted(name));
                        if *not_null {
                            d.push_str(" NOT NULL");
                        }
                        if let Some(v) = default {
                            d.push_str(&format!(" DEFAULT {v}"));
                        }
                        d
                    });
                (name.clone(), def)
            })
            .collect();
        let mut objects: Vec<(String, String, String)> = sqlx::query(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = $1 AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY type, name",
        )
        .bind(&rebuild.before)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .filter(|(ty, name, _): &(String, String, String)| {
            ty == "trigger" || !known(&rebuild.indexes, name)
        })
        .collect();
        // Views naming the table (by either name) are dropped now and made again after.
        let views: Vec<(String, String, String)> = sqlx::query(
            "SELECT type, name, sql FROM sqlite_master WHERE type = 'view' AND sql IS NOT NULL ORDER BY name",
        )
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .filter(|(_, _, sql): &(String, String, String)| {
            let sql = sql.to_ascii_lowercase();
            [&rebuild.before, &rebuild.table]
                .iter()
                .any(|t| mentions(&sql, &t.to_ascii_lowercase()))
        })
        .collect();
        for (_, name, _) in &views {
            tx.execute(&*format!("DROP VIEW {}", quoted(name)))
                .await
                .map_err(|e| MigrateError::ExecuteMigration(e, version))?;
        }
        objects.extend(views);
        let temp = format!("_apigen_keep_{i}");
        if !columns.is_empty() {
            let list: Vec<String> = std::iter::once(&rebuild.key)
                .chain(columns.iter().map(|(n, _)| n))
                .map(|n| quoted(n))
                .collect();
            tx.execute(&*format!(
                "CREATE TEMP TABLE {} AS SELECT {} FROM {}",
                quoted(&temp),
                list.join(", "),
                quoted(&rebuild.before)
            ))
            .await
            .map_err(|e| MigrateError::ExecuteMigration(e, version))?;
        }
        Ok(Keep {
            rebuild,
            columns,
            objects,
            temp,
        })
    }

    /// Whether lowercased SQL `sql` names table `table` (as a whole word or quoted).
    fn mentions(sql: &str, table: &str) -> bool {
        sql.match_indices(table).any(|(at, _)| {
            let before = sql[..at].chars().next_back();
            let after = sql[at + table.len()..].chars().next();
            let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            !word(before) && !word(after)
        })
    }

    /// Puts back, after the migration's statements, what [`keep`] saved.
    async fn restore(
        tx: &mut SqliteConnection,
        k: &Keep,
        version: i64,
    ) -> Result<(), MigrationError> {
        let r = &k.rebuild;
        let cannot = |what: String, e: sqlx::Error| MigrationError::CannotCarry {
            version,
            table: r.table.clone(),
            what,
            why: e.to_string(),
        };
        let now: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info($1)")
            .bind(&r.table)
            .fetch_all(&mut *tx)
            .await?;
        if now.is_empty() {
            // The migration dropped the table: nothing of it to carry.
            return Ok(());
        }
        let mut set = Vec::new();
        for (name, def) in &k.columns {
            if now.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                // apigen's migration kept it or took the name over: the migration decides.
                continue;
            }
            tx.execute(&*format!(
                "ALTER TABLE {} ADD COLUMN {def}",
                quoted(&r.table)
            ))
            .await
            .map_err(|e| cannot(format!("column {name} ({def})"), e))?;
            set.push(format!("{0} = \"k\".{0}", quoted(name)));
        }
        if !set.is_empty() {
            tx.execute(&*format!(
                "UPDATE {t} SET {} FROM temp.{} AS \"k\" WHERE \"k\".{key} = {t}.{key}",
                set.join(", "),
                quoted(&k.temp),
                t = quoted(&r.table),
                key = quoted(&r.key),
            ))
            .await
            .map_err(|e| cannot(format!("the values of {}", set.join(", ")), e))?;
        }
        if !k.columns.is_empty() {
            tx.execute(&*format!("DROP TABLE temp.{}", quoted(&k.temp)))
                .await?;
        }
        for (ty, name, sql) in &k.objects {
            let exists: Option<String> =
                sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = $1 AND name = $2")
                    .bind(ty)
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await?;
            if exists.is_none() {
                tx.execute(sql.as_str())
                    .await
                    .map_err(|e| cannot(format!("{ty} {name}"), e))?;
            }
        }
        Ok(())
    }

    /// `p` without leading whitespace and `--` comment lines (a part of a `CREATE TABLE` body
    /// may start with the comment that ended the line before it).
    fn uncommented(mut p: &str) -> &str {
        loop {
            p = p.trim();
            match p.strip_prefix("--") {
                Some(rest) => p = rest.split_once('\n').map(|(_, r)| r).unwrap_or(""),
                None => return p,
            }
        }
    }

    /// The column definitions of a `CREATE TABLE` statement, by column name: the text
    /// between the top-level commas of its parenthesised body that does not start a table
    /// constraint.
    pub(super) fn column_definitions(create: &str) -> Vec<(String, String)> {
        let Some(open) = create.find('(') else {
            return Vec::new();
        };
        let body = &create[open + 1..];
        let mut parts = Vec::new();
        let (mut depth, mut start, mut quote) = (0usize, 0usize, None::<char>);
        let mut chars = body.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match quote {
                Some(q) => {
                    if c == q {
                        quote = None;
                    }
                }
                None => match c {
                    '\'' | '"' | '`' => quote = Some(c),
                    '[' => quote = Some(']'),
                    '-' if chars.peek().is_some_and(|(_, n)| *n == '-') => quote = Some('\n'),
                    '(' => depth += 1,
                    ')' if depth == 0 => {
                        parts.push(&body[start..i]);
                        break;
                    }
                    ')' => depth -= 1,
                    ',' if depth == 0 => {
                        parts.push(&body[start..i]);
                        start = i + 1;
                    }
                    _ => {}
                },
            }
        }
        // A part may start with the comment that ended the previous line.
        parts
            .into_iter()
            .map(uncommented)
            .filter_map(|p: &str| {
                let name = match p.chars().next()? {
                    q @ ('"' | '`' | '[') => {
                        let close = if q == '[' { ']' } else { q };
                        let end = p[1..].find(close)? + 1;
                        p[1..end].to_string()
                    }
                    _ => {
                        let word = p.split_whitespace().next()?;
                        let constraint = ["constraint", "primary", "unique", "check", "foreign"]
                            .iter()
                            .any(|k| word.eq_ignore_ascii_case(k));
                        if constraint {
                            return None;
                        }
                        word.to_string()
                    }
                };
                Some((name, p.to_string()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    #[test]
    fn markers_and_prechecks_are_read_from_comment_lines() {
        let sql = "-- apigen:irreversible the values of books.isbn cannot come back\n-- apigen:pre-check books.title: the new rule\n-- apigen:rows SELECT id FROM books WHERE x\nSELECT 1;\n";
        assert_eq!(
            markers(sql, "irreversible"),
            ["the values of books.isbn cannot come back"]
        );
        assert_eq!(
            prechecks(sql),
            [("books.title: the new rule", "SELECT id FROM books WHERE x")]
        );
        assert!(markers("SELECT '-- apigen:x y';", "x").is_empty());
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn column_definitions_split_at_top_level_commas_only() {
        let defs = rebuild::column_definitions(
            "CREATE TABLE \"books\" (\n \"id\" BLOB PRIMARY KEY NOT NULL,\n \"title\" TEXT NOT NULL CHECK (length(\"title\") <= 250), -- a, comment\n shelf TEXT DEFAULT 'a,b',\n CONSTRAINT \"x\" FOREIGN KEY (\"id\") REFERENCES \"t\" (\"id\"), [odd name] INTEGER)",
        );
        let names: Vec<&str> = defs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["id", "title", "shelf", "odd name"]);
        assert_eq!(defs[2].1, "shelf TEXT DEFAULT 'a,b'");
        assert!(defs[1].1.contains("CHECK (length(\"title\") <= 250)"));
    }

    fn migration(version: i64, description: &str, down: bool, sql: &str) -> Migration {
        use sqlx::migrate::MigrationType;
        Migration::new(
            version,
            Cow::Owned(description.to_string()),
            if down {
                MigrationType::ReversibleDown
            } else {
                MigrationType::ReversibleUp
            },
            Cow::Owned(sql.to_string()),
            false,
        )
    }

    fn migrator(steps: Vec<Migration>) -> Migrator {
        Migrator {
            migrations: Cow::Owned(steps),
            ..Migrator::DEFAULT
        }
    }

    #[cfg(feature = "sqlite")]
    async fn pool() -> Pool {
        crate::db::connect("sqlite::memory:", &crate::db::PoolSettings::TEST)
            .await
            .unwrap()
    }

    /// A pool whose connections use a new schema of their own in `DATABASE_URL`'s database.
    #[cfg(feature = "postgres")]
    async fn pool() -> Pool {
        use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
        use std::str::FromStr;
        let base = crate::testing::postgres_url();
        let schema = format!("test_{}", uuid::Uuid::new_v4().simple());
        let server = sqlx::PgPool::connect(&base).await.unwrap();
        sqlx::query(&format!("CREATE SCHEMA \"{schema}\""))
            .execute(&server)
            .await
            .unwrap();
        server.close().await;
        let options = PgConnectOptions::from_str(&base)
            .unwrap()
            .options([("search_path", schema.as_str())]);
        PgPoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .unwrap()
    }

    /// apigen's first migration of a `books` table, a user's own migration adding a column,
    /// an index, a trigger and a view, then apigen's rebuild of the table (a tighter
    /// CHECK): the user's column keeps every value, the index, trigger and view are back.
    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn a_rebuild_carries_the_columns_indexes_triggers_and_views_apigen_did_not_create() {
        let create = "CREATE TABLE \"books\" (\"id\" BLOB PRIMARY KEY NOT NULL, \"title\" TEXT NOT NULL CHECK (length(\"title\") <= 250));\nCREATE INDEX \"books_title_idx\" ON \"books\" (\"title\");\n";
        let user = "ALTER TABLE books ADD COLUMN shelf TEXT NOT NULL DEFAULT 'A1' CHECK (shelf <> '');\nCREATE INDEX books_shelf ON books (shelf);\nCREATE TABLE audit (what TEXT);\nCREATE TRIGGER books_audit AFTER UPDATE ON books BEGIN INSERT INTO audit VALUES (NEW.title); END;\nCREATE VIEW shelves AS SELECT shelf, count(*) AS n FROM books GROUP BY shelf;\n";
        let rebuild = "-- apigen:rebuild {\"before\":\"books\",\"table\":\"books\",\"key\":\"id\",\"columns\":[\"id\",\"title\"],\"indexes\":[\"books_title_idx\"]}\nCREATE TABLE \"_apigen_new_books\" (\"id\" BLOB PRIMARY KEY NOT NULL, \"title\" TEXT NOT NULL CHECK (length(\"title\") <= 100));\nINSERT INTO \"_apigen_new_books\" (\"id\", \"title\") SELECT \"id\", \"title\" FROM \"books\";\nDROP TABLE \"books\";\nALTER TABLE \"_apigen_new_books\" RENAME TO \"books\";\nCREATE INDEX \"books_title_idx\" ON \"books\" (\"title\");\n";
        let m = migrator(vec![
            migration(1, "init", false, create),
            migration(2, "user shelf", false, user),
            migration(3, "change title", false, rebuild),
        ]);
        let pool = pool().await;
        // Apply the first two, then add rows, then the rebuild.
        let first = migrator(m.migrations[..2].to_vec());
        assert_eq!(up(&pool, &first).await.unwrap(), [1, 2]);
        sqlx::query("INSERT INTO books (id, title, shelf) VALUES (x'01', 'Dune', 'B7'), (x'02', 'Emma', 'A1')")
            .execute(&pool)
            .await
            .unwrap();
        assert_eq!(up(&pool, &m).await.unwrap(), [3]);
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT title, shelf FROM books ORDER BY title")
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(
            rows,
            [("Dune".into(), "B7".into()), ("Emma".into(), "A1".into())]
        );
        let objects: Vec<String> = sqlx::query_scalar(
            "SELECT type || ' ' || name FROM sqlite_master WHERE name IN ('books_shelf', 'books_audit', 'shelves', 'books_title_idx') ORDER BY name",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(
            objects,
            [
                "trigger books_audit",
                "index books_shelf",
                "index books_title_idx",
                "view shelves"
            ]
        );
        // The carried column keeps its rule, and the new rule of apigen's column holds.
        assert!(
            sqlx::query("UPDATE books SET shelf = '' WHERE title = 'Dune'")
                .execute(&pool)
                .await
                .is_err()
        );
        assert!(
            sqlx::query("UPDATE books SET title = ?1 WHERE title = 'Dune'")
                .bind("x".repeat(101))
                .execute(&pool)
                .await
                .is_err()
        );
        let seen: i64 = sqlx::query_scalar("SELECT n FROM shelves WHERE shelf = 'B7'")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(seen, 1);
    }

    /// A user's column the rebuild cannot add back (NOT NULL without a default) stops the
    /// migration with its name, and nothing changes.
    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn a_rebuild_that_cannot_carry_a_column_changes_nothing_and_names_it() {
        let pool = pool().await;
        let m = migrator(vec![
            migration(1, "init", false, "CREATE TABLE \"t\" (\"id\" INTEGER PRIMARY KEY, \"a\" TEXT);"),
            migration(2, "user", false, "CREATE TABLE \"t2\" (\"id\" INTEGER PRIMARY KEY, \"a\" TEXT, \"b\" TEXT NOT NULL);\nINSERT INTO t2 SELECT id, a, 'x' FROM t;\nDROP TABLE t;\nALTER TABLE t2 RENAME TO t;"),
            migration(3, "rebuild", false, "-- apigen:rebuild {\"before\":\"t\",\"table\":\"t\",\"key\":\"id\",\"columns\":[\"id\",\"a\"],\"indexes\":[]}\nCREATE TABLE \"_apigen_new_t\" (\"id\" INTEGER PRIMARY KEY, \"a\" TEXT NOT NULL DEFAULT '');\nINSERT INTO \"_apigen_new_t\" (\"id\", \"a\") SELECT \"id\", COALESCE(\"a\", '') FROM \"t\";\nDROP TABLE \"t\";\nALTER TABLE \"_apigen_new_t\" RENAME TO \"t\";"),
        ]);
        up(&pool, &migrator(m.migrations[..2].to_vec()))
            .await
            .unwrap();
        sqlx::query("INSERT INTO t VALUES (1, NULL, 'kept')")
            .execute(&pool)
            .await
            .unwrap();
        let e = up(&pool, &m).await.unwrap_err().to_string();
        assert!(
            e.contains("migration 3 rebuilds table t and cannot carry column b"),
            "{e}"
        );
        let b: String = sqlx::query_scalar("SELECT b FROM t")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(b, "kept");
        let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(applied, 2);
    }

    /// A migration that leaves an orphan reference is rolled back, not committed.
    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn a_migration_leaving_an_orphan_is_rolled_back_and_names_the_table() {
        let pool = pool().await;
        let m = migrator(vec![
            migration(1, "init", false, "CREATE TABLE a (id INTEGER PRIMARY KEY);\nCREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a (id));"),
            migration(2, "orphan", false, "INSERT INTO b VALUES (1, 42);"),
        ]);
        let e = up(&pool, &m).await.unwrap_err();
        assert!(
            matches!(
                e,
                MigrationError::ForeignKeys {
                    version: 2,
                    rows: 1,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("row(s) of b"), "{e}");
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM b")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(rows, 0);
    }

    /// `down` refuses an irreversible step unless forced; status lists the steps and the
    /// keys of the rows a pending pre-check would stop at. Both dialects.
    #[tokio::test]
    async fn down_refuses_an_irreversible_step_and_status_lists_blocking_rows() {
        let pool = pool().await;
        let m = migrator(vec![
            migration(1, "init", false, "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b TEXT);"),
            migration(1, "init", true, "DROP TABLE t;"),
            migration(2, "drop b", false, "ALTER TABLE t DROP COLUMN b;"),
            migration(2, "drop b", true, "-- apigen:irreversible the values of t.b cannot come back\nALTER TABLE t ADD COLUMN b TEXT;"),
        ]);
        up(&pool, &m).await.unwrap();
        sqlx::query("INSERT INTO t (id, a) VALUES (1, NULL), (2, 'x'), (3, NULL)")
            .execute(&pool)
            .await
            .unwrap();
        let e = down(&pool, &m, None, false).await.unwrap_err().to_string();
        assert!(e.contains("migration 2 (drop b) cannot be reverted exactly: the values of t.b cannot come back"), "{e}");
        assert!(
            sqlx::query("SELECT b FROM t")
                .fetch_all(&pool)
                .await
                .is_err(),
            "nothing was reverted: t has no column b"
        );
        assert_eq!(down(&pool, &m, None, true).await.unwrap(), [2]);
        // A pending migration with a pre-check over the live rows.
        let next = migrator(
            m.migrations
                .iter()
                .cloned()
                .chain([migration(3, "require a", false, "-- apigen:pre-check t.a: required now\n-- apigen:rows SELECT CAST(id AS TEXT) FROM t WHERE a IS NULL ORDER BY 1 LIMIT 20\nSELECT 1;")])
                .collect(),
        );
        let s = status(&pool, &next).await.unwrap();
        let applied: Vec<(i64, bool)> = s.steps.iter().map(|s| (s.version, s.applied)).collect();
        assert_eq!(applied, [(1, true), (2, false), (3, false)]);
        assert_eq!(
            s.steps[1].irreversible,
            ["the values of t.b cannot come back"]
        );
        assert_eq!(
            s.checks,
            [Check {
                version: 3,
                rule: "t.a: required now".into(),
                outcome: Outcome::Blocked(vec!["1".into(), "3".into()]),
            }]
        );
        assert_eq!(down(&pool, &next, Some(0), true).await.unwrap(), [1]);
        let e = down(&pool, &next, None, false)
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(e, "no migration is applied");
    }
}
