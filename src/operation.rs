//! The eleven operations every model gets, and the request every channel sends. The names
//! channels give them (tools, nodes, CLI commands) are in [`crate::naming`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An operation kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    /// Insert one record.
    Create,
    /// Read one record by id.
    Read,
    /// Change one record's fields.
    Update,
    /// Delete one record (a tombstone on soft-delete models).
    Delete,
    /// Filter, order and page through records.
    List,
    /// Count matching records.
    Count,
    /// Create or update one record by a unique key.
    Upsert,
    /// Insert many records.
    BulkCreate,
    /// Change every matching record.
    BulkUpdate,
    /// Delete every matching record.
    BulkDelete,
    /// Create or update many records by a unique key.
    BulkUpsert,
}

/// Every name of an operation, one row each in declaration order (`OpKind as usize`):
/// snake_case, PascalCase, kebab-case. The one table; `flowgate::naming` builds on it.
const NAMES: [(&str, &str, &str); 11] = [
    ("create", "Create", "create"),
    ("read", "Read", "read"),
    ("update", "Update", "update"),
    ("delete", "Delete", "delete"),
    ("list", "List", "list"),
    ("count", "Count", "count"),
    ("upsert", "Upsert", "upsert"),
    ("bulk_create", "BulkCreate", "bulk-create"),
    ("bulk_update", "BulkUpdate", "bulk-update"),
    ("bulk_delete", "BulkDelete", "bulk-delete"),
    ("bulk_upsert", "BulkUpsert", "bulk-upsert"),
];

impl OpKind {
    /// Every operation, in DESIGN order.
    pub const ALL: [OpKind; 11] = [
        OpKind::Create,
        OpKind::Read,
        OpKind::Update,
        OpKind::Delete,
        OpKind::List,
        OpKind::Count,
        OpKind::Upsert,
        OpKind::BulkCreate,
        OpKind::BulkUpdate,
        OpKind::BulkDelete,
        OpKind::BulkUpsert,
    ];

    /// The snake_case name (`bulk_create`), used in MCP tool names.
    pub fn as_str(self) -> &'static str {
        NAMES[self as usize].0
    }

    /// The PascalCase name (`BulkCreate`), used in node names (`UserBulkCreateNode`).
    pub fn pascal(self) -> &'static str {
        NAMES[self as usize].1
    }

    /// The kebab-case name (`bulk-create`): CLI subcommands (`flowgate::naming`).
    pub(crate) fn kebab(self) -> &'static str {
        NAMES[self as usize].2
    }

    /// Parses the snake_case name.
    pub fn parse(name: &str) -> Option<OpKind> {
        OpKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Whether the operation only reads (MCP's `readOnlyHint`; a read whose connection broke
    /// runs once more).
    pub fn is_read_only(self) -> bool {
        matches!(self, OpKind::Read | OpKind::List | OpKind::Count)
    }

    /// Whether the operation may overwrite or remove stored data (MCP's `destructiveHint`).
    ///
    /// Delete and the bulk writes are; so are update and upsert, which overwrite stored values
    /// (MCP calls a tool non-destructive only when its updates are purely additive), and bulk
    /// create, whose `on_conflict: update` overwrites. Create only adds a record, and the reads
    /// change nothing. The one definition: MCP hints and any confirmation read it.
    pub fn is_destructive(self) -> bool {
        !self.is_read_only() && self != OpKind::Create
    }
}

impl std::fmt::Display for OpKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One operation request: the model, the operation and its JSON params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    /// The model's name.
    pub model: String,
    /// The operation.
    pub op: OpKind,
    /// The params, as DESIGN section 5 lists them.
    pub params: Value,
}

impl Operation {
    /// An operation request.
    pub fn new(model: impl Into<String>, op: OpKind, params: Value) -> Self {
        Operation {
            model: model.into(),
            op,
            params,
        }
    }
}
