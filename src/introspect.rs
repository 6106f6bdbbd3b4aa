//! Schema discovery (DESIGN 13.10): reads the tables of an existing SQLite, PostgreSQL or MySQL
//! database and gives back model definitions that serve them as they are (`managed = false`).
//!
//! Three readers (one per database, each reading the catalog in a few queries, not one per
//! table) give the same [`RawTable`] description; [`models_of`] turns those into
//! [`ModelDef`]s, saying per table why one cannot be served and per field what does not map
//! exactly; [`to_toml`] writes the schema file, its notes as comments.
//!
//! ```no_run
//! # async fn f() -> flowgate::Result<()> {
//! let found = flowgate::introspect::introspect(
//!     "sqlite://legacy.db",
//!     &flowgate::introspect::Options::default(),
//! )
//! .await?;
//! print!("{}", flowgate::introspect::to_toml(&found));
//! # Ok(()) }
//! ```

mod mapping;
mod mysql;
mod postgres;
mod sqlite;

use crate::error::{Error, Result};
use crate::model::{self, ModelDef};
use crate::sql::Dialect;
use serde_json::Value;

pub use mapping::models_of;

/// What to read and how to write it.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Only these tables (all when empty).
    pub tables: Vec<String>,
    /// The PostgreSQL schema to read (when `None`, the connection's current schema: the first of
    /// its `search_path` that exists, usually `public`); elsewhere ignored.
    pub schema: Option<String>,
    /// Write the models as Flowgate-managed (`managed = true`: Flowgate may migrate the tables
    /// from now on). By default they are served as they are.
    pub managed: bool,
}

/// A table or view as a database's catalog describes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawTable {
    /// The table's name.
    pub name: String,
    /// A view (never served: reported as skipped).
    pub is_view: bool,
    /// Columns in their table order.
    pub columns: Vec<RawColumn>,
    /// The primary key's columns, in key order (empty: none).
    pub primary_key: Vec<String>,
    /// Indexes and unique constraints, the primary key's excluded.
    pub indexes: Vec<RawIndex>,
    /// Foreign keys.
    pub foreign_keys: Vec<RawForeignKey>,
}

/// A column as the catalog describes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawColumn {
    /// The column's name.
    pub name: String,
    /// The declared type, lower case, with its length or precision (`varchar(120)`,
    /// `numeric(10,2)`, `timestamp with time zone`, `enum('a','b')`).
    pub data_type: String,
    /// Whether it may hold null.
    pub nullable: bool,
    /// The default as the catalog spells it (`'open'::text`, `42`, `now()`), if any.
    pub default: Option<String>,
    /// The values of an enumerated type (a PostgreSQL enum, a MySQL `ENUM`, or a check
    /// `col IN ('a', 'b')`).
    pub enum_values: Option<Vec<String>>,
    /// The database generates its values (an identity, `serial`, `AUTO_INCREMENT`, SQLite's
    /// `INTEGER PRIMARY KEY`).
    pub generated: bool,
    /// MariaDB's JSON: a long text with a `json_valid` check.
    pub json_checked: bool,
}

/// An index or unique constraint.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawIndex {
    /// Its name.
    pub name: String,
    /// Its columns in order.
    pub columns: Vec<String>,
    /// Unique.
    pub unique: bool,
    /// Partial, or over an expression or a prefix of a column: not expressible in a model.
    pub unusual: bool,
}

/// A foreign key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawForeignKey {
    /// Its name (MySQL's index of the same name is the key's own).
    pub name: String,
    /// The referencing columns.
    pub columns: Vec<String>,
    /// The referenced table.
    pub target_table: String,
    /// The referenced columns.
    pub target_columns: Vec<String>,
    /// The delete action, lower case with spaces: `cascade`, `set null`, `restrict`, `no
    /// action`, `set default`.
    pub on_delete: String,
}

/// What introspection found: the models, and what could not be served or mapped exactly.
#[derive(Debug, Clone, Default)]
pub struct Introspection {
    /// The database's dialect.
    pub dialect: Option<Dialect>,
    /// The models, one per servable table, in table name order.
    pub models: Vec<ModelDef>,
    /// Notes on a model (`field` None) or a field, written as comments beside it.
    pub notes: Vec<Note>,
    /// Tables and views not served, each with the reason.
    pub skipped: Vec<(String, String)>,
}

/// A remark on a model or one of its fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    /// The model.
    pub model: String,
    /// The field, or None for the model.
    pub field: Option<String>,
    /// What the reader should know.
    pub text: String,
}

impl Introspection {
    fn notes_of<'a>(
        &'a self,
        model: &'a str,
        field: Option<&'a str>,
    ) -> impl Iterator<Item = &'a str> {
        self.notes
            .iter()
            .filter(move |n| n.model == model && n.field.as_deref() == field)
            .map(|n| n.text.as_str())
    }
}

/// Reads the database at `url` and maps its tables to models. Opens one connection of its own
/// (read-only on SQLite, which must exist) and changes nothing.
pub async fn introspect(url: &str, opts: &Options) -> Result<Introspection> {
    let dialect = crate::store::dialect_of(url)?;
    let tables = match dialect {
        Dialect::Sqlite => sqlite::read(url).await?,
        Dialect::Postgres => postgres::read(url, opts.schema.as_deref()).await?,
        Dialect::MySql => mysql::read(url).await?,
    };
    let tables: Vec<RawTable> = if opts.tables.is_empty() {
        tables
    } else {
        if let Some(missing) = opts
            .tables
            .iter()
            .find(|t| !tables.iter().any(|r| &r.name == *t))
        {
            return Err(Error::validation(
                "tables",
                format!("the database has no table `{missing}`"),
            ));
        }
        tables
            .into_iter()
            .filter(|t| opts.tables.contains(&t.name))
            .collect()
    };
    let mut found = models_of(dialect, &tables, opts.managed);
    found.dialect = Some(dialect);
    Ok(found)
}

/// The schema file in TOML, the notes as comments: a header listing skipped tables, then one
/// `[models.Name]` table per model with its fields as inline tables. [`model::parse_toml`] of
/// it gives back [`Introspection::models`].
pub fn to_toml(found: &Introspection) -> String {
    let mut out = String::from("# Written by `flowgate introspect`.\n");
    if !found.skipped.is_empty() {
        out.push_str("# Not served:\n");
        for (table, reason) in &found.skipped {
            out.push_str(&format!("#   {table}: {}\n", one_line(reason)));
        }
    }
    let json = model::to_json(&found.models);
    let Some(Value::Object(models)) = json.get("models") else {
        return out;
    };
    for (name, body) in models {
        out.push('\n');
        for text in found.notes_of(name, None) {
            out.push_str(&format!("# {}\n", one_line(text)));
        }
        out.push_str(&format!("[models.{name}]\n"));
        let Value::Object(body) = body else { continue };
        for (key, value) in body {
            if key == "fields" {
                continue;
            }
            out.push_str(&format!("{key} = {}\n", inline(value)));
        }
        if let Some(Value::Object(fields)) = body.get("fields") {
            for (field, spec) in fields {
                for text in found.notes_of(name, Some(field)) {
                    out.push_str(&format!("# {field}: {}\n", one_line(text)));
                }
                out.push_str(&format!("fields.{} = {}\n", key(field), inline(spec)));
            }
        }
    }
    out
}

/// The schema file in JSON (`{"models": {...}}`). JSON has no comments: the notes and skipped
/// tables are for the caller to show beside it ([`Introspection::remarks`]).
pub fn to_json(found: &Introspection) -> Value {
    model::to_json(&found.models)
}

impl Introspection {
    /// The skipped tables and the notes, one line each (`table: reason`, `Model.field: note`).
    pub fn remarks(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .skipped
            .iter()
            .map(|(t, r)| format!("not served: {t}: {}", one_line(r)))
            .collect();
        lines.extend(self.notes.iter().map(|n| match &n.field {
            Some(f) => format!("{}.{f}: {}", n.model, one_line(&n.text)),
            None => format!("{}: {}", n.model, one_line(&n.text)),
        }));
        lines
    }
}

fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// A TOML key: bare when it can be.
fn key(name: &str) -> String {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        name.to_string()
    } else {
        toml::Value::String(name.to_string()).to_string()
    }
}

/// A JSON value as an inline TOML value (a null, which TOML lacks, never occurs in a model's
/// JSON form).
fn inline(value: &Value) -> String {
    match value {
        Value::Null => "\"\"".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => toml::Value::String(s.clone()).to_string(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(inline).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(map) if map.is_empty() => "{}".into(),
        Value::Object(map) => {
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{} = {}", key(k), inline(v)))
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }
    }
}
