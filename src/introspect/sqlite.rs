//! SQLite's catalog: `sqlite_master` and the table-valued pragmas, read on one read-only
//! connection.

use super::mapping::quoted_strings;
use super::{RawColumn, RawForeignKey, RawIndex, RawTable};
use crate::error::Result;
use crate::sql::catalog::sqlite::{COLUMNS, FOREIGN_KEYS, INDEX_COLUMNS, INDEXES, OBJECTS};
use crate::store::errors::{connect_error, db_error};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Connection, Row};
use std::str::FromStr;

/// Every table and view of the database.
pub(super) async fn read(url: &str) -> Result<Vec<RawTable>> {
    let opts = SqliteConnectOptions::from_str(url)
        .map_err(connect_error)?
        .read_only(true)
        .create_if_missing(false);
    let mut conn = SqliteConnection::connect_with(&opts)
        .await
        .map_err(connect_error)?;
    let result = read_on(&mut conn).await;
    let _ = conn.close().await;
    result
}

async fn read_on(conn: &mut SqliteConnection) -> Result<Vec<RawTable>> {
    let objects = sqlx::query(OBJECTS)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
    let mut tables = Vec::with_capacity(objects.len());
    for object in objects {
        let name: String = object.try_get(0).map_err(db_error)?;
        let kind: String = object.try_get(1).map_err(db_error)?;
        let sql: String = object.try_get(2).map_err(db_error)?;
        let mut t = RawTable {
            name: name.clone(),
            is_view: kind == "view",
            ..RawTable::default()
        };
        let columns = sqlx::query(COLUMNS)
            .bind(&name)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error)?;
        let mut key: Vec<(i64, String)> = Vec::new();
        for c in columns {
            let column: String = c.try_get(0).map_err(db_error)?;
            let pk: i64 = c.try_get(4).map_err(db_error)?;
            if pk > 0 {
                key.push((pk, column.clone()));
            }
            t.columns.push(RawColumn {
                enum_values: enum_check(&sql, &column),
                name: column,
                data_type: c.try_get(1).map_err(db_error)?,
                nullable: c.try_get::<i64, _>(2).map_err(db_error)? == 0 && pk == 0,
                default: c.try_get(3).map_err(db_error)?,
                ..RawColumn::default()
            });
        }
        key.sort();
        t.primary_key = key.into_iter().map(|(_, c)| c).collect();
        // `INTEGER PRIMARY KEY` is the rowid: SQLite numbers new rows.
        if let [only] = t.primary_key.as_slice()
            && let Some(c) = t.columns.iter_mut().find(|c| &c.name == only)
            && c.data_type.eq_ignore_ascii_case("integer")
        {
            c.generated = true;
        }
        if !t.is_view {
            t.indexes = indexes(conn, &name).await?;
            t.foreign_keys = foreign_keys(conn, &name).await?;
        }
        tables.push(t);
    }
    Ok(tables)
}

async fn indexes(conn: &mut SqliteConnection, table: &str) -> Result<Vec<RawIndex>> {
    let list = sqlx::query(INDEXES)
        .bind(table)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
    let mut out = Vec::new();
    for ix in list {
        let origin: String = ix.try_get(2).map_err(db_error)?;
        if origin == "pk" {
            continue;
        }
        let name: String = ix.try_get(0).map_err(db_error)?;
        let cols = sqlx::query(INDEX_COLUMNS)
            .bind(&name)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error)?;
        let mut columns = Vec::new();
        let mut unusual = ix.try_get::<i64, _>(3).map_err(db_error)? != 0;
        for c in cols {
            match c.try_get::<Option<String>, _>(1).map_err(db_error)? {
                Some(n) if c.try_get::<i64, _>(0).map_err(db_error)? >= 0 => columns.push(n),
                _ => unusual = true,
            }
        }
        out.push(RawIndex {
            name,
            columns,
            unique: ix.try_get::<i64, _>(1).map_err(db_error)? != 0,
            unusual,
        });
    }
    Ok(out)
}

async fn foreign_keys(conn: &mut SqliteConnection, table: &str) -> Result<Vec<RawForeignKey>> {
    let rows = sqlx::query(FOREIGN_KEYS)
        .bind(table)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
    let mut out: Vec<(i64, RawForeignKey)> = Vec::new();
    for r in rows {
        let id: i64 = r.try_get(0).map_err(db_error)?;
        let from: String = r.try_get(2).map_err(db_error)?;
        let to: Option<String> = r.try_get(3).map_err(db_error)?;
        if out.last().is_none_or(|(last, _)| *last != id) {
            let on_delete: String = r.try_get(4).map_err(db_error)?;
            out.push((
                id,
                RawForeignKey {
                    name: format!("{table}_fk{id}"),
                    target_table: r.try_get(1).map_err(db_error)?,
                    on_delete: on_delete.to_ascii_lowercase(),
                    ..RawForeignKey::default()
                },
            ));
        }
        let fk = &mut out.last_mut().expect("pushed above").1;
        fk.columns.push(from);
        // No `to`: the key refers to the target's primary key.
        if let Some(to) = to {
            fk.target_columns.push(to);
        }
    }
    Ok(out.into_iter().map(|(_, fk)| fk).collect())
}

/// The values of a `CHECK (column IN ('a', 'b'))` on `column` in a table's SQL, as Flowgate
/// writes an enum (any quoting of the column name).
fn enum_check(sql: &str, column: &str) -> Option<Vec<String>> {
    let lower = sql.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = lower[from..].find("check") {
        let start = from + at + "check".len();
        from = start;
        let rest = lower[start..].trim_start();
        let Some(rest) = rest.strip_prefix('(') else {
            continue;
        };
        let rest = rest.trim_start();
        let name_end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
        let name = rest[..name_end].trim_matches(|c| c == '"' || c == '`' || c == '[' || c == ']');
        if name != column.to_ascii_lowercase() {
            continue;
        }
        let rest = rest[name_end..].trim_start();
        let Some(rest) = rest.strip_prefix("in") else {
            continue;
        };
        let Some(list_start) = rest.trim_start().strip_prefix('(') else {
            continue;
        };
        // Back to the original text (the same byte offsets) to keep the values' case.
        let offset = sql.len() - list_start.len();
        let original = &sql[offset..];
        let end = list_end(original)?;
        return Some(quoted_strings(&original[..end])).filter(|v| !v.is_empty());
    }
    None
}

/// Where the parenthesised list that `s` is inside of closes, skipping quoted strings.
fn list_end(s: &str) -> Option<usize> {
    let mut in_quote = false;
    for (i, c) in s.char_indices() {
        match c {
            '\'' => in_quote = !in_quote,
            ')' if !in_quote => return Some(i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_checks_are_read_from_the_table_sql() {
        let sql = r#"CREATE TABLE "tasks" ( "id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "state" varchar(4) NOT NULL CHECK ("state" IN ('open', 'do)ne')), "kind" text CHECK (kind IN ('A','b''c')) )"#;
        assert_eq!(
            enum_check(sql, "state"),
            Some(vec!["open".into(), "do)ne".into()])
        );
        assert_eq!(
            enum_check(sql, "kind"),
            Some(vec!["A".into(), "b'c".into()])
        );
        assert_eq!(enum_check(sql, "id"), None);
    }
}
