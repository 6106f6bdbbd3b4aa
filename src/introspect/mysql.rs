//! MySQL's and MariaDB's catalog (`information_schema`), read for the connection's database in
//! five queries, whatever the number of tables.

use super::mapping::quoted_strings;
use super::{RawColumn, RawForeignKey, RawIndex, RawTable};
use crate::error::Result;
use crate::sql::catalog::mysql::{COLUMNS, FOREIGN_KEYS, INDEXES, JSON_CHECKS, TABLES, VERSION};
use crate::store::errors::{connect_error, db_error};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlRow};
use sqlx::{Connection, Row};
use std::collections::HashMap;
use std::str::FromStr;

/// Every table and view of the URL's database.
pub(super) async fn read(url: &str) -> Result<Vec<RawTable>> {
    let opts = MySqlConnectOptions::from_str(url).map_err(connect_error)?;
    let mut conn = MySqlConnection::connect_with(&opts)
        .await
        .map_err(connect_error)?;
    let result = read_on(&mut conn).await;
    let _ = conn.close().await;
    result
}

async fn read_on(conn: &mut MySqlConnection) -> Result<Vec<RawTable>> {
    let version: String = sqlx::query_scalar(VERSION)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
    let mariadb = version.contains("MariaDB");
    let mut tables: Vec<RawTable> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    for r in all(conn, TABLES).await? {
        let name: String = r.try_get(0).map_err(db_error)?;
        let kind: String = r.try_get(1).map_err(db_error)?;
        at.insert(name.clone(), tables.len());
        tables.push(RawTable {
            name,
            is_view: kind.contains("VIEW"),
            ..RawTable::default()
        });
    }
    let table = |name: &str| at.get(name).copied();
    for r in all(conn, COLUMNS).await? {
        let Some(i) = table(&r.try_get::<String, _>(0).map_err(db_error)?) else {
            continue;
        };
        let data_type: String = r.try_get(2).map_err(db_error)?;
        let extra: String = r
            .try_get::<Option<String>, _>(5)
            .map_err(db_error)?
            .unwrap_or_default()
            .to_ascii_lowercase();
        let mut default: Option<String> = r.try_get(4).map_err(db_error)?;
        // MySQL (not MariaDB) shows a constant default unquoted; its expressions are marked.
        if !mariadb
            && !extra.contains("default_generated")
            && let Some(d) = &default
            && d.parse::<f64>().is_err()
        {
            default = Some(format!("'{}'", d.replace('\'', "''")));
        }
        let lower = data_type.to_ascii_lowercase();
        tables[i].columns.push(RawColumn {
            name: r.try_get(1).map_err(db_error)?,
            enum_values: lower
                .starts_with("enum(")
                .then(|| quoted_strings(&data_type)),
            data_type,
            nullable: r.try_get::<String, _>(3).map_err(db_error)? == "YES",
            default,
            generated: extra.contains("auto_increment"),
            json_checked: false,
        });
    }
    let mut open: Option<(usize, RawIndex)> = None;
    let mut indexes: Vec<(usize, RawIndex)> = Vec::new();
    for r in all(conn, INDEXES).await? {
        let Some(i) = table(&r.try_get::<String, _>(0).map_err(db_error)?) else {
            continue;
        };
        let name: String = r.try_get(1).map_err(db_error)?;
        let column: Option<String> = r.try_get(3).map_err(db_error)?;
        let prefix: Option<i64> = r.try_get(4).map_err(db_error)?;
        if open
            .as_ref()
            .is_none_or(|(t, ix)| *t != i || ix.name != name)
        {
            indexes.extend(open.take());
            open = Some((
                i,
                RawIndex {
                    name,
                    unique: r.try_get::<i64, _>(2).map_err(db_error)? == 0,
                    ..RawIndex::default()
                },
            ));
        }
        let ix = &mut open.as_mut().expect("opened above").1;
        match column {
            Some(c) if prefix.is_none() => ix.columns.push(c),
            _ => ix.unusual = true,
        }
    }
    indexes.extend(open);
    for (i, ix) in indexes {
        if ix.name == "PRIMARY" {
            tables[i].primary_key = ix.columns;
        } else {
            tables[i].indexes.push(ix);
        }
    }
    for r in all(conn, FOREIGN_KEYS).await? {
        let Some(i) = table(&r.try_get::<String, _>(0).map_err(db_error)?) else {
            continue;
        };
        let name: String = r.try_get(1).map_err(db_error)?;
        let column: String = r.try_get(2).map_err(db_error)?;
        let target_column: String = r.try_get(4).map_err(db_error)?;
        let keys = &mut tables[i].foreign_keys;
        if keys.last().is_none_or(|k| k.name != name) {
            let rule: String = r.try_get(5).map_err(db_error)?;
            keys.push(RawForeignKey {
                name,
                target_table: r.try_get(3).map_err(db_error)?,
                on_delete: rule.to_ascii_lowercase(),
                ..RawForeignKey::default()
            });
        }
        let key = keys.last_mut().expect("pushed above");
        key.columns.push(column);
        key.target_columns.push(target_column);
    }
    if mariadb {
        for r in all(conn, JSON_CHECKS).await? {
            let Some(i) = table(&r.try_get::<String, _>(0).map_err(db_error)?) else {
                continue;
            };
            let name: String = r.try_get(1).map_err(db_error)?;
            let clause: String = r.try_get(2).map_err(db_error)?;
            if clause.replace('`', "").to_ascii_lowercase() == format!("json_valid({name})")
                && let Some(c) = tables[i].columns.iter_mut().find(|c| c.name == name)
            {
                c.json_checked = true;
            }
        }
    }
    Ok(tables)
}

async fn all(conn: &mut MySqlConnection, sql: &'static str) -> Result<Vec<MySqlRow>> {
    sqlx::query(sql)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)
}
