//! The database: one pool for both backends (SQLite embedded by default,
//! PostgreSQL for scale-out, OPS-5), migrations, and write transactions.
//!
//! Everything goes through sqlx's `Any` driver so that the stores have one
//! code path; SQL that differs between the dialects is chosen with
//! [`Db::backend`] and kept side by side. Columns only use the types `Any`
//! carries on both sides: integers (timestamps are Unix milliseconds), text
//! (dates as ISO `YYYY-MM-DD`, decimals as strings) and blobs.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyConnection, AnyPool, ConnectOptions, Connection, Executor, Row, Transaction};

/// A write transaction. It derefs to its connection, so statements run on
/// `&mut *tx`; it ends with [`Tx::commit`], or rolls back when dropped.
pub struct Tx {
    inner: Transaction<'static, Any>,
    backend: Backend,
}

impl Tx {
    /// The dialect of its database.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.inner.commit().await
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.inner.rollback().await
    }
}

impl std::ops::Deref for Tx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.inner
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.inner
    }
}

/// Which SQL dialect a pool speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// SQLite takes one writer at a time: a node's write transactions go
    /// through their own pool of one connection, so writers queue there and
    /// are woken as soon as the previous one commits. Left to SQLite's busy
    /// handler they would poll the lock with sleeps of 1 to 100 ms
    /// (bench/oidc: about 9 sleeps of 2 ms per login flow, the CPU idle
    /// meanwhile); sharing the readers' connections, a writer whose turn had
    /// come waited for a connection held by readers, and every writer behind
    /// it too (bench/assistance). Other processes (the command line) still
    /// meet the busy timeout.
    writer: Option<AnyPool>,
    /// The blocks of numbers this node has reserved, by series
    /// ([`Db::next_number`]).
    numbers: Arc<tokio::sync::Mutex<HashMap<String, Block>>>,
}

/// Numbers `next..end` of a series, reserved by this node.
#[derive(Debug, Default)]
struct Block {
    next: i64,
    end: i64,
}

/// How many numbers a node reserves at a time. A node that stops loses the
/// rest of its block: numbers have gaps, never duplicates.
const NUMBER_BLOCK: i64 = 100;

/// How long a writer waits for SQLite's lock before giving up.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;

impl Db {
    /// Opens the database named by `database_url`, or the embedded SQLite file
    /// `mutualis.db` in `data_dir` when there is none.
    pub async fn open(database_url: Option<&str>, data_dir: &Path) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let url = match database_url {
            Some(url) => url.to_string(),
            None => {
                std::fs::create_dir_all(data_dir).map_err(|e| {
                    anyhow::anyhow!("cannot create data directory {}: {e}", data_dir.display())
                })?;
                format!(
                    "sqlite://{}?mode=rwc",
                    data_dir.join("mutualis.db").display()
                )
            }
        };
        Self::connect(&url).await
    }

    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            anyhow::bail!("unsupported database URL (expected sqlite:// or postgres://)");
        };
        let options = AnyConnectOptions::from_str(url)?
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));
        let pool = match backend {
            Backend::Sqlite => sqlite_pool_options(8).acquire_timeout(Duration::from_secs(10)),
            Backend::Postgres => AnyPoolOptions::new()
                .max_connections(16)
                .min_connections(0)
                .acquire_timeout(Duration::from_secs(10))
                // sqlx pings every connection it hands out: a round trip
                // per statement run on the pool, as many as the statements
                // themselves in a help request's creation (bench/assistance,
                // where sending on sockets was most of the CPU). A connection
                // in use within the last second is alive; an older one is
                // pinged, and dropped if it does not answer (the server
                // restarted, a firewall cut it), as HikariCP does.
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for > Duration::from_secs(1) {
                            conn.ping().await?;
                        }
                        Ok(true)
                    })
                }),
        }
        .connect_with(options.clone())
        .await?;
        let writer = match backend {
            // As long a wait as SQLite's own busy timeout, then the same
            // failure (PoolTimedOut).
            Backend::Sqlite => Some(
                sqlite_pool_options(1)
                    .acquire_timeout(Duration::from_millis(SQLITE_BUSY_TIMEOUT_MS.into()))
                    .connect_with(options)
                    .await?,
            ),
            Backend::Postgres => None,
        };
        Ok(Db {
            pool,
            backend,
            writer,
            numbers: Arc::default(),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Runs the migrations of this backend (`migrations/sqlite` or
    /// `migrations/postgres`, same numbering).
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self.backend {
            Backend::Sqlite => {
                sqlx::migrate!("../../migrations/sqlite")
                    .run(&self.pool)
                    .await?
            }
            Backend::Postgres => {
                sqlx::migrate!("../../migrations/postgres")
                    .run(&self.pool)
                    .await?
            }
        }
        Ok(())
    }

    /// Begins a transaction that will write. On SQLite it takes the write lock
    /// at once (`BEGIN IMMEDIATE`), so that two writers queue on the busy
    /// timeout instead of failing on a read-to-write upgrade.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        let inner = match &self.writer {
            Some(writer) => writer.begin_with("BEGIN IMMEDIATE").await?,
            None => self.pool.begin().await?,
        };
        Ok(Tx {
            inner,
            backend: self.backend,
        })
    }

    /// The next number of `series` (e.g. `SAU-2026`, SAU-4), unique across
    /// every node sharing the database. Each node reserves a block of
    /// [`NUMBER_BLOCK`] numbers in a short transaction of its own and hands
    /// them out in order: a creation no longer holds a counter row locked
    /// until its commit, which serialised them (bench/assistance). Numbers
    /// rise within a node; across nodes, and after a restart, they have gaps.
    ///
    /// Call it before [`Db::begin`], never inside a write transaction: on
    /// SQLite the reservation needs the single writer.
    pub async fn next_number(&self, series: &str) -> Result<i64, sqlx::Error> {
        let mut numbers = self.numbers.lock().await;
        let block = numbers.entry(series.to_string()).or_default();
        if block.next >= block.end {
            let mut tx = self.begin().await?;
            let last: i64 = sqlx::query(
                "INSERT INTO number_series (series, last) VALUES ($1, $2) ON CONFLICT (series) \
                 DO UPDATE SET last = number_series.last + $2 RETURNING last",
            )
            .bind(series)
            .bind(NUMBER_BLOCK)
            .fetch_one(&mut *tx)
            .await?
            .try_get("last")?;
            tx.commit().await?;
            *block = Block {
                next: last - NUMBER_BLOCK + 1,
                end: last + 1,
            };
        }
        block.next += 1;
        Ok(block.next - 1)
    }

    /// `/readyz`: the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    pub async fn close(&self) {
        if let Some(writer) = &self.writer {
            writer.close().await;
        }
        self.pool.close().await;
    }
}

/// A SQLite pool of `size` connections, each set up for durability.
fn sqlite_pool_options(size: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(size)
        .min_connections(1)
        // A local file does not drop its connections: no ping (a round
        // trip to sqlx's SQLite thread) before handing one out.
        .test_before_acquire(false)
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                // WAL: readers never block the writer. synchronous=FULL:
                // WAL is fsynced at every commit, so an acknowledged write
                // survives a power loss, not only a process crash (NORMAL
                // would only survive the latter). See docs/decisions.md.
                conn.execute("PRAGMA journal_mode = WAL").await?;
                conn.execute("PRAGMA synchronous = FULL").await?;
                conn.execute("PRAGMA foreign_keys = ON").await?;
                let busy = format!("PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}");
                conn.execute(sqlx::AssertSqlSafe(busy)).await?;
                Ok(())
            })
        })
}

/// True when `err` is a unique-constraint violation (both backends).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => db.is_unique_violation(),
        _ => false,
    }
}
