//! Catalog descriptions to models: column types to field types, defaults to values, keys,
//! indexes and foreign keys to field and model options. Pure functions, the same for every
//! database but where a database spells a thing its own way.

use super::{Introspection, Note, RawColumn, RawTable};
use crate::model::{
    DefaultFn, FieldDef, FieldType, IdType, ModelDef, OnDelete, Schema, TENANT_COLUMN,
    default_table_name,
};
use crate::sql::Dialect;
use crate::value::{self, Shape};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// The longest model, table and field name a model may have.
const MAX_NAME: usize = 48;

/// Maps the tables to models: one per table that can be served, the others in
/// [`Introspection::skipped`] with the reason. `managed` writes them as Flowgate-managed.
pub fn models_of(d: Dialect, tables: &[RawTable], managed: bool) -> Introspection {
    let mut found = Introspection::default();
    let mut tables: Vec<&RawTable> = tables.iter().filter(|t| !is_internal(&t.name)).collect();
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    let mut served: Vec<&RawTable> = Vec::new();
    for t in tables {
        match unservable(d, t) {
            Some(reason) => found.skipped.push((t.name.clone(), reason)),
            None => served.push(t),
        }
    }
    let names = model_names(&served);
    let mut models = Vec::new();
    for t in &served {
        models.push(model_of(d, t, &names, managed, &mut found.notes));
    }
    // The definitions are checked together as the server will check them; a model they refuse
    // is reported, not written (and models that refer to it lose the reference).
    loop {
        match Schema::new(models.clone()) {
            Ok(_) => break,
            Err(e) => {
                let at = e
                    .field()
                    .map(|f| f.split('.').next().unwrap_or(f).to_string());
                let Some(i) = at.and_then(|m| models.iter().position(|d: &ModelDef| d.name == m))
                else {
                    found.skipped.push(("(all)".into(), e.to_string()));
                    models.clear();
                    break;
                };
                let bad = models.remove(i);
                found
                    .skipped
                    .push((bad.table_name(), format!("its model is not valid: {e}")));
                for m in &mut models {
                    for f in &mut m.fields {
                        if f.references.as_deref() == Some(bad.name.as_str()) {
                            f.references = None;
                            f.on_delete = OnDelete::Restrict;
                            found.notes.push(Note {
                                model: m.name.clone(),
                                field: Some(f.name.clone()),
                                text: format!(
                                    "refers to {}, which is not served",
                                    bad.table_name()
                                ),
                            });
                        }
                    }
                }
            }
        }
    }
    found.skipped.sort();
    found.models = models;
    found
}

/// Flowgate's own tables and the databases' own.
fn is_internal(table: &str) -> bool {
    table.starts_with(crate::model::RESERVED_TABLE_PREFIX) || table.starts_with("sqlite_")
}

fn is_snake(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= MAX_NAME
}

/// Why a table cannot be served, if it cannot.
fn unservable(d: Dialect, t: &RawTable) -> Option<String> {
    if t.is_view {
        return Some("a view (views are not served)".into());
    }
    if !is_snake(&t.name) {
        return Some(format!(
            "the table name is not snake_case ASCII of at most {MAX_NAME} characters"
        ));
    }
    if let Some(c) = t.columns.iter().find(|c| !is_snake(&c.name)) {
        return Some(format!(
            "column `{}`: field names must be snake_case ASCII of at most {MAX_NAME} characters",
            c.name
        ));
    }
    match t.primary_key.as_slice() {
        [] => return Some("no primary key".into()),
        [one] if one != "id" => {
            return Some(format!(
                "the primary key `{one}` is not named `id` (a model's key is its `id`)"
            ));
        }
        [_] => {}
        many => return Some(format!("a composite primary key ({})", many.join(", "))),
    }
    let id = t.columns.iter().find(|c| c.name == "id")?;
    if let Err(reason) = id_type(d, id) {
        return Some(reason);
    }
    t.columns
        .iter()
        .find_map(|c| unservable_column(d, c).map(|why| format!("column `{}`: {why}", c.name)))
}

/// Why Flowgate cannot yet read and write a column on this database, if it cannot: a type with
/// no field type (SQLite's columns take any value, so there it is served as its affinity), or
/// a PostgreSQL enum type (values are bound as text, which PostgreSQL does not cast to it).
fn unservable_column(d: Dialect, c: &RawColumn) -> Option<String> {
    let (base, _) = split_type(&c.data_type);
    if d == Dialect::Postgres
        && c.enum_values.is_some()
        && !matches!(
            base.as_str(),
            "character varying" | "varchar" | "text" | "character" | "bpchar"
        )
    {
        return Some(format!(
            "the PostgreSQL enum type {}, which Flowgate cannot write yet",
            c.data_type
        ));
    }
    let mapped = map_type(d, c);
    (d != Dialect::Sqlite
        && mapped
            .note
            .as_deref()
            .is_some_and(|n| n.contains("has no field type")))
    .then(|| {
        format!(
            "the column type {} has no field type Flowgate can read and write yet",
            c.data_type
        )
    })
}

fn id_type(d: Dialect, id: &RawColumn) -> Result<IdType, String> {
    let mapped = map_type(d, id);
    match mapped.ty {
        FieldType::Integer if id.generated => Ok(IdType::Integer),
        FieldType::Integer => Err(
            "the integer primary key `id` is not generated by the database (an identity, serial or auto-increment)".into(),
        ),
        FieldType::Uuid => Ok(IdType::Uuid),
        FieldType::String | FieldType::Text => Ok(IdType::String),
        other => Err(format!(
            "the primary key `id` is of type {} ({other}); a model's id is an integer, a string or a uuid",
            id.data_type
        )),
    }
}

/// Model names, PascalCase singulars of the table names (`order_items` → `OrderItem`); a table
/// whose singular another table took keeps its plural (`OrderItems`).
fn model_names(tables: &[&RawTable]) -> HashMap<String, String> {
    let mut taken = HashSet::new();
    let mut names = HashMap::new();
    for t in tables {
        let (head, last) = match t.name.rfind('_') {
            Some(i) => (&t.name[..=i], &t.name[i + 1..]),
            None => ("", t.name.as_str()),
        };
        let singular = format!("{head}{}", pluralizer::pluralize(last, 1, false));
        let mut name = heck::AsUpperCamelCase(&singular).to_string();
        if name.is_empty() || name.len() > MAX_NAME || !taken.insert(name.clone()) {
            name = heck::AsUpperCamelCase(&t.name).to_string();
            let base = name.clone();
            let mut n = 2;
            while !taken.insert(name.clone()) {
                name = format!("{base}{n}");
                n += 1;
            }
        }
        names.insert(t.name.clone(), name);
    }
    names
}

fn note(notes: &mut Vec<Note>, model: &str, field: Option<&str>, text: impl Into<String>) {
    notes.push(Note {
        model: model.to_string(),
        field: field.map(str::to_string),
        text: text.into(),
    });
}

fn is_datetime(d: Dialect, c: &RawColumn) -> bool {
    map_type(d, c).ty == FieldType::Datetime
}

fn model_of(
    d: Dialect,
    t: &RawTable,
    names: &HashMap<String, String>,
    managed: bool,
    notes: &mut Vec<Note>,
) -> ModelDef {
    let name = names[&t.name].clone();
    let mut def = ModelDef::new(&name);
    if default_table_name(&name) != t.name {
        def.table = Some(t.name.clone());
    }
    def.managed = managed;
    let col = |n: &str| t.columns.iter().find(|c| c.name == n);
    if let Some(id) = col("id") {
        def.id = id_type(d, id).unwrap_or_default();
    }
    let stamp = |n: &str| col(n).is_some_and(|c| !c.nullable && is_datetime(d, c));
    def.timestamps = stamp("created_at") && stamp("updated_at");
    def.soft_delete = col("deleted_at").is_some_and(|c| c.nullable && is_datetime(d, c));
    let scoped = col(TENANT_COLUMN).is_some();
    if scoped {
        note(
            notes,
            &name,
            None,
            "`tenant_id` is the managed tenant column: serve this model with multi_tenant = true",
        );
    }
    let managed_column = |n: &str| match n {
        "id" => true,
        "created_at" | "updated_at" => def.timestamps,
        "deleted_at" => def.soft_delete,
        TENANT_COLUMN => scoped,
        _ => false,
    };
    let mut fields = Vec::new();
    for c in t.columns.iter().filter(|c| !managed_column(&c.name)) {
        fields.push(field_of(d, c, &name, notes));
    }
    def.fields = fields;
    if !def.timestamps {
        note(
            notes,
            &name,
            None,
            "no created_at and updated_at columns: served without managed timestamps",
        );
    }
    // Foreign keys: a single column referring to the id of a served table.
    for fk in &t.foreign_keys {
        let field = fk.columns.first().map(String::as_str).unwrap_or_default();
        let target = names.get(&fk.target_table);
        let to_id = fk.target_columns.is_empty() || fk.target_columns == ["id"];
        let Some(f) = def.fields.iter_mut().find(|f| f.name == field) else {
            continue;
        };
        match (fk.columns.len(), target, to_id) {
            (1, Some(target), true) => {
                f.references = Some(target.clone());
                f.on_delete = match fk.on_delete.as_str() {
                    "cascade" => OnDelete::Cascade,
                    "set null" if f.optional => OnDelete::SetNull,
                    "restrict" | "no action" => OnDelete::Restrict,
                    other => {
                        note(
                            notes,
                            &name,
                            Some(field),
                            format!(
                                "on delete {other} has no equivalent: described as restrict (the database still does what it says)"
                            ),
                        );
                        OnDelete::Restrict
                    }
                };
            }
            (1, None, _) => note(
                notes,
                &name,
                Some(field),
                format!("refers to {}, which is not served", fk.target_table),
            ),
            _ => note(
                notes,
                &name,
                Some(field),
                format!(
                    "foreign key {} ({}) → {} ({}) is not to a single id: not described",
                    fk.name,
                    fk.columns.join(", "),
                    fk.target_table,
                    fk.target_columns.join(", ")
                ),
            ),
        }
    }
    // Indexes and unique constraints; the managed tenant column leads every one of a scoped
    // table's, and is implied.
    let fk_names: HashSet<&str> = t.foreign_keys.iter().map(|f| f.name.as_str()).collect();
    for ix in &t.indexes {
        if ix.unusual {
            note(
                notes,
                &name,
                None,
                format!(
                    "index {} is partial or over an expression: not described",
                    ix.name
                ),
            );
            continue;
        }
        let mut cols: Vec<String> = ix.columns.clone();
        if scoped && cols.first().map(String::as_str) == Some(TENANT_COLUMN) {
            cols.remove(0);
        }
        if cols.is_empty() || cols == ["id"] {
            continue;
        }
        // MySQL gives each foreign key an index of the key's name.
        if d == Dialect::MySql && !ix.unique && fk_names.contains(ix.name.as_str()) {
            continue;
        }
        if let [one] = cols.as_slice()
            && let Some(f) = def.fields.iter_mut().find(|f| &f.name == one)
        {
            // A text column with an index is what SQLite and PostgreSQL make of a string
            // without `max_length`.
            if f.ty == FieldType::Text && d != Dialect::MySql {
                f.ty = FieldType::String;
                note(
                    notes,
                    &name,
                    Some(one),
                    format!(
                        "a text column with index {}: described as a string, whose values Flowgate limits to {} characters",
                        ix.name,
                        crate::model::DEFAULT_MAX_LENGTH
                    ),
                );
            }
            if !f.ty.is_indexable() {
                note(
                    notes,
                    &name,
                    Some(one),
                    format!("index {} is on a {} column: not described", ix.name, f.ty),
                );
            } else if ix.unique {
                f.unique = true;
                f.indexed = false;
            } else if !f.unique {
                f.indexed = true;
            }
            continue;
        }
        let all_indexable = cols.iter().all(|c| {
            managed_column(c)
                || def
                    .fields
                    .iter()
                    .any(|f| &f.name == c && f.ty.is_indexable())
        });
        if !all_indexable {
            note(
                notes,
                &name,
                None,
                format!(
                    "index {} covers a column that cannot be indexed in a model: not described",
                    ix.name
                ),
            );
            continue;
        }
        let list = if ix.unique {
            &mut def.unique
        } else {
            &mut def.indexes
        };
        if !list.contains(&cols) {
            list.push(cols);
        }
    }
    def
}

fn field_of(d: Dialect, c: &RawColumn, model: &str, notes: &mut Vec<Note>) -> FieldDef {
    let m = map_type(d, c);
    if let Some(text) = &m.note {
        note(notes, model, Some(&c.name), text.clone());
    }
    let mut f = FieldDef::new(&c.name, m.ty);
    f.optional = c.nullable;
    f.max_length = m.max_length;
    f.values = m.values;
    f.precision = m.precision;
    f.scale = m.scale;
    if let Some(raw) = &c.default {
        match default_of(raw, &f) {
            DbDefault::None => {}
            DbDefault::Value(v) => f.default = Some(v),
            DbDefault::Expression(expr) => match default_fn_of(&expr, f.ty) {
                Some(func) => {
                    f.default_fn = Some(func);
                    note(
                        notes,
                        model,
                        Some(&c.name),
                        format!(
                            "the database's default `{expr}`: Flowgate computes it when a create leaves the field out (default_fn = \"{}\")",
                            func.as_str()
                        ),
                    );
                }
                None => note(
                    notes,
                    model,
                    Some(&c.name),
                    format!(
                        "the database's default `{expr}` applies only to inserts that leave the column out, which Flowgate's do not: give a value on create"
                    ),
                ),
            },
        }
    }
    f
}

/// A column type mapped to a field type.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Mapped {
    pub ty: FieldType,
    pub max_length: Option<u32>,
    pub precision: Option<u32>,
    pub scale: Option<u32>,
    pub values: Vec<String>,
    /// Said beside the field when the mapping is not exact.
    pub note: Option<String>,
}

impl Mapped {
    fn of(ty: FieldType) -> Mapped {
        Mapped {
            ty,
            max_length: None,
            precision: None,
            scale: None,
            values: Vec::new(),
            note: None,
        }
    }
    fn noted(mut self, text: impl Into<String>) -> Mapped {
        self.note = Some(text.into());
        self
    }
}

/// `varchar(120)` → (`varchar`, [120]); `timestamp(6) with time zone` → (`timestamp with time
/// zone`, [6]); `tinyint(1) unsigned` → (`tinyint unsigned`, [1]).
fn split_type(data_type: &str) -> (String, Vec<u32>) {
    let t = data_type.trim().to_ascii_lowercase();
    let Some(open) = t.find('(') else {
        return (
            t.split_whitespace().collect::<Vec<_>>().join(" "),
            Vec::new(),
        );
    };
    let close = t[open..].find(')').map(|i| open + i).unwrap_or(t.len());
    let args = t[open + 1..close]
        .split(',')
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    let rest = format!("{} {}", &t[..open], t.get(close + 1..).unwrap_or(""));
    (rest.split_whitespace().collect::<Vec<_>>().join(" "), args)
}

/// The field type of a column.
pub(super) fn map_type(d: Dialect, c: &RawColumn) -> Mapped {
    if let Some(values) = &c.enum_values {
        return Mapped {
            values: values.clone(),
            ..Mapped::of(FieldType::Enum)
        };
    }
    if c.json_checked {
        return Mapped::of(FieldType::Json);
    }
    let (base, args) = split_type(&c.data_type);
    let base = base.trim_end_matches(" unsigned").to_string();
    let no_type = |ty: FieldType| {
        Mapped::of(ty).noted(format!(
            "the column type {} has no field type: served as {ty}",
            c.data_type
        ))
    };
    match base.as_str() {
        "tinyint" if d == Dialect::MySql && args == [1] => Mapped::of(FieldType::Boolean),
        "integer" | "int" | "bigint" | "smallint" | "tinyint" | "mediumint" | "int2" | "int4"
        | "int8" | "serial" | "bigserial" | "smallserial" => Mapped::of(FieldType::Integer),
        "boolean" | "bool" => Mapped::of(FieldType::Boolean),
        "real" | "double" | "double precision" | "float" | "float4" | "float8" => {
            Mapped::of(FieldType::Float)
        }
        "numeric" | "decimal" => {
            let mut m = Mapped::of(FieldType::Decimal);
            match args.as_slice() {
                // Flowgate's own MySQL column for a decimal of no stated precision.
                [38, 10] if d == Dialect::MySql => {}
                [p, ..] if *p > 38 => {
                    m = m.noted(format!(
                        "precision {p} is beyond a model's 38: described without one"
                    ));
                }
                [p] => m.precision = Some(*p),
                [p, s] => {
                    m.precision = Some(*p);
                    m.scale = (*s > 0).then_some(*s);
                }
                _ => {}
            }
            m
        }
        "char" | "character" | "bpchar" | "nchar" if args == [36] => Mapped::of(FieldType::Uuid),
        "varchar" | "character varying" | "nvarchar" | "char" | "character" | "bpchar"
        | "nchar" | "varchar2" => match args.first() {
            Some(&n) if (1..=65_535).contains(&n) => Mapped {
                max_length: Some(n),
                ..Mapped::of(FieldType::String)
            },
            _ => Mapped::of(FieldType::Text),
        },
        "text" | "longtext" | "mediumtext" | "tinytext" | "clob" | "citext" | "name" => {
            Mapped::of(FieldType::Text)
        }
        "date" => Mapped::of(FieldType::Date),
        "timestamp without time zone" | "timestamp" if d == Dialect::Postgres => {
            Mapped::of(FieldType::Datetime)
                .noted("a timestamp without time zone: values are read and written as UTC")
        }
        "datetime" | "timestamp" | "timestamp with time zone" | "timestamptz" => {
            Mapped::of(FieldType::Datetime)
        }
        "uuid" => Mapped::of(FieldType::Uuid),
        "json" | "jsonb" => Mapped::of(FieldType::Json),
        "blob" | "bytea" | "longblob" | "mediumblob" | "tinyblob" | "binary" | "varbinary" => {
            Mapped::of(FieldType::Bytes)
        }
        _ if d == Dialect::Sqlite => sqlite_affinity(&base, c),
        _ if base.ends_with("[]") => no_type(FieldType::Json),
        _ => no_type(FieldType::Text),
    }
}

/// SQLite's rules for a declared type it does not know (its "type affinity").
fn sqlite_affinity(base: &str, c: &RawColumn) -> Mapped {
    let ty = if base.contains("int") {
        FieldType::Integer
    } else if base.contains("char") || base.contains("clob") || base.contains("text") {
        FieldType::Text
    } else if base.contains("real") || base.contains("floa") || base.contains("doub") {
        FieldType::Float
    } else {
        FieldType::Text
    };
    let what = if base.is_empty() {
        "no declared type".to_string()
    } else {
        format!("the column type {}", c.data_type)
    };
    Mapped::of(ty).noted(format!("{what}: served as {ty} (SQLite's type affinity)"))
}

/// The `default_fn` that computes what a database's default expression gives, for the common
/// ones: the time (`now()`, `CURRENT_TIMESTAMP`, `current_timestamp(6)`, SQLite's
/// `datetime('now')`), the date (`CURRENT_DATE`, `curdate()`), a random UUID
/// (`gen_random_uuid()`, `uuid_generate_v4()`, `uuid()`), each on a field of the type it gives.
pub(super) fn default_fn_of(expr: &str, ty: FieldType) -> Option<DefaultFn> {
    let mut e = expr.trim().to_ascii_lowercase();
    while e.starts_with('(') && e.ends_with(')') {
        e = e[1..e.len() - 1].trim().to_string();
    }
    // PostgreSQL's casts (`now()::timestamp without time zone`, `CURRENT_DATE::date`).
    let base = e.split("::").next().unwrap_or_default().trim();
    let base = base.strip_suffix("()").unwrap_or(base);
    let base = match base.find('(') {
        Some(i)
            if base[i + 1..]
                .trim_end_matches(')')
                .chars()
                .all(|c| c.is_ascii_digit()) =>
        {
            &base[..i]
        }
        _ => base,
    };
    let func = match base {
        "now"
        | "current_timestamp"
        | "localtimestamp"
        | "transaction_timestamp"
        | "statement_timestamp"
        | "clock_timestamp"
        | "datetime('now')" => DefaultFn::Now,
        "current_date" | "curdate" | "date('now')" => DefaultFn::Today,
        "gen_random_uuid" | "uuid_generate_v4" | "uuid" => DefaultFn::Uuid,
        _ => return None,
    };
    (func.field_type() == ty).then_some(func)
}

/// A column default read from the catalog.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum DbDefault {
    /// No default (or NULL).
    None,
    /// A constant, as the field's JSON value.
    Value(Value),
    /// An expression the database evaluates (`now()`, a sequence).
    Expression(String),
}

/// Reads a catalog's default for a field: a constant becomes its JSON value (checked against
/// the field), anything else is the database's expression.
pub(super) fn default_of(raw: &str, f: &FieldDef) -> DbDefault {
    let raw = raw.trim();
    if raw.is_empty()
        || raw.eq_ignore_ascii_case("null")
        || raw.to_ascii_lowercase().starts_with("null::")
    {
        return DbDefault::None;
    }
    let Some(literal) = literal(raw) else {
        return DbDefault::Expression(raw.to_string());
    };
    let value = match (f.ty, literal) {
        (FieldType::Integer, Literal::Number(n)) => n.parse::<i64>().ok().map(Value::from),
        (FieldType::Integer, Literal::Text(s)) => s.parse::<i64>().ok().map(Value::from),
        (FieldType::Float, Literal::Number(n) | Literal::Text(n)) => n
            .parse::<f64>()
            .ok()
            .and_then(|x| serde_json::Number::from_f64(x).map(Value::Number)),
        (FieldType::Decimal, Literal::Number(n) | Literal::Text(n)) => Some(Value::from(n)),
        (FieldType::Boolean, Literal::Bool(b)) => Some(Value::Bool(b)),
        (FieldType::Boolean, Literal::Number(n) | Literal::Text(n)) => match n.as_str() {
            "1" | "t" | "true" => Some(Value::Bool(true)),
            "0" | "f" | "false" => Some(Value::Bool(false)),
            _ => None,
        },
        (FieldType::Json, Literal::Text(s)) => serde_json::from_str(&s).ok(),
        (FieldType::Json, Literal::Number(n)) => serde_json::from_str(&n).ok(),
        (FieldType::Bytes, _) => None,
        (_, Literal::Text(s) | Literal::Number(s)) => Some(Value::from(s)),
        (_, Literal::Bool(b)) => Some(Value::from(b.to_string())),
    };
    let shape = Shape {
        ty: f.ty,
        max_length: f.length_limit(),
        values: &f.values,
    };
    match value {
        Some(v) if value::coerce(shape, &v).is_ok() => DbDefault::Value(v),
        _ => DbDefault::Expression(raw.to_string()),
    }
}

enum Literal {
    Text(String),
    Number(String),
    Bool(bool),
}

/// A constant in SQL: `'text'` (with `''` inside), a number, `true`/`false`, each maybe in
/// parentheses and with PostgreSQL's `::type` casts after it.
fn literal(raw: &str) -> Option<Literal> {
    let mut s = raw.trim();
    while s.starts_with('(') && s.ends_with(')') {
        s = s[1..s.len() - 1].trim();
    }
    if let Some(rest) = s.strip_prefix('\'') {
        let (text, after) = quoted(rest)?;
        return is_casts(after).then_some(Literal::Text(text));
    }
    let (head, casts) = match s.find("::") {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    };
    let mut head = head.trim();
    while head.starts_with('(') && head.ends_with(')') {
        head = head[1..head.len() - 1].trim();
    }
    if !is_casts(casts) {
        return None;
    }
    match head.to_ascii_lowercase().as_str() {
        "true" => return Some(Literal::Bool(true)),
        "false" => return Some(Literal::Bool(false)),
        _ => {}
    }
    let digits = head.strip_prefix('-').unwrap_or(head);
    let numeric = !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.chars().filter(|c| *c == '.').count() <= 1
        && digits.chars().next().is_some_and(|c| c.is_ascii_digit());
    numeric.then(|| Literal::Number(head.to_string()))
}

/// The text of a quoted string whose opening quote is gone, and what follows its closing one.
fn quoted(rest: &str) -> Option<(String, &str)> {
    let mut text = String::new();
    let mut chars = rest.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' if chars.peek().map(|(_, c)| *c) == Some('\'') => {
                chars.next();
                text.push('\'');
            }
            '\'' => return Some((text, &rest[i + 1..])),
            '\\' => {
                if let Some((_, next)) = chars.next() {
                    text.push(next);
                }
            }
            c => text.push(c),
        }
    }
    None
}

/// Nothing, or only `::type` casts (`::character varying`, `::text[]`).
fn is_casts(s: &str) -> bool {
    let s = s.trim();
    s.is_empty()
        || s.split("::").skip(1).all(|t| {
            !t.trim().is_empty()
                && t.trim()
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || " _[]\"().,".contains(c))
        }) && s.starts_with("::")
}

/// Every quoted string in `s`, in order: `'a', 'b''c'` → `a`, `b'c`.
pub(super) fn quoted_strings(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find('\'') {
        match quoted(&rest[i + 1..]) {
            Some((text, after)) => {
                out.push(text);
                rest = after;
            }
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn col(data_type: &str) -> RawColumn {
        RawColumn {
            name: "c".into(),
            data_type: data_type.into(),
            ..RawColumn::default()
        }
    }

    #[test]
    fn column_types_map_to_field_types() {
        use Dialect::*;
        let cases = [
            (Postgres, "integer", FieldType::Integer),
            (Postgres, "smallint", FieldType::Integer),
            (MySql, "bigint(20)", FieldType::Integer),
            (MySql, "int(10) unsigned", FieldType::Integer),
            (MySql, "tinyint(1)", FieldType::Boolean),
            (MySql, "tinyint(4)", FieldType::Integer),
            (Postgres, "boolean", FieldType::Boolean),
            (Postgres, "double precision", FieldType::Float),
            (Postgres, "real", FieldType::Float),
            (Postgres, "numeric", FieldType::Decimal),
            (Postgres, "text", FieldType::Text),
            (Postgres, "character varying", FieldType::Text),
            (Postgres, "date", FieldType::Date),
            (Postgres, "timestamp with time zone", FieldType::Datetime),
            (
                Postgres,
                "timestamp(3) without time zone",
                FieldType::Datetime,
            ),
            (MySql, "datetime(6)", FieldType::Datetime),
            (MySql, "timestamp", FieldType::Datetime),
            (Postgres, "uuid", FieldType::Uuid),
            (Sqlite, "CHAR(36)", FieldType::Uuid),
            (Postgres, "jsonb", FieldType::Json),
            (MySql, "json", FieldType::Json),
            (Postgres, "bytea", FieldType::Bytes),
            (MySql, "longblob", FieldType::Bytes),
            (Sqlite, "BLOB", FieldType::Bytes),
            (Postgres, "inet", FieldType::Text),
            (Postgres, "integer[]", FieldType::Json),
            (Sqlite, "UNSIGNED BIG INT", FieldType::Integer),
        ];
        for (d, ty, want) in cases {
            assert_eq!(map_type(d, &col(ty)).ty, want, "{d:?} {ty}");
        }
        let v = map_type(Dialect::Postgres, &col("character varying(120)"));
        assert_eq!((v.ty, v.max_length), (FieldType::String, Some(120)));
        let n = map_type(Dialect::Postgres, &col("numeric(10,2)"));
        assert_eq!((n.precision, n.scale), (Some(10), Some(2)));
        let n = map_type(Dialect::MySql, &col("decimal(38,10)"));
        assert_eq!((n.precision, n.scale), (None, None));
        assert!(map_type(Dialect::Postgres, &col("inet")).note.is_some());
        assert!(map_type(Dialect::Postgres, &col("integer")).note.is_none());
    }

    #[test]
    fn defaults_are_constants_or_the_databases_expressions() {
        let s = FieldDef::string("s");
        assert_eq!(
            default_of("'it''s'::character varying", &s),
            DbDefault::Value(json!("it's"))
        );
        assert_eq!(default_of("'open'", &s), DbDefault::Value(json!("open")));
        assert_eq!(default_of("NULL", &s), DbDefault::None);
        assert_eq!(default_of("NULL::character varying", &s), DbDefault::None);
        let i = FieldDef::integer("i");
        assert_eq!(default_of("42", &i), DbDefault::Value(json!(42)));
        assert_eq!(default_of("(-1)", &i), DbDefault::Value(json!(-1)));
        assert_eq!(default_of("'7'::integer", &i), DbDefault::Value(json!(7)));
        assert_eq!(
            default_of("nextval('t_id_seq'::regclass)", &i),
            DbDefault::Expression("nextval('t_id_seq'::regclass)".into())
        );
        let b = FieldDef::boolean("b");
        assert_eq!(default_of("true", &b), DbDefault::Value(json!(true)));
        assert_eq!(default_of("0", &b), DbDefault::Value(json!(false)));
        let dt = FieldDef::datetime("d");
        assert_eq!(
            default_of("now()", &dt),
            DbDefault::Expression("now()".into())
        );
        assert_eq!(
            default_of("CURRENT_TIMESTAMP", &dt),
            DbDefault::Expression("CURRENT_TIMESTAMP".into())
        );
        let j = FieldDef::json("j");
        assert_eq!(
            default_of("'{\"a\": 1}'::jsonb", &j),
            DbDefault::Value(json!({"a": 1}))
        );
        let d = FieldDef::decimal("d");
        assert_eq!(
            default_of("'3.50'::numeric", &d),
            DbDefault::Value(json!("3.50"))
        );
        let e = FieldDef::enumeration("e", ["open", "done"]);
        assert_eq!(
            default_of("'open'::mood", &e),
            DbDefault::Value(json!("open"))
        );
        assert_eq!(
            default_of("'gone'::mood", &e),
            DbDefault::Expression("'gone'::mood".into())
        );
    }

    #[test]
    fn common_default_expressions_are_computed_by_flowgate() {
        use FieldType::*;
        for (expr, ty, want) in [
            ("now()", Datetime, Some(DefaultFn::Now)),
            ("CURRENT_TIMESTAMP", Datetime, Some(DefaultFn::Now)),
            ("current_timestamp(6)", Datetime, Some(DefaultFn::Now)),
            ("(datetime('now'))", Datetime, Some(DefaultFn::Now)),
            (
                "now()::timestamp without time zone",
                Datetime,
                Some(DefaultFn::Now),
            ),
            ("CURRENT_DATE", Date, Some(DefaultFn::Today)),
            ("curdate()", Date, Some(DefaultFn::Today)),
            ("gen_random_uuid()", Uuid, Some(DefaultFn::Uuid)),
            ("uuid()", Uuid, Some(DefaultFn::Uuid)),
            ("now()", Date, None),
            ("nextval('seq'::regclass)", Integer, None),
            ("(random() * 10)", Float, None),
        ] {
            assert_eq!(default_fn_of(expr, ty), want, "{expr} {ty}");
        }
    }

    #[test]
    fn quoted_lists_read_escapes() {
        assert_eq!(
            quoted_strings("enum('a','b''c','d\\'e')"),
            ["a", "b'c", "d'e"]
        );
        assert_eq!(
            quoted_strings("CHECK (\"state\" IN ('open', 'done'))"),
            ["open", "done"]
        );
    }

    fn table(name: &str, columns: Vec<RawColumn>) -> RawTable {
        RawTable {
            name: name.into(),
            primary_key: vec!["id".into()],
            columns,
            ..RawTable::default()
        }
    }

    fn id() -> RawColumn {
        RawColumn {
            name: "id".into(),
            data_type: "integer".into(),
            generated: true,
            ..RawColumn::default()
        }
    }

    #[test]
    fn tables_that_cannot_be_served_say_why() {
        let mut composite = table("pairs", vec![col("a"), col("b")]);
        composite.primary_key = vec!["a".into(), "b".into()];
        let mut none = table("log_lines", vec![col("line")]);
        none.primary_key.clear();
        let mut other_key = table("codes", vec![col("code")]);
        other_key.primary_key = vec!["code".into()];
        let view = RawTable {
            is_view: true,
            ..table("recent", vec![id()])
        };
        let mut camel = table("people", vec![id()]);
        camel.columns.push(RawColumn {
            name: "firstName".into(),
            data_type: "text".into(),
            ..RawColumn::default()
        });
        let plain_int = table(
            "counters",
            vec![RawColumn {
                generated: false,
                ..id()
            }],
        );
        let found = models_of(
            Dialect::Postgres,
            &[composite, none, other_key, view, camel, plain_int],
            false,
        );
        assert!(found.models.is_empty(), "{:?}", found.models);
        let reasons: HashMap<_, _> = found.skipped.iter().cloned().collect();
        assert!(reasons["pairs"].contains("composite primary key (a, b)"));
        assert!(reasons["log_lines"].contains("no primary key"));
        assert!(reasons["codes"].contains("not named `id`"));
        assert!(reasons["recent"].contains("view"));
        assert!(reasons["people"].contains("firstName"));
        assert!(reasons["counters"].contains("not generated"));
    }

    #[test]
    fn models_get_singular_names_references_and_indexes() {
        let authors = table(
            "authors",
            vec![
                id(),
                RawColumn {
                    name: "email".into(),
                    data_type: "varchar(200)".into(),
                    ..RawColumn::default()
                },
            ],
        );
        let mut posts = table(
            "blog_posts",
            vec![
                id(),
                RawColumn {
                    name: "author_id".into(),
                    data_type: "bigint".into(),
                    nullable: true,
                    ..RawColumn::default()
                },
                RawColumn {
                    name: "slug".into(),
                    data_type: "varchar(80)".into(),
                    ..RawColumn::default()
                },
                RawColumn {
                    name: "created_at".into(),
                    data_type: "timestamp with time zone".into(),
                    default: Some("now()".into()),
                    ..RawColumn::default()
                },
            ],
        );
        posts.foreign_keys.push(super::super::RawForeignKey {
            name: "fk".into(),
            columns: vec!["author_id".into()],
            target_table: "authors".into(),
            target_columns: vec!["id".into()],
            on_delete: "set null".into(),
        });
        posts.indexes.push(super::super::RawIndex {
            name: "ux".into(),
            columns: vec!["author_id".into(), "slug".into()],
            unique: true,
            unusual: false,
        });
        posts.indexes.push(super::super::RawIndex {
            name: "ix".into(),
            columns: vec!["slug".into()],
            unique: false,
            unusual: false,
        });
        let found = models_of(Dialect::Postgres, &[posts, authors], false);
        assert!(found.skipped.is_empty(), "{:?}", found.skipped);
        let names: Vec<&str> = found.models.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["Author", "BlogPost"]);
        let post = &found.models[1];
        assert!(!post.managed && !post.timestamps);
        assert_eq!(post.table, None, "blog_posts is BlogPost's own table name");
        let author_id = &post.fields[0];
        assert_eq!(author_id.references.as_deref(), Some("Author"));
        assert_eq!(author_id.on_delete, OnDelete::SetNull);
        assert!(post.fields[1].indexed);
        assert_eq!(
            post.unique,
            [vec!["author_id".to_string(), "slug".to_string()]]
        );
        // created_at without updated_at is an ordinary field, its default the database's.
        assert_eq!(post.fields[2].name, "created_at");
        assert!(
            found
                .notes
                .iter()
                .any(|n| n.field.as_deref() == Some("created_at") && n.text.contains("now()"))
        );
        // The TOML form parses back to the same models.
        let text = super::super::to_toml(&found);
        let back = crate::model::parse_toml(&text, "introspected.toml").unwrap();
        assert_eq!(back, found.models, "{text}");
    }
}
