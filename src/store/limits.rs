//! Time limits on statements, and stopping a statement whose operation was dropped (its client
//! went away).
//!
//! PostgreSQL and MySQL/MariaDB limit every statement of a connection through a session setting
//! made when the connection opens (`statement_timeout`; `max_statement_time` on MariaDB,
//! `max_execution_time`, reads only, on MySQL). SQLite has no such setting: an operation that
//! may scan a table arms a [`SqliteDeadline`], a progress handler that interrupts its
//! statement when the deadline passes or when the operation is dropped. Schema changes are not
//! operations and run without a limit.

use super::errors::db_error;
use crate::error::Result;
use sqlx::sqlite::SqliteConnection;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Every how many SQLite virtual-machine instructions the progress handler looks at the clock.
const CHECK_EVERY_OPS: i32 = 4_000;

/// No deadline: the handler stays installed but never interrupts.
const NEVER: u64 = u64::MAX;
/// Interrupt at once.
const NOW: u64 = 0;

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn nanos_since_epoch(t: Instant) -> u64 {
    t.saturating_duration_since(epoch()).as_nanos() as u64 + 1
}

/// The deadline of one SQLite operation. Dropped before [`SqliteDeadline::disarm`] (the
/// operation's future was dropped), it interrupts the statement at once.
pub(crate) struct SqliteDeadline {
    at: Arc<AtomicU64>,
    done: bool,
}

impl SqliteDeadline {
    /// Installs the progress handler on `conn` with a deadline `limit` from now.
    pub(crate) async fn arm(conn: &mut SqliteConnection, limit: Duration) -> Result<Self> {
        let at = Arc::new(AtomicU64::new(nanos_since_epoch(Instant::now() + limit)));
        let seen = at.clone();
        conn.lock_handle()
            .await
            .map_err(db_error)?
            .set_progress_handler(CHECK_EVERY_OPS, move || {
                let at = seen.load(Ordering::Relaxed);
                at == NEVER || nanos_since_epoch(Instant::now()) < at
            });
        Ok(SqliteDeadline { at, done: false })
    }

    /// The operation finished: the handler stays on the connection but never interrupts (the
    /// next operation that needs one installs its own).
    pub(crate) fn disarm(mut self) {
        self.at.store(NEVER, Ordering::Relaxed);
        self.done = true;
    }
}

impl Drop for SqliteDeadline {
    fn drop(&mut self) {
        // Not disarmed: the operation was dropped mid-way, so its statement stops now.
        if !self.done {
            self.at.store(NOW, Ordering::Relaxed);
        }
    }
}
