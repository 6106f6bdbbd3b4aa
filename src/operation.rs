//! The eleven operations every model gets, and the request every channel sends.

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
        match self {
            OpKind::Create => "create",
            OpKind::Read => "read",
            OpKind::Update => "update",
            OpKind::Delete => "delete",
            OpKind::List => "list",
            OpKind::Count => "count",
            OpKind::Upsert => "upsert",
            OpKind::BulkCreate => "bulk_create",
            OpKind::BulkUpdate => "bulk_update",
            OpKind::BulkDelete => "bulk_delete",
            OpKind::BulkUpsert => "bulk_upsert",
        }
    }

    /// The PascalCase name (`BulkCreate`), used in node names (`UserBulkCreateNode`).
    pub fn pascal(self) -> &'static str {
        match self {
            OpKind::Create => "Create",
            OpKind::Read => "Read",
            OpKind::Update => "Update",
            OpKind::Delete => "Delete",
            OpKind::List => "List",
            OpKind::Count => "Count",
            OpKind::Upsert => "Upsert",
            OpKind::BulkCreate => "BulkCreate",
            OpKind::BulkUpdate => "BulkUpdate",
            OpKind::BulkDelete => "BulkDelete",
            OpKind::BulkUpsert => "BulkUpsert",
        }
    }

    /// Parses the snake_case name.
    pub fn parse(name: &str) -> Option<OpKind> {
        OpKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Whether the operation only reads.
    pub fn is_read_only(self) -> bool {
        matches!(self, OpKind::Read | OpKind::List | OpKind::Count)
    }

    /// Whether the operation may delete or overwrite many rows (MCP's destructive hint).
    pub fn is_destructive(self) -> bool {
        matches!(
            self,
            OpKind::Delete
                | OpKind::BulkUpdate
                | OpKind::BulkDelete
                | OpKind::BulkUpsert
                | OpKind::BulkCreate
        )
    }

    /// The workflow node name of this operation on `model`: `UserCreateNode`.
    pub fn node_name(self, model: &str) -> String {
        format!("{model}{}Node", self.pascal())
    }

    /// Splits a node name (`UserBulkCreateNode`) into model and operation.
    pub fn parse_node_name(node: &str) -> Option<(&str, OpKind)> {
        let stem = node.strip_suffix("Node")?;
        // Longest suffix first, so that `BulkCreate` wins over `Create`.
        let mut kinds = OpKind::ALL;
        kinds.sort_by_key(|k| std::cmp::Reverse(k.pascal().len()));
        kinds.into_iter().find_map(|k| {
            let model = stem.strip_suffix(k.pascal())?;
            (!model.is_empty()).then_some((model, k))
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_round_trip() {
        for k in OpKind::ALL {
            let name = k.node_name("OrderItem");
            assert_eq!(OpKind::parse_node_name(&name), Some(("OrderItem", k)));
        }
        assert_eq!(OpKind::parse_node_name("CreateNode"), None);
        assert_eq!(OpKind::parse_node_name("UserCreate"), None);
    }
}
