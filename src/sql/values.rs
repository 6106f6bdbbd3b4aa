//! Typed values to bound parameters, per dialect.
//!
//! Nulls are typed by the column (PostgreSQL refuses a text-typed NULL in a bigint column).
//! SQLite has no native date, datetime, uuid or decimal: those go as text, datetimes in one fixed
//! format so that text order is time order; decimals go as text into NUMERIC columns.

use super::Dialect;
use crate::model::FieldType;
use crate::value::{Val, format_datetime};
use sea_query::Value;

/// The bound parameter for a value of a column of type `ty`.
pub fn bind_value(val: &Val, ty: FieldType, d: Dialect) -> Value {
    use Dialect::*;
    match val {
        Val::Null => null_of(ty, d),
        Val::Bool(b) => Value::Bool(Some(*b)),
        Val::Int(i) => Value::BigInt(Some(*i)),
        Val::Float(f) => Value::Double(Some(*f)),
        Val::Decimal(x) => match d {
            Sqlite => Value::String(Some(x.normalize().to_string())),
            Postgres | MySql => Value::Decimal(Some(*x)),
        },
        Val::Text(s) => Value::String(Some(s.clone())),
        Val::Date(x) => match d {
            Sqlite => Value::String(Some(x.format("%Y-%m-%d").to_string())),
            Postgres | MySql => Value::ChronoDate(Some(*x)),
        },
        Val::DateTime(x) => match d {
            Sqlite => Value::String(Some(format_datetime(x))),
            Postgres => Value::ChronoDateTimeUtc(Some(*x)),
            MySql => Value::ChronoDateTime(Some(x.naive_utc())),
        },
        Val::Uuid(u) => match d {
            Postgres => Value::Uuid(Some(*u)),
            Sqlite | MySql => Value::String(Some(u.hyphenated().to_string())),
        },
        Val::Json(j) => match d {
            Postgres => Value::Json(Some(Box::new(j.clone()))),
            Sqlite | MySql => Value::String(Some(j.to_string())),
        },
        Val::Bytes(b) => Value::Bytes(Some(b.clone())),
    }
}

fn null_of(ty: FieldType, d: Dialect) -> Value {
    use Dialect::*;
    match (ty, d) {
        (FieldType::Integer, _) => Value::BigInt(None),
        (FieldType::Float, _) => Value::Double(None),
        (FieldType::Boolean, _) => Value::Bool(None),
        (FieldType::Bytes, _) => Value::Bytes(None),
        (FieldType::Decimal, Postgres | MySql) => Value::Decimal(None),
        (FieldType::Date, Postgres | MySql) => Value::ChronoDate(None),
        (FieldType::Datetime, Postgres) => Value::ChronoDateTimeUtc(None),
        (FieldType::Datetime, MySql) => Value::ChronoDateTime(None),
        (FieldType::Uuid, Postgres) => Value::Uuid(None),
        (FieldType::Json, Postgres) => Value::Json(None),
        _ => Value::String(None),
    }
}
