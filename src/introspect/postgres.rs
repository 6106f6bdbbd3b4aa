//! PostgreSQL's catalog (`pg_catalog`), read for a whole schema in five queries, whatever the
//! number of tables.

use super::mapping::quoted_strings;
use super::{RawColumn, RawForeignKey, RawIndex, RawTable};
use crate::error::Result;
use crate::sql::catalog::postgres::{
    CHECKS, COLUMNS, CURRENT_SCHEMA, FOREIGN_KEYS, INDEXES, RELATIONS,
};
use crate::store::errors::{connect_error, db_error};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, Row};
use std::collections::HashMap;
use std::str::FromStr;

/// Every table and view of `schema` (the connection's current schema when `None`).
pub(super) async fn read(url: &str, schema: Option<&str>) -> Result<Vec<RawTable>> {
    let opts = PgConnectOptions::from_str(url).map_err(connect_error)?;
    let mut conn = PgConnection::connect_with(&opts)
        .await
        .map_err(connect_error)?;
    let result = match schema {
        Some(s) => read_on(&mut conn, s).await,
        None => match sqlx::query_scalar::<_, Option<String>>(CURRENT_SCHEMA)
            .fetch_one(&mut conn)
            .await
        {
            Ok(current) => read_on(&mut conn, current.as_deref().unwrap_or("public")).await,
            Err(e) => Err(db_error(e)),
        },
    };
    let _ = conn.close().await;
    result
}

async fn read_on(conn: &mut PgConnection, schema: &str) -> Result<Vec<RawTable>> {
    let mut tables: Vec<RawTable> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    for r in all(conn, RELATIONS, schema).await? {
        let name: String = r.try_get(0).map_err(db_error)?;
        let kind: String = r.try_get(1).map_err(db_error)?;
        at.insert(name.clone(), tables.len());
        tables.push(RawTable {
            name,
            is_view: kind == "v" || kind == "m",
            ..RawTable::default()
        });
    }
    let table = |name: &str| at.get(name).copied();
    for r in all(conn, COLUMNS, schema).await? {
        let Some(i) = table(&r.try_get::<String, _>(0).map_err(db_error)?) else {
            continue;
        };
        let default: Option<String> = r.try_get(4).map_err(db_error)?;
        let identity: bool = r.try_get(5).map_err(db_error)?;
        let serial = default
            .as_deref()
            .is_some_and(|d| d.starts_with("nextval("));
        tables[i].columns.push(RawColumn {
            name: r.try_get(1).map_err(db_error)?,
            data_type: r.try_get(2).map_err(db_error)?,
            nullable: !r.try_get::<bool, _>(3).map_err(db_error)?,
            default: default.filter(|_| !serial),
            enum_values: r.try_get(6).map_err(db_error)?,
            generated: identity || serial,
            json_checked: false,
        });
    }
    for r in all(conn, INDEXES, schema).await? {
        let Some(i) = table(&r.try_get::<String, _>(0).map_err(db_error)?) else {
            continue;
        };
        let columns: Vec<String> = r.try_get(5).map_err(db_error)?;
        if r.try_get::<bool, _>(2).map_err(db_error)? {
            tables[i].primary_key = columns;
            continue;
        }
        tables[i].indexes.push(RawIndex {
            name: r.try_get(1).map_err(db_error)?,
            columns,
            unique: r.try_get(3).map_err(db_error)?,
            unusual: r.try_get(4).map_err(db_error)?,
        });
    }
    for r in all(conn, FOREIGN_KEYS, schema).await? {
        let Some(i) = table(&r.try_get::<String, _>(0).map_err(db_error)?) else {
            continue;
        };
        let action: String = r.try_get(5).map_err(db_error)?;
        tables[i].foreign_keys.push(RawForeignKey {
            name: r.try_get(1).map_err(db_error)?,
            target_table: r.try_get(2).map_err(db_error)?,
            columns: r.try_get(3).map_err(db_error)?,
            target_columns: r.try_get(4).map_err(db_error)?,
            on_delete: match action.as_str() {
                "c" => "cascade",
                "n" => "set null",
                "d" => "set default",
                "r" => "restrict",
                _ => "no action",
            }
            .into(),
        });
    }
    for r in all(conn, CHECKS, schema).await? {
        let Some(i) = table(&r.try_get::<String, _>(0).map_err(db_error)?) else {
            continue;
        };
        let column: String = r.try_get(1).map_err(db_error)?;
        let def: String = r.try_get(2).map_err(db_error)?;
        if let Some(values) = in_list(&def, &column)
            && let Some(c) = tables[i].columns.iter_mut().find(|c| c.name == column)
            && c.enum_values.is_none()
        {
            c.enum_values = Some(values);
        }
    }
    Ok(tables)
}

async fn all(
    conn: &mut PgConnection,
    sql: &'static str,
    schema: &str,
) -> Result<Vec<sqlx::postgres::PgRow>> {
    sqlx::query(sql)
        .bind(schema)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)
}

/// The values of a check that limits `column` to a list: PostgreSQL shows `col IN ('a', 'b')`
/// as `((col)::text = ANY ((ARRAY['a'::character varying, ...])::text[]))`.
fn in_list(def: &str, column: &str) -> Option<Vec<String>> {
    let body = def.strip_prefix("CHECK ")?;
    let array = body.find("ANY (")?;
    let head = &body[..array];
    let names_column =
        head.contains(&format!("({column})")) || head.contains(&format!("{column} "));
    if !names_column || body.contains(" AND ") || body.contains(" OR ") {
        return None;
    }
    Some(quoted_strings(&body[array..])).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_lists_are_read_from_checks() {
        let def = "CHECK (((state)::text = ANY ((ARRAY['open'::character varying, 'it''s'::character varying])::text[])))";
        assert_eq!(
            in_list(def, "state"),
            Some(vec!["open".into(), "it's".into()])
        );
        assert_eq!(in_list(def, "other"), None);
        assert_eq!(in_list("CHECK ((price > (0)::numeric))", "price"), None);
    }
}
