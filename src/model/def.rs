//! Model definitions and their builder.

use super::field::FieldDef;
use crate::operation::OpKind;
use serde::{Deserialize, Serialize};

/// The type of a model's primary key `id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdType {
    /// A 64-bit integer the database generates.
    #[default]
    Integer,
    /// A string the client supplies, or a generated UUIDv7 when absent.
    String,
    /// A UUID the client supplies, or a generated UUIDv7 when absent.
    Uuid,
}

/// A model as declared: by the macro, the builder, a schema file or the registry.
///
/// Build one with [`ModelDef::new`] and the chained setters; [`crate::Schema::new`] validates a set
/// of them together (references must resolve).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelDef {
    /// The model's name, PascalCase (`OrderItem`).
    pub name: String,
    /// The table name; `None` means the snake_case plural of the name (`order_items`).
    pub table: Option<String>,
    /// The primary key's type.
    pub id: IdType,
    /// The declared fields, in column order. `id` and the managed fields are not listed here.
    pub fields: Vec<FieldDef>,
    /// Whether deletes keep a tombstone (`deleted_at`).
    pub soft_delete: bool,
    /// Composite indexes, each a list of field names.
    pub indexes: Vec<Vec<String>>,
    /// Composite unique constraints, each a list of field names.
    pub unique: Vec<Vec<String>>,
    /// A description that flows into OpenAPI, MCP and CLI help.
    pub description: Option<String>,
    /// The operations exposed as MCP tools (`mcp_tools = ["read", "list"]`); `None` leaves it
    /// to the server's `[mcp] default_tools` (by default all eleven). Every operation is still
    /// served on REST, `/nodes` and the CLI. Kept in `OpKind::ALL` order, without repeats.
    pub mcp_tools: Option<Vec<OpKind>>,
    /// Tenancy (DESIGN 13.4). In a declaration, `Some(false)` keeps a model shared when the
    /// application is multi-tenant (`tenant_scoped = false`); `None` follows the application.
    /// Once resolved ([`resolve_tenancy`]), `Some(true)` means the model is scoped: its table
    /// has a managed `tenant_id`, and every operation sees only its tenant's rows.
    pub tenant_scoped: Option<bool>,
    /// Whether Flowgate owns the table (DESIGN 13.10). `false` (`managed = false`): the table
    /// already exists and is served as it is; no DDL is ever issued for it, neither at start-up
    /// nor by a migration. `flowgate introspect` writes its models this way.
    pub managed: bool,
    /// Whether the table has the managed `created_at` and `updated_at` columns (the default).
    /// `timestamps = false` leaves them out: a table from an existing database that lacks them,
    /// where the names are then free for ordinary fields.
    pub timestamps: bool,
}

impl ModelDef {
    /// An empty model with an integer id.
    pub fn new(name: impl Into<String>) -> Self {
        ModelDef {
            name: name.into(),
            table: None,
            id: IdType::Integer,
            fields: Vec::new(),
            soft_delete: false,
            indexes: Vec::new(),
            unique: Vec::new(),
            description: None,
            mcp_tools: None,
            tenant_scoped: None,
            managed: true,
            timestamps: true,
        }
    }

    /// Adds a field (fields keep the order they are added in).
    pub fn field(mut self, field: FieldDef) -> Self {
        self.fields.push(field);
        self
    }
    /// Sets the table name.
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = Some(table.into());
        self
    }
    /// Sets the primary key's type.
    pub fn id(mut self, id: IdType) -> Self {
        self.id = id;
        self
    }
    /// Deletes keep a tombstone.
    pub fn soft_delete(mut self) -> Self {
        self.soft_delete = true;
        self
    }
    /// Adds a composite index.
    pub fn index<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.indexes
            .push(fields.into_iter().map(Into::into).collect());
        self
    }
    /// Adds a composite unique constraint.
    pub fn unique_together<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.unique
            .push(fields.into_iter().map(Into::into).collect());
        self
    }
    /// Sets the description.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }

    /// Sets the operations exposed as MCP tools (the others are still served on REST and the
    /// CLI). Order and repeats do not matter.
    pub fn mcp_tools(mut self, ops: impl IntoIterator<Item = OpKind>) -> Self {
        self.mcp_tools = Some(op_set(ops));
        self
    }

    /// Whether the model is scoped by tenant when the application is multi-tenant (`false`: a
    /// table every tenant shares).
    pub fn tenant_scoped(mut self, scoped: bool) -> Self {
        self.tenant_scoped = Some(scoped);
        self
    }

    /// The table exists already and is served as it is: no DDL is ever issued for it.
    pub fn unmanaged(mut self) -> Self {
        self.managed = false;
        self
    }

    /// The table has no managed `created_at` and `updated_at` columns.
    pub fn without_timestamps(mut self) -> Self {
        self.timestamps = false;
        self
    }

    /// Whether the model is scoped by tenant (after [`resolve_tenancy`]).
    pub fn is_tenant_scoped(&self) -> bool {
        self.tenant_scoped == Some(true)
    }

    /// The table name, declared or derived: `OrderItem` becomes `order_items`.
    pub fn table_name(&self) -> String {
        match &self.table {
            Some(t) => t.clone(),
            None => default_table_name(&self.name),
        }
    }
}

/// Resolves each definition's tenancy for an application that is `multi_tenant` or not: a
/// model is scoped when the application is multi-tenant and the model did not say
/// `tenant_scoped = false`. The resolved form is what the registry persists (`tenant_scoped =
/// true`, or nothing), so turning tenancy on or off is a change the migration planner sees.
pub fn resolve_tenancy(defs: &mut [ModelDef], multi_tenant: bool) {
    for def in defs {
        def.tenant_scoped = (multi_tenant && def.tenant_scoped != Some(false)).then_some(true);
    }
}

/// A set of operations in `OpKind::ALL` order, without repeats: the canonical form of
/// `mcp_tools`, so that a definition compares and persists the same however it was written.
pub fn op_set(ops: impl IntoIterator<Item = OpKind>) -> Vec<OpKind> {
    let given: Vec<OpKind> = ops.into_iter().collect();
    OpKind::ALL
        .into_iter()
        .filter(|k| given.contains(k))
        .collect()
}

/// The snake_case plural of a model name: `OrderItem` -> `order_items`, `Category` -> `categories`.
pub fn default_table_name(model: &str) -> String {
    let snake = heck::AsSnakeCase(model).to_string();
    let (head, last) = match snake.rfind('_') {
        Some(i) => (&snake[..=i], &snake[i + 1..]),
        None => ("", snake.as_str()),
    };
    format!("{head}{}", pluralizer::pluralize(last, 2, false))
}

/// Something that declares a model: the `model!` macro implements this for its struct.
pub trait Model {
    /// The model's definition.
    fn model_def() -> ModelDef;
}
