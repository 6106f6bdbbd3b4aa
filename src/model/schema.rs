//! A validated set of models, each compiled into the column list the rest of the crate reads.

use super::def::{IdType, ModelDef};
use super::field::{FieldDef, FieldType, OnDelete};
use crate::error::{Error, Result};
use crate::value::{self, Shape};
use indexmap::IndexMap;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// What a column is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The primary key.
    Id,
    /// A declared field.
    Field,
    /// Managed: set on create.
    CreatedAt,
    /// Managed: set on every write.
    UpdatedAt,
    /// Managed: the tombstone of a soft-deleted row.
    DeletedAt,
    /// Managed: the tenant a row belongs to ([`ModelInfo::tenant`]; never among
    /// [`ModelInfo::columns`], so callers can neither read, write, filter nor sort by it).
    Tenant,
}

/// One column of a model's table: the id, a declared field or a managed field.
#[derive(Debug, Clone)]
pub struct Column {
    /// The field definition (synthesised for the id and managed fields).
    pub def: FieldDef,
    /// What the column is for.
    pub role: Role,
}

impl Column {
    /// The column's name.
    pub fn name(&self) -> &str {
        &self.def.name
    }
    /// The column's type.
    pub fn ty(&self) -> FieldType {
        self.def.ty
    }
    /// Whether callers may write the column.
    pub fn is_writable(&self) -> bool {
        matches!(self.role, Role::Field | Role::Id)
    }
    /// The shape values are checked against.
    pub fn shape(&self) -> Shape<'_> {
        Shape {
            ty: self.def.ty,
            max_length: self.def.length_limit(),
            values: &self.def.values,
        }
    }
}

/// A validated model: its definition plus everything derived from it once.
#[derive(Debug)]
pub struct ModelInfo {
    /// The definition it was compiled from.
    pub def: ModelDef,
    /// The table name.
    pub table: String,
    /// Every column in table order: id, declared fields, created_at, updated_at, deleted_at.
    pub columns: Vec<Column>,
    /// Column positions by name (FxHash: names are short and not chosen by requests).
    by_name: rustc_hash::FxHashMap<String, usize>,
    /// The unique column sets (the id, unique fields, composite unique constraints).
    pub unique_sets: Vec<Vec<String>>,
    /// A number no other compiled model in this process has: caches of derived data (the SQL
    /// of fixed-shape statements) key on it, so a changed model never meets stale entries.
    pub(crate) uid: u64,
    /// The managed `tenant_id` column of a tenant-scoped model (kept out of `columns`, which are
    /// what callers see).
    pub tenant: Option<Column>,
    /// The reference fields whose target model is tenant-scoped, with the target's table: a
    /// write checks that what they point at belongs to the writer's tenant.
    pub tenant_refs: Vec<(String, String)>,
}

/// The managed tenant column's name.
pub const TENANT_COLUMN: &str = "tenant_id";
/// The longest tenant id.
pub const TENANT_MAX_LENGTH: u32 = 128;

static NEXT_UID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl ModelInfo {
    /// The model's name.
    pub fn name(&self) -> &str {
        &self.def.name
    }
    /// A column by name.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.by_name.get(name).map(|&i| &self.columns[i])
    }
    /// The position of a column in [`ModelInfo::columns`].
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }
    /// The primary key column.
    pub fn id(&self) -> &Column {
        &self.columns[0]
    }
    /// Whether the database generates ids.
    pub fn auto_id(&self) -> bool {
        self.def.id == IdType::Integer
    }
    /// Whether deletes keep tombstones.
    pub fn soft_delete(&self) -> bool {
        self.def.soft_delete
    }
    /// Why `name` is not a field callers may name: unknown, or the managed tenant column.
    pub fn unknown_field(&self, name: &str) -> String {
        if name == TENANT_COLUMN && self.is_tenant_scoped() {
            format!(
                "`{TENANT_COLUMN}` of model {} is set from the caller's tenant: it cannot be written, filtered, sorted or selected",
                self.name()
            )
        } else {
            format!("unknown field `{name}` on model {}", self.name())
        }
    }
    /// The managed `updated_at` column, unless the model has `timestamps = false` (where a
    /// field may bear the name).
    pub fn updated_at(&self) -> Option<&Column> {
        self.column("updated_at")
            .filter(|c| c.role == Role::UpdatedAt)
    }
    /// Whether the model is scoped by tenant.
    pub fn is_tenant_scoped(&self) -> bool {
        self.tenant.is_some()
    }
    /// Whether `fields` (in any order) is the id or a unique set.
    pub fn is_unique_set(&self, fields: &[String]) -> bool {
        let want: HashSet<&str> = fields.iter().map(String::as_str).collect();
        self.unique_sets
            .iter()
            .any(|set| set.len() == want.len() && set.iter().all(|f| want.contains(f.as_str())))
    }

    /// Compiles one definition without checking it against others (the migration planner reads
    /// old, already validated definitions this way).
    pub(crate) fn compile(def: ModelDef) -> ModelInfo {
        let id_ty = match def.id {
            IdType::Integer => FieldType::Integer,
            IdType::String => FieldType::String,
            IdType::Uuid => FieldType::Uuid,
        };
        let mut id = FieldDef::new("id", id_ty);
        if id_ty == FieldType::String {
            id.max_length = Some(255);
        }
        let mut columns = vec![Column {
            def: id,
            role: Role::Id,
        }];
        columns.extend(def.fields.iter().map(|f| Column {
            def: f.clone(),
            role: Role::Field,
        }));
        if def.timestamps {
            columns.push(Column {
                def: FieldDef::datetime("created_at"),
                role: Role::CreatedAt,
            });
            columns.push(Column {
                def: FieldDef::datetime("updated_at"),
                role: Role::UpdatedAt,
            });
        }
        if def.soft_delete {
            columns.push(Column {
                def: FieldDef::datetime("deleted_at").optional(),
                role: Role::DeletedAt,
            });
        }
        let by_name = columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.def.name.clone(), i))
            .collect();
        let mut unique_sets = vec![vec!["id".to_string()]];
        unique_sets.extend(
            def.fields
                .iter()
                .filter(|f| f.unique)
                .map(|f| vec![f.name.clone()]),
        );
        unique_sets.extend(def.unique.iter().cloned());
        let tenant = def.is_tenant_scoped().then(|| {
            let mut f = FieldDef::new(TENANT_COLUMN, FieldType::String).indexed();
            f.max_length = Some(TENANT_MAX_LENGTH);
            Column {
                def: f,
                role: Role::Tenant,
            }
        });
        ModelInfo {
            table: def.table_name(),
            def,
            columns,
            by_name,
            unique_sets,
            uid: NEXT_UID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            tenant,
            tenant_refs: Vec::new(),
        }
    }
}

/// A validated set of models, in an order where every model comes after the models it refers to.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    models: IndexMap<String, Arc<ModelInfo>>,
    by_table: HashMap<String, String>,
}

impl Schema {
    /// Validates the definitions together and compiles them. Errors name the model and the field
    /// (`field` is `Model.field`).
    pub fn new(defs: impl IntoIterator<Item = ModelDef>) -> Result<Schema> {
        Schema::build(defs.into_iter().collect(), false)
    }

    /// Like [`Schema::new`], for Flowgate's own tables (`flowgate_*`, which applications may not
    /// use). The registry and the migration history are models of this kind.
    pub fn internal(defs: impl IntoIterator<Item = ModelDef>) -> Result<Schema> {
        Schema::build(defs.into_iter().collect(), true)
    }

    fn build(defs: Vec<ModelDef>, internal: bool) -> Result<Schema> {
        let mut names = HashSet::new();
        let mut tables = HashMap::new();
        for def in &defs {
            validate_model(def, internal)?;
            if !names.insert(def.name.clone()) {
                return Err(Error::validation(
                    &def.name,
                    format!("model {} is declared twice", def.name),
                ));
            }
            if let Some(other) = tables.insert(def.table_name(), def.name.clone()) {
                return Err(Error::validation(
                    &def.name,
                    format!(
                        "model {} uses table {} which model {other} uses too",
                        def.name,
                        def.table_name()
                    ),
                ));
            }
        }
        let ids: HashMap<&str, IdType> = defs.iter().map(|d| (d.name.as_str(), d.id)).collect();
        for def in &defs {
            for f in &def.fields {
                if let Some(target) = &f.references {
                    let at = format!("{}.{}", def.name, f.name);
                    let Some(id) = ids.get(target.as_str()) else {
                        return Err(Error::validation(
                            at,
                            format!("references unknown model {target}"),
                        ));
                    };
                    let id_ty = match id {
                        IdType::Integer => FieldType::Integer,
                        IdType::String => FieldType::String,
                        IdType::Uuid => FieldType::Uuid,
                    };
                    if f.ty != id_ty {
                        return Err(Error::validation(
                            at,
                            format!(
                                "references {target} whose id is {id_ty}, but the field is {}",
                                f.ty
                            ),
                        ));
                    }
                }
            }
        }
        let scoped: HashMap<String, String> = defs
            .iter()
            .filter(|d| d.is_tenant_scoped())
            .map(|d| (d.name.clone(), d.table_name()))
            .collect();
        for def in &defs {
            for f in &def.fields {
                if let Some(target) = f.references.as_ref().filter(|t| scoped.contains_key(*t))
                    && !def.is_tenant_scoped()
                {
                    return Err(Error::validation(
                        format!("{}.{}", def.name, f.name),
                        format!(
                            "model {} is shared by every tenant (tenant_scoped = false) and cannot refer to {target}, which is scoped by tenant",
                            def.name
                        ),
                    ));
                }
            }
        }
        let ordered = order_by_references(defs)?;
        let mut schema = Schema::default();
        for def in ordered {
            let mut info = ModelInfo::compile(def);
            info.tenant_refs = info
                .def
                .fields
                .iter()
                .filter_map(|f| {
                    let table = scoped.get(f.references.as_ref()?)?;
                    Some((f.name.clone(), table.clone()))
                })
                .collect();
            schema
                .by_table
                .insert(info.table.clone(), info.def.name.clone());
            schema.models.insert(info.def.name.clone(), Arc::new(info));
        }
        Ok(schema)
    }

    /// A model by name.
    pub fn get(&self, name: &str) -> Option<&Arc<ModelInfo>> {
        self.models.get(name)
    }
    /// A model by table name.
    pub fn by_table(&self, table: &str) -> Option<&Arc<ModelInfo>> {
        self.by_table.get(table).and_then(|n| self.models.get(n))
    }
    /// The models, referenced ones first.
    pub fn models(&self) -> impl Iterator<Item = &Arc<ModelInfo>> {
        self.models.values()
    }
    /// The definitions, referenced ones first.
    pub fn defs(&self) -> Vec<ModelDef> {
        self.models.values().map(|m| m.def.clone()).collect()
    }
    /// How many models there are.
    pub fn len(&self) -> usize {
        self.models.len()
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }
}

fn is_ident(s: &str, first: fn(char) -> bool, rest: fn(char) -> bool) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if first(c)) && chars.all(rest) && s.len() <= 48
}

fn validate_model(def: &ModelDef, internal: bool) -> Result<()> {
    let m = &def.name;
    if !is_ident(m, |c| c.is_ascii_uppercase(), |c| c.is_ascii_alphanumeric()) {
        return Err(Error::validation(
            m,
            format!(
                "model name `{m}` must be PascalCase ASCII letters and digits, at most 48 characters"
            ),
        ));
    }
    let table = def.table_name();
    if !is_ident(
        &table,
        |c| c.is_ascii_lowercase(),
        |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_',
    ) {
        return Err(Error::validation(
            m,
            format!(
                "model {m}: table name `{table}` must be snake_case ASCII, at most 48 characters"
            ),
        ));
    }
    if table.starts_with(crate::model::RESERVED_TABLE_PREFIX) && !internal {
        return Err(Error::validation(
            m,
            format!("model {m}: table names starting with flowgate_ are reserved"),
        ));
    }
    let mut seen = HashSet::new();
    for f in &def.fields {
        let at = format!("{m}.{}", f.name);
        let err = |reason: String| {
            Err(Error::validation(
                at.clone(),
                format!("model {m}, field {}: {reason}", f.name),
            ))
        };
        if !is_ident(
            &f.name,
            |c| c.is_ascii_lowercase(),
            |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_',
        ) {
            return err("field names must be snake_case ASCII, at most 48 characters".into());
        }
        if f.name == "id" || is_managed_name(def, &f.name) {
            return err(format!(
                "`{}` is reserved (the id and managed fields are added by flowgate)",
                f.name
            ));
        }
        if !seen.insert(f.name.as_str()) {
            return err("declared twice".into());
        }
        if f.max_length.is_some() && f.ty != FieldType::String {
            return err(format!("max_length applies to string fields, not {}", f.ty));
        }
        if matches!(f.max_length, Some(0)) || f.max_length.is_some_and(|n| n > 65_535) {
            return err("max_length must be between 1 and 65535".into());
        }
        if f.ty == FieldType::Enum {
            if f.values.is_empty() {
                return err("an enum needs a non-empty list of values".into());
            }
            let distinct: HashSet<_> = f.values.iter().collect();
            if distinct.len() != f.values.len() {
                return err("enum values must be distinct".into());
            }
            if f.values
                .iter()
                .any(|v| v.is_empty() || v.len() > 255 || v.contains('\0'))
            {
                return err("enum values must be 1 to 255 bytes long".into());
            }
        } else if !f.values.is_empty() {
            return err(format!("values apply to enum fields, not {}", f.ty));
        }
        if (f.precision.is_some() || f.scale.is_some()) && f.ty != FieldType::Decimal {
            return err(format!(
                "precision and scale apply to decimal fields, not {}",
                f.ty
            ));
        }
        if let (Some(p), s) = (f.precision, f.scale.unwrap_or(0))
            && (p == 0 || p > 38 || s > p)
        {
            return err("decimal precision must be 1 to 38 and scale at most the precision".into());
        }
        if (f.unique || f.indexed) && !f.ty.is_indexable() {
            return err(format!(
                "a {} field cannot be unique or indexed; use a string with max_length",
                f.ty
            ));
        }
        if f.on_delete == OnDelete::SetNull && !f.optional {
            return err("on_delete = set_null needs an optional field".into());
        }
        if f.on_delete != OnDelete::Restrict && f.references.is_none() {
            return err("on_delete applies only to fields with references".into());
        }
        if let Some(func) = f.default_fn {
            if f.default.is_some() {
                return err("give `default` or `default_fn`, not both".into());
            }
            if func.field_type() != f.ty {
                return err(format!(
                    "default_fn = \"{}\" gives a {} value, not {}",
                    func.as_str(),
                    func.field_type(),
                    f.ty
                ));
            }
        }
        if let Some(default) = &f.default {
            let shape = Shape {
                ty: f.ty,
                max_length: f.max_length,
                values: &f.values,
            };
            match value::coerce(shape, default) {
                Ok(v) if v.is_null() && !f.optional => {
                    return err("a null default needs an optional field".into());
                }
                Ok(_) => {}
                Err(reason) => return err(format!("bad default: {reason}")),
            }
        }
    }
    for (kind, sets) in [("index", &def.indexes), ("unique", &def.unique)] {
        for set in sets {
            if set.is_empty() {
                return Err(Error::validation(
                    m,
                    format!("model {m}: an empty {kind} list"),
                ));
            }
            for name in set {
                let known = name == "id"
                    || (is_managed_name(def, name) && name != TENANT_COLUMN)
                    || def
                        .fields
                        .iter()
                        .any(|f| &f.name == name && f.ty.is_indexable());
                if !known {
                    return Err(Error::validation(
                        format!("{m}.{name}"),
                        format!(
                            "model {m}: {kind} names `{name}`, which is not an indexable field"
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Whether `name` is one of the managed columns this model has, or may have (the tenant column,
/// which the application's tenancy decides): `created_at` and `updated_at` are free for fields
/// of a model with `timestamps = false`, as `deleted_at` is of one without soft delete that
/// Flowgate does not manage (a table from an existing database).
fn is_managed_name(def: &ModelDef, name: &str) -> bool {
    match name {
        "created_at" | "updated_at" => def.timestamps,
        "deleted_at" => def.soft_delete || def.managed,
        TENANT_COLUMN => true,
        _ => false,
    }
}

/// Orders models so that each comes after the models it refers to. Self-references are allowed;
/// cycles between models are refused (their tables could not be created one after another).
fn order_by_references(defs: Vec<ModelDef>) -> Result<Vec<ModelDef>> {
    let mut remaining: Vec<ModelDef> = defs;
    let mut done: HashSet<String> = HashSet::new();
    let mut out = Vec::with_capacity(remaining.len());
    while !remaining.is_empty() {
        let before = remaining.len();
        let mut next = Vec::new();
        for def in remaining {
            let ready = def
                .fields
                .iter()
                .filter_map(|f| f.references.as_ref())
                .all(|r| r == &def.name || done.contains(r));
            if ready {
                done.insert(def.name.clone());
                out.push(def);
            } else {
                next.push(def);
            }
        }
        if next.len() == before {
            let names: Vec<_> = next.iter().map(|d| d.name.as_str()).collect();
            return Err(Error::validation(
                names[0],
                format!("models {} refer to each other in a cycle", names.join(", ")),
            ));
        }
        remaining = next;
    }
    Ok(out)
}
