//! Models: definitions, validation, schema files and the `model!` macro.
//!
//! Every source of models (the macro, the builder, schema files, the registry) produces the same
//! [`ModelDef`]; [`Schema::new`] validates a set of them and compiles each into a [`ModelInfo`] that
//! the rest of the crate reads.

mod article;
mod def;
mod field;
mod file;
mod kind;
mod macros;
mod relations;
mod schema;

/// The prefix of Flowgate's own tables, which no application model may take.
pub const RESERVED_TABLE_PREFIX: &str = "flowgate_";

pub use article::{indefinite_article, with_article};
pub use def::{IdType, Model, ModelDef, default_table_name, op_set, resolve_tenancy};
pub use field::{DEFAULT_MAX_LENGTH, DefaultFn, FieldDef, FieldType, OnDelete};
pub(crate) use file::toml_to_json;
pub use file::{parse_json, parse_toml, read_schema_file, to_json};
pub use kind::{Bytes, FieldKind};
pub use relations::{Relation, RelationKind, all_relations, relations};
pub use schema::{Column, ModelInfo, Role, Schema, TENANT_COLUMN, TENANT_MAX_LENGTH};
