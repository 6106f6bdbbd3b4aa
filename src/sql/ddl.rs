//! DDL: each model's table with native column types, managed fields, unique and composite
//! indexes and foreign keys.

use super::{Dialect, Stmt};
use crate::model::{
    Column, DEFAULT_MAX_LENGTH, FieldType, ModelInfo, OnDelete, Role, TENANT_COLUMN,
};
use crate::value;
use sea_query::{
    Alias, ColumnDef, Expr, ExprTrait, ForeignKey, ForeignKeyAction, ForeignKeyCreateStatement,
    Index, IndexCreateStatement, MysqlQueryBuilder, PostgresQueryBuilder, SqliteQueryBuilder,
    Table,
};

/// The native column type of a column in a dialect.
pub(crate) fn native_type(col: &Column, d: Dialect) -> String {
    use Dialect::*;
    let f = &col.def;
    match (f.ty, d) {
        (FieldType::String, MySql) => {
            format!("VARCHAR({})", f.max_length.unwrap_or(DEFAULT_MAX_LENGTH))
        }
        (FieldType::String, _) => match f.max_length {
            Some(n) => format!("VARCHAR({n})"),
            None => "TEXT".into(),
        },
        (FieldType::Text, MySql) => "LONGTEXT".into(),
        (FieldType::Text, _) => "TEXT".into(),
        (FieldType::Integer, Sqlite) => "INTEGER".into(),
        (FieldType::Integer, _) => "BIGINT".into(),
        (FieldType::Float, Sqlite) => "REAL".into(),
        (FieldType::Float, Postgres) => "DOUBLE PRECISION".into(),
        (FieldType::Float, MySql) => "DOUBLE".into(),
        (FieldType::Decimal, Sqlite) => "NUMERIC".into(),
        (FieldType::Decimal, Postgres) => match (f.precision, f.scale) {
            (Some(p), s) => format!("NUMERIC({p},{})", s.unwrap_or(0)),
            (None, _) => "NUMERIC".into(),
        },
        (FieldType::Decimal, MySql) => {
            let (p, s) = match (f.precision, f.scale) {
                (Some(p), s) => (p, s.unwrap_or(0)),
                (None, _) => (38, 10),
            };
            format!("DECIMAL({p},{s})")
        }
        (FieldType::Boolean, _) => "BOOLEAN".into(),
        (FieldType::Date, _) => "DATE".into(),
        (FieldType::Datetime, Sqlite) => "DATETIME".into(),
        (FieldType::Datetime, Postgres) => "TIMESTAMPTZ".into(),
        (FieldType::Datetime, MySql) => "DATETIME(6)".into(),
        (FieldType::Uuid, Postgres) => "UUID".into(),
        (FieldType::Uuid, _) => "CHAR(36)".into(),
        (FieldType::Json, Sqlite) => "TEXT".into(),
        (FieldType::Json, Postgres) => "JSONB".into(),
        (FieldType::Json, MySql) => "JSON".into(),
        (FieldType::Bytes, Sqlite) => "BLOB".into(),
        (FieldType::Bytes, Postgres) => "BYTEA".into(),
        (FieldType::Bytes, MySql) => "LONGBLOB".into(),
        (FieldType::Enum, MySql) => {
            let quoted: Vec<String> = f
                .values
                .iter()
                .map(|v| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "''")))
                .collect();
            format!("ENUM({})", quoted.join(","))
        }
        (FieldType::Enum, _) => {
            let longest = f
                .values
                .iter()
                .map(|v| v.chars().count())
                .max()
                .unwrap_or(1);
            format!("VARCHAR({})", longest.max(1))
        }
    }
}

fn id_column(model: &ModelInfo, d: Dialect) -> ColumnDef {
    let id = Alias::new("id");
    let mut c = ColumnDef::new(id);
    match (model.id().ty(), d) {
        (FieldType::Integer, Dialect::Sqlite) => {
            c.custom(Alias::new("INTEGER"))
                .not_null()
                .primary_key()
                .auto_increment();
        }
        (FieldType::Integer, _) => {
            c.big_integer().not_null().primary_key().auto_increment();
        }
        _ => {
            c.custom(Alias::new(native_type(model.id(), d)))
                .not_null()
                .primary_key();
        }
    }
    c
}

fn on_delete(o: OnDelete) -> ForeignKeyAction {
    match o {
        OnDelete::Restrict => ForeignKeyAction::Restrict,
        OnDelete::Cascade => ForeignKeyAction::Cascade,
        OnDelete::SetNull => ForeignKeyAction::SetNull,
    }
}

/// An index name that fits every database's 63-character limit.
pub(crate) fn index_name(prefix: &str, table: &str, cols: &[String]) -> String {
    let name = format!("{prefix}_{table}_{}", cols.join("_"));
    if name.len() <= 60 {
        return name;
    }
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    format!("{}_{:08x}", &name[..50], hash as u32)
}

/// The definition of a (non-id) column: native type, nullability, unique, default, enum check.
pub(crate) fn column_def(col: &Column, d: Dialect) -> ColumnDef {
    let f = &col.def;
    let mut c = ColumnDef::new(Alias::new(f.name.as_str()));
    c.custom(Alias::new(native_type(col, d)));
    if f.optional {
        c.null();
    } else {
        c.not_null();
    }
    if f.unique {
        c.unique_key();
    }
    if let Some(default) = &f.default {
        let skip = d == Dialect::MySql
            && matches!(f.ty, FieldType::Text | FieldType::Json | FieldType::Bytes);
        if let (false, Ok(v)) = (skip, value::coerce(col.shape(), default))
            && !v.is_null()
        {
            c.default(super::bind_value(&v, f.ty, d));
        }
    }
    if f.ty == FieldType::Enum && d != Dialect::MySql {
        c.check(Expr::col(Alias::new(f.name.as_str())).is_in(f.values.iter().cloned()));
    }
    c
}

/// The foreign key of a column with `references`, named `fk_<table>_<column>`.
pub(crate) fn foreign_key(
    model: &ModelInfo,
    col: &Column,
    schema_tables: &dyn Fn(&str) -> Option<String>,
) -> Option<ForeignKeyCreateStatement> {
    let target = col.def.references.as_ref()?;
    let target_table = schema_tables(target).unwrap_or_else(|| target.clone());
    let mut fk = ForeignKey::create();
    fk.name(index_name(
        "fk",
        &model.table,
        std::slice::from_ref(&col.def.name),
    ))
    .from(Alias::new(model.table.as_str()), Alias::new(col.name()))
    .to(Alias::new(target_table), Alias::new("id"))
    .on_delete(on_delete(col.def.on_delete));
    Some(fk)
}

/// Every index of a model besides its primary key and single-column unique constraints:
/// `(unique, columns)` for indexed fields, composite indexes and composite unique constraints.
/// On a tenant-scoped model every unique set is unique per tenant (`tenant_id` first, also for
/// single unique fields, which then have no inline constraint), and `tenant_id` is indexed.
pub(crate) fn index_specs(model: &ModelInfo) -> Vec<(bool, Vec<String>)> {
    let mut indexes: Vec<(bool, Vec<String>)> = Vec::new();
    let scoped = model.is_tenant_scoped();
    if scoped {
        indexes.push((false, vec![TENANT_COLUMN.to_string()]));
    }
    for f in model.def.fields.iter().filter(|f| f.indexed && !f.unique) {
        indexes.push((false, vec![f.name.clone()]));
    }
    indexes.extend(model.def.indexes.iter().map(|set| (false, set.clone())));
    let per_tenant = |set: &[String]| {
        let mut cols = Vec::with_capacity(set.len() + 1);
        if scoped {
            cols.push(TENANT_COLUMN.to_string());
        }
        cols.extend(set.iter().cloned());
        cols
    };
    if scoped {
        for f in model.def.fields.iter().filter(|f| f.unique) {
            indexes.push((true, per_tenant(std::slice::from_ref(&f.name))));
        }
    }
    indexes.extend(model.def.unique.iter().map(|set| (true, per_tenant(set))));
    indexes
}

/// A column as its table declares it: on a tenant-scoped model a unique field is unique per
/// tenant through an index ([`index_specs`]), not by an inline constraint.
pub(crate) fn table_column<'c>(model: &ModelInfo, col: &'c Column) -> std::borrow::Cow<'c, Column> {
    if model.is_tenant_scoped() && col.def.unique {
        let mut plain = col.clone();
        plain.def.unique = false;
        std::borrow::Cow::Owned(plain)
    } else {
        std::borrow::Cow::Borrowed(col)
    }
}

/// The `CREATE [UNIQUE] INDEX` statement of an index spec (without IF NOT EXISTS).
pub(crate) fn index_create(
    model: &ModelInfo,
    unique: bool,
    cols: &[String],
) -> IndexCreateStatement {
    let mut ix = Index::create();
    ix.name(index_name(
        if unique { "ux" } else { "ix" },
        &model.table,
        cols,
    ))
    .table(Alias::new(model.table.as_str()));
    for c in cols {
        ix.col(Alias::new(c.as_str()));
    }
    if unique {
        ix.unique();
    }
    ix
}

/// The statements that create a model's table and its indexes if they do not exist yet. The
/// caller runs them in the schema's order (referenced tables first).
pub fn create_table(
    model: &ModelInfo,
    schema_tables: &dyn Fn(&str) -> Option<String>,
    d: Dialect,
) -> Vec<Stmt> {
    let table = Alias::new(model.table.as_str());
    let mut create = Table::create();
    create.table(table.clone()).if_not_exists();
    create.col(id_column(model, d));
    for col in model.columns.iter().filter(|c| c.role != Role::Id) {
        create.col(column_def(&table_column(model, col), d));
        if let Some(mut fk) = foreign_key(model, col, schema_tables) {
            create.foreign_key(&mut fk);
        }
    }
    if let Some(tenant) = &model.tenant {
        create.col(column_def(tenant, d));
    }
    let indexes = index_specs(model);
    let mut out = Vec::new();
    if d == Dialect::MySql {
        // MySQL has no CREATE INDEX IF NOT EXISTS; inline keys keep the whole statement idempotent.
        for (unique, cols) in &indexes {
            create.index(&mut index_create(model, *unique, cols));
        }
        create.extra("ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin");
        out.push(Stmt::raw(create.build(MysqlQueryBuilder)));
        return out;
    }
    out.push(Stmt::raw(match d {
        Dialect::Sqlite => create.build(SqliteQueryBuilder),
        _ => create.build(PostgresQueryBuilder),
    }));
    for (unique, cols) in &indexes {
        let mut ix = index_create(model, *unique, cols);
        ix.if_not_exists();
        out.push(Stmt::raw(match d {
            Dialect::Sqlite => ix.build(SqliteQueryBuilder),
            _ => ix.build(PostgresQueryBuilder),
        }));
    }
    out.extend(super::rls::enable(model, d));
    out
}
