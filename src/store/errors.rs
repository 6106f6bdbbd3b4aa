//! Database errors to typed errors. Internals (SQL, driver messages) go to the log, never to
//! callers: an unexpected database error becomes `Internal` with a generic public message.

use crate::error::Error;

/// Maps a driver error to the crate's error type.
pub(crate) fn db_error(e: sqlx::Error) -> Error {
    match e {
        sqlx::Error::Database(db) => {
            use sqlx::error::ErrorKind;
            let message = db.message().to_string();
            match db.kind() {
                ErrorKind::UniqueViolation => Error::Conflict {
                    field: unique_field(db.constraint(), &message),
                    reason: "a record with the same unique value already exists".into(),
                },
                ErrorKind::ForeignKeyViolation => broken_reference(),
                _ if is_restricted_delete(&message) => broken_reference(),
                ErrorKind::NotNullViolation => Error::Validation {
                    field: None,
                    reason: "a required value is missing".into(),
                },
                ErrorKind::CheckViolation => Error::Validation {
                    field: None,
                    reason: "a value is outside its allowed set".into(),
                },
                _ if is_sqlite_busy(db.as_ref()) => {
                    tracing::warn!(target: "flowgate::sql", error = %message, "database busy");
                    Error::Unavailable("the database is busy; retry".into())
                }
                _ if is_duplicate_object(db.code().as_deref()) => Error::Conflict {
                    field: None,
                    reason: "a database object of the same name already exists".into(),
                },
                _ => {
                    tracing::error!(target: "flowgate::sql", error = %message, code = ?db.code(), "database error");
                    Error::Internal(format!("database error: {message}"))
                }
            }
        }
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => {
            tracing::warn!(target: "flowgate::sql", error = %e, "database unavailable");
            Error::Unavailable("the database is unavailable".into())
        }
        other => {
            tracing::error!(target: "flowgate::sql", error = %other, "database error");
            Error::Internal(format!("database error: {other}"))
        }
    }
}

/// PostgreSQL's `duplicate_table` and `duplicate_object`: two processes running the same
/// `CREATE ... IF NOT EXISTS` at once can both miss the object and collide in the catalog. Like
/// the unique violation the catalog may report instead, this is a conflict the caller may retry.
fn is_duplicate_object(code: Option<&str>) -> bool {
    matches!(code, Some("42P07" | "42710"))
}

/// The conflict of a write that would leave a reference dangling.
fn broken_reference() -> Error {
    Error::Conflict {
        field: None,
        reason: "the change would break a reference between records".into(),
    }
}

/// SQLite reports a delete refused by `ON DELETE RESTRICT` as a trigger constraint
/// (`SQLITE_CONSTRAINT_TRIGGER`), not as a foreign key violation, under the same message.
fn is_restricted_delete(message: &str) -> bool {
    message == "FOREIGN KEY constraint failed"
}

/// Best effort: the field a unique violation names. PostgreSQL names the constraint
/// (`tasks_ref_key`), SQLite the columns (`UNIQUE constraint failed: tasks.ref`) and MySQL the key
/// (`Duplicate entry 'x' for key 'ref'`).
fn unique_field(constraint: Option<&str>, message: &str) -> Option<String> {
    if let Some(c) = constraint {
        return Some(c.strip_suffix("_key").unwrap_or(c).to_string());
    }
    if let Some(rest) = message.split("UNIQUE constraint failed: ").nth(1) {
        let cols: Vec<&str> = rest
            .split(", ")
            .map(|c| c.rsplit('.').next().unwrap_or(c))
            .collect();
        return Some(cols.join(","));
    }
    if let Some(rest) = message.split("for key '").nth(1) {
        let key = rest.trim_end_matches('\'');
        return Some(key.rsplit('.').next().unwrap_or(key).to_string());
    }
    None
}

/// SQLite's `SQLITE_BUSY` and `SQLITE_LOCKED` (and their extended codes): another connection
/// holds a lock the busy timeout did not outwait, as when two processes switch a new database
/// file to WAL at the same moment. Transient: callers may retry (the registry does, with backoff).
fn is_sqlite_busy(db: &dyn sqlx::error::DatabaseError) -> bool {
    use sqlx::error::DatabaseError as _;
    db.try_downcast_ref::<sqlx::sqlite::SqliteError>()
        .and_then(|e| e.code())
        .and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| matches!(c & 0xff, 5 | 6))
}
