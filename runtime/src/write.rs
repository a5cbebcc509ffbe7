//! One write's transaction, and the transaction a whole request's writes can share.
//!
//! Every change a repository makes runs as a [`Write`]: its statements and its audit
//! record ([`crate::audit`]) commit together or not at all. On SQLite the transaction is
//! `BEGIN IMMEDIATE` (the write lock is taken at once, waiting up to the busy timeout), so a
//! read inside it sees what the write will overwrite.
//!
//! A request that must keep its answer with its change — a POST or PATCH with
//! `Idempotency-Key` ([`crate::idempotency`]) — runs its handler inside [`in_request`]:
//! each [`Write`] it makes is then a savepoint of one transaction that belongs to the
//! request, and the request's answer is stored in that transaction before it commits.
//! Should the process die, or the handler fail with a server error, the change and the
//! stored answer are rolled back together, so a retry runs again and never applies twice.
//!
//! Inside a request transaction, write through [`Write`] only: on SQLite a statement sent
//! straight to the pool waits for the write lock the request itself holds. Writes never
//! nest (a second [`Write::begin`] while one is open in the same request is an error, not
//! a deadlock).

use crate::db::{Db, Pool};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{Mutex, OwnedMutexGuard};

/// A connection of [`Db`]: what a statement of a [`Write`] runs on.
pub type DbConnection = <Db as sqlx::Database>::Connection;

type Tx = sqlx::Transaction<'static, Db>;

/// The savepoint a [`Write`] inside a request transaction is.
const SAVEPOINT: &str = "SAVEPOINT apigen_write";
const RELEASE: &str = "RELEASE SAVEPOINT apigen_write";
const UNDO: &str = "ROLLBACK TO SAVEPOINT apigen_write";

tokio::task_local! {
    static REQUEST: Arc<Mutex<Shared>>;
}

/// A request's transaction, opened by its first [`Write`].
#[derive(Default)]
pub(crate) struct Shared {
    tx: Option<Tx>,
    /// A [`Write`] was dropped without committing: its savepoint is rolled back before
    /// anything else runs on the transaction.
    undo: bool,
    /// Rolling back a savepoint failed: the transaction can only be rolled back.
    broken: bool,
}

impl Shared {
    /// Rolls back the savepoint of a [`Write`] dropped without committing, if any.
    async fn settle(&mut self) {
        if !self.undo {
            return;
        }
        self.undo = false;
        if let Some(tx) = self.tx.as_mut() {
            let undone = sqlx::query(UNDO).execute(&mut **tx).await.is_ok()
                && sqlx::query(RELEASE).execute(&mut **tx).await.is_ok();
            if !undone {
                self.broken = true;
            }
        }
    }
}

/// A connection for a read: the request transaction's once one of the request's writes
/// opened it (so the read sees what the request wrote), else one from the pool.
pub struct Conn {
    inner: ConnInner,
    started: Instant,
}

enum ConnInner {
    Pooled(sqlx::pool::PoolConnection<Db>),
    Shared(OwnedMutexGuard<Shared>),
}

impl Conn {
    /// Takes a connection for a read. Errors: the pool's (none free before its acquire
    /// timeout); `sqlx::Error::Protocol` while a [`Write`] of the same request is open
    /// (run the read on [`Write::conn`] instead).
    pub async fn open(pool: &Pool) -> Result<Conn, sqlx::Error> {
        if let Ok(shared) = REQUEST.try_with(Arc::clone) {
            let Ok(mut guard) = shared.try_lock_owned() else {
                return Err(sqlx::Error::Protocol(
                    "a read began while a write of the same request was open".into(),
                ));
            };
            guard.settle().await;
            if guard.tx.is_some() && !guard.broken {
                return Ok(Conn {
                    inner: ConnInner::Shared(guard),
                    started: Instant::now(),
                });
            }
        }
        let started = Instant::now();
        Ok(Conn {
            inner: ConnInner::Pooled(pool.acquire().await?),
            started,
        })
    }

    /// The connection to run the read on (`.fetch_all(c.conn())`).
    pub fn conn(&mut self) -> &mut DbConnection {
        match &mut self.inner {
            ConnInner::Pooled(c) => c,
            ConnInner::Shared(guard) => guard.tx.as_mut().expect("checked when opened"),
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        observe("read", self.started);
    }
}

/// Records in `db_query_duration_seconds{kind}` the time since `started`: a read's from
/// asking for its connection to giving it back (the wait for a free connection included),
/// a write's from `BEGIN` to `COMMIT` or rollback.
fn observe(kind: &'static str, started: Instant) {
    if let Some(histogram) = crate::observability::db_duration(kind == "write") {
        histogram.record(started.elapsed().as_secs_f64());
    }
}

/// The transaction of one change. Begin it with [`Write::begin`], run statements on
/// [`Write::conn`], finish with [`Write::commit`]; dropped without committing, it rolls
/// back (a savepoint of the request transaction rolls back to where it began).
pub struct Write {
    inner: Option<Inner>,
    started: Instant,
}

enum Inner {
    Own(Tx),
    Shared(OwnedMutexGuard<Shared>),
}

impl Write {
    /// Begins a change: a savepoint of the request transaction when the request has one
    /// ([`in_request`]), else a transaction of its own on `pool`. Errors: the database's;
    /// `sqlx::Error::Protocol` when another [`Write`] of the same request is still open.
    pub async fn begin(pool: &Pool) -> Result<Write, sqlx::Error> {
        let started = Instant::now();
        let Ok(shared) = REQUEST.try_with(Arc::clone) else {
            return Ok(Write {
                inner: Some(Inner::Own(begin(pool).await?)),
                started,
            });
        };
        let Ok(mut guard) = shared.try_lock_owned() else {
            return Err(sqlx::Error::Protocol(
                "a write began while another write of the same request was still open".into(),
            ));
        };
        guard.settle().await;
        if guard.broken {
            return Err(sqlx::Error::Protocol(
                "the request's transaction failed earlier and was rolled back".into(),
            ));
        }
        if guard.tx.is_none() {
            guard.tx = Some(begin(pool).await?);
        }
        let tx = guard.tx.as_mut().expect("opened above");
        sqlx::query(SAVEPOINT).execute(&mut **tx).await?;
        Ok(Write {
            inner: Some(Inner::Shared(guard)),
            started,
        })
    }

    /// The connection the change's statements run on (`.execute(w.conn())`).
    pub fn conn(&mut self) -> &mut DbConnection {
        match self
            .inner
            .as_mut()
            .expect("a write is used until it commits")
        {
            Inner::Own(tx) => tx,
            Inner::Shared(guard) => guard.tx.as_mut().expect("a shared write has a transaction"),
        }
    }

    /// Commits the change (inside a request transaction: releases its savepoint, and the
    /// request commits it with its answer). Errors: the database's; the change is then
    /// rolled back.
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        match self.inner.take() {
            Some(Inner::Own(tx)) => tx.commit().await,
            Some(Inner::Shared(mut guard)) => {
                let tx = guard.tx.as_mut().expect("a shared write has a transaction");
                let released = sqlx::query(RELEASE).execute(&mut **tx).await;
                if released.is_err() {
                    guard.undo = true;
                }
                released.map(|_| ())
            }
            None => Ok(()),
        }
    }
}

impl Drop for Write {
    fn drop(&mut self) {
        observe("write", self.started);
        // An own transaction rolls back when dropped (sqlx queues the ROLLBACK); a shared
        // one is rolled back to its savepoint by whoever uses the transaction next.
        if let Some(Inner::Shared(guard)) = self.inner.as_mut() {
            guard.undo = true;
        }
    }
}

#[cfg(feature = "sqlite")]
async fn begin(pool: &Pool) -> Result<Tx, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

#[cfg(feature = "postgres")]
async fn begin(pool: &Pool) -> Result<Tx, sqlx::Error> {
    pool.begin().await
}

/// A request transaction, once its handler has returned: what [`in_request`] hands back.
pub(crate) struct Finished(Arc<Mutex<Shared>>);

impl Finished {
    /// The request's transaction, if one of its writes opened it and it can still commit;
    /// `None` when the request wrote nothing through [`Write`] (or its transaction failed,
    /// and is rolled back here).
    pub(crate) async fn transaction(self) -> Option<Tx> {
        let mut shared = self.0.lock().await;
        shared.settle().await;
        if shared.broken {
            shared.tx = None;
        }
        shared.tx.take()
    }
}

/// Runs `work` (a request's handler) with one transaction for all its [`Write`]s, opened
/// by the first. Its output and the [`Finished`] transaction, which the caller commits
/// (with whatever it adds to it) or drops to roll back.
pub(crate) async fn in_request<F: std::future::Future>(work: F) -> (F::Output, Finished) {
    let shared = Arc::new(Mutex::new(Shared::default()));
    let out = REQUEST.scope(Arc::clone(&shared), work).await;
    (out, Finished(shared))
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use super::*;

    async fn pool() -> Pool {
        let pool = crate::db::connect("sqlite::memory:", &crate::db::PoolSettings::TEST)
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (v INTEGER NOT NULL UNIQUE)")
            .execute(&pool)
            .await
            .unwrap();
        pool
    }

    async fn values(pool: &Pool) -> Vec<i64> {
        sqlx::query_scalar("SELECT v FROM t ORDER BY v")
            .fetch_all(pool)
            .await
            .unwrap()
    }

    async fn insert(pool: &Pool, v: i64) -> Result<(), sqlx::Error> {
        let mut w = Write::begin(pool).await?;
        sqlx::query("INSERT INTO t (v) VALUES ($1)")
            .bind(v)
            .execute(w.conn())
            .await?;
        w.commit().await
    }

    #[tokio::test]
    async fn a_write_commits_or_rolls_back_on_its_own() {
        let pool = pool().await;
        insert(&pool, 1).await.unwrap();
        let mut w = Write::begin(&pool).await.unwrap();
        sqlx::query("INSERT INTO t (v) VALUES (2)")
            .execute(w.conn())
            .await
            .unwrap();
        drop(w);
        assert_eq!(values(&pool).await, [1]);
    }

    #[tokio::test]
    async fn a_request_commits_its_writes_together_and_a_failed_one_is_undone_alone() {
        let pool = pool().await;
        let ((), done) = in_request(async {
            insert(&pool, 1).await.unwrap();
            // A unique violation: only this write's savepoint rolls back.
            assert!(insert(&pool, 1).await.is_err());
            insert(&pool, 2).await.unwrap();
            // Nested writes are refused, not deadlocked.
            let open = Write::begin(&pool).await.unwrap();
            assert!(matches!(
                Write::begin(&pool).await,
                Err(sqlx::Error::Protocol(_))
            ));
            drop(open);
        })
        .await;
        let tx = done.transaction().await.expect("the writes opened one");
        tx.commit().await.unwrap();
        assert_eq!(values(&pool).await, [1, 2]);

        let ((), done) = in_request(async { insert(&pool, 3).await.unwrap() }).await;
        drop(done.transaction().await);
        assert_eq!(
            values(&pool).await,
            [1, 2],
            "a dropped request transaction rolls back"
        );

        let ((), done) = in_request(async {}).await;
        assert!(
            done.transaction().await.is_none(),
            "no write, no transaction"
        );
    }
}
