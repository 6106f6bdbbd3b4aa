//! Database errors to typed errors. Internals (SQL, driver messages) go to the log, never to
//! callers: an unexpected database error becomes `Internal` with a generic public message.

use crate::error::Error;

/// The public reason of a connection that broke under an operation (the server was restarted, the
/// backend terminated, the network cut): the operation did not finish, and a read may be run
/// again on a fresh connection.
const LOST_CONNECTION: &str = "the database connection was lost; retry";

/// The public reason of a statement stopped by the statement time limit (or a cancellation).
pub(crate) const TIME_LIMIT: &str = "the statement ran longer than its time limit and was stopped";

/// Whether `e` says the connection broke under the operation.
pub(crate) fn is_lost_connection(e: &Error) -> bool {
    matches!(e, Error::Unavailable(reason) if reason == LOST_CONNECTION)
}

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
                _ if unavailable(db.as_ref()).is_some() => {
                    tracing::warn!(target: "flowgate::sql", error = %message, code = ?db.code(), "database unavailable");
                    Error::Unavailable(unavailable(db.as_ref()).unwrap_or_default().into())
                }
                _ if unstorable(db.as_ref()).is_some() => {
                    tracing::info!(target: "flowgate::sql", error = %message, code = ?db.code(), "value refused by the database");
                    Error::invalid(unstorable(db.as_ref()).unwrap_or_default())
                }
                _ => {
                    tracing::error!(target: "flowgate::sql", error = %message, code = ?db.code(), "database error");
                    Error::internal_from(
                        format!("database error: {message}"),
                        sqlx::Error::Database(db),
                    )
                }
            }
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
            tracing::warn!(target: "flowgate::sql", error = %e, "database unavailable");
            Error::Unavailable("the database is unavailable".into())
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => {
            tracing::warn!(target: "flowgate::sql", error = %e, "database connection lost");
            Error::Unavailable(LOST_CONNECTION.into())
        }
        other => {
            tracing::error!(target: "flowgate::sql", error = %other, "database error");
            Error::internal_from(format!("database error: {other}"), other)
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
pub(crate) fn broken_reference() -> Error {
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
    sqlite_code(db).is_some_and(|c| matches!(c & 0xff, 5 | 6))
}

/// Errors that say the connection or the server went away, or the statement ran out of time:
/// the database may serve again, so they are `Unavailable` (503), never `Internal`. The reason is
/// public (it carries nothing of the database's own text).
fn unavailable(db: &dyn sqlx::error::DatabaseError) -> Option<&'static str> {
    let code = db.code();
    let code = code.as_deref().unwrap_or("");
    Some(match code {
        // PostgreSQL: query_canceled (statement_timeout, a cancel request).
        "57014" => TIME_LIMIT,
        // admin_shutdown (pg_terminate_backend), crash_shutdown, cannot_connect_now, and the
        // connection_exception class, too_many_connections.
        "57P01" | "57P02" | "57P03" | "53300" => LOST_CONNECTION,
        c if c.starts_with("08") => LOST_CONNECTION,
        // MySQL/MariaDB: max_execution_time (3024), MariaDB's max_statement_time (1969), a
        // query killed (1317), server shutdown (1053), connection killed (1927).
        "3024" | "1969" | "1317" => TIME_LIMIT,
        "1053" | "1927" | "2006" | "2013" => LOST_CONNECTION,
        // SQLite: SQLITE_INTERRUPT (the progress handler's time limit), SQLITE_FULL, SQLITE_IOERR,
        // SQLITE_CANTOPEN, SQLITE_READONLY: the disk, not the request.
        _ => match sqlite_code(db).map(|c| c & 0xff) {
            Some(9) => TIME_LIMIT,
            Some(13) => "the database cannot write: the disk is full",
            Some(10) => "the database cannot read or write its file",
            Some(14) => "the database file cannot be opened",
            Some(8) => "the database is read-only",
            _ => return None,
        },
    })
}

/// Values a database refuses to store or evaluate that the checks before it let through: the
/// caller's input, so a validation error (400), never `Internal`.
fn unstorable(db: &dyn sqlx::error::DatabaseError) -> Option<&'static str> {
    match db.code().as_deref()? {
        // PostgreSQL: invalid_regular_expression, untranslatable_character (\u0000 in jsonb),
        // numeric_value_out_of_range, character_not_in_repertoire, invalid_text_representation,
        // program_limit_exceeded (a regex too complex).
        "2201B" => Some("the regular expression is not one the database can run"),
        "22P05" | "22021" => Some("a value holds a character the database cannot store"),
        "22003" => Some("a number is out of the range the database can store"),
        "22P02" => Some("a value is not in a form the database can read"),
        "54000" | "54001" => Some("the request is too complex for the database"),
        // MySQL/MariaDB: out of range (1264), incorrect string value (1366), regexp errors
        // (1139, 3685-3699 on MySQL 8).
        "1264" => Some("a number is out of the range the database can store"),
        "1366" => Some("a value holds a character the database cannot store"),
        "1139" => Some("the regular expression is not one the database can run"),
        _ => None,
    }
}

fn sqlite_code(db: &dyn sqlx::error::DatabaseError) -> Option<i32> {
    use sqlx::error::DatabaseError as _;
    db.try_downcast_ref::<sqlx::sqlite::SqliteError>()
        .and_then(|e| e.code())
        .and_then(|c| c.parse::<i32>().ok())
}

/// A connect error as a public reason, and whether waiting may cure it. The driver's text (a
/// role name, a path) goes to the log only. Only a URL that does not parse is final: a database
/// that does not exist yet, a password not set yet or a directory not writable yet may all be
/// fixed while the server waits.
pub(crate) fn connect_error(e: sqlx::Error) -> Error {
    tracing::warn!(target: "flowgate::sql", error = %e, "cannot connect to the database");
    let reason = match &e {
        sqlx::Error::Configuration(_) => {
            return Error::validation("database_url", "the database url is not valid");
        }
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("3D000") | Some("1049") => "the database does not exist",
            Some("28P01") | Some("28000") | Some("1045") | Some("1044") => {
                "the database refused the credentials"
            }
            _ => match sqlite_code(db.as_ref()).map(|c| c & 0xff) {
                Some(14) => {
                    "the database file cannot be opened (does its directory exist and is it writable?)"
                }
                _ => "the database refused the connection",
            },
        },
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut => {
            "the database cannot be reached"
        }
        _ => "cannot connect to the database",
    };
    Error::Unavailable(reason.into())
}
