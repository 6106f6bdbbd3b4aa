//! The one naming contract: every name a channel gives a model operation is derived and parsed
//! here, beside [`OpKind`], and nowhere else (DESIGN sections 5 and 7).
//!
//! | where | name | example |
//! |---|---|---|
//! | operations, `mcp_tools`, `[mcp] default_tools` | `<op>` snake_case | `bulk_create` |
//! | MCP tool, per-model mode | `<table>_<op>` | `books_bulk_create` |
//! | MCP tool, compact mode | `<op>`, and `describe` | `bulk_create` |
//! | workflow node, `POST /nodes/{name}` | `<Model><Op>Node` | `BookBulkCreateNode` |
//! | CLI | `flowgate <table> <op>` kebab-case | `flowgate books bulk-create` |
//!
//! A per-model tool name can split more than one way (`users_bulk_create` is `users` +
//! `bulk_create` or `users_bulk` + `create`): [`OpKind::parse_tool_name`] gives every split,
//! the longest operation first, and the caller keeps the first whose table it knows.
//!
//! Which operations only read and which may overwrite or remove data is said once, on `OpKind`
//! ([`OpKind::is_read_only`], [`OpKind::is_destructive`]); MCP's hints follow it.

use crate::operation::OpKind;

/// The compact-mode tool that describes the models (the others are named after operations).
pub const DESCRIBE_TOOL: &str = "describe";

/// A tool of compact mode: one per operation, taking the model as an argument, and `describe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GenericTool {
    /// `describe`: the models, or one model's schema.
    Describe,
    /// An operation on the model named by the `model` argument.
    Op(OpKind),
}

impl GenericTool {
    /// Every compact tool: `describe` first, then the operations in DESIGN order.
    pub fn all() -> impl Iterator<Item = GenericTool> {
        std::iter::once(GenericTool::Describe).chain(OpKind::ALL.into_iter().map(GenericTool::Op))
    }

    /// The tool's name: `describe`, or the operation's snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            GenericTool::Describe => DESCRIBE_TOOL,
            GenericTool::Op(op) => op.as_str(),
        }
    }

    /// The compact tool called `name`, if any.
    pub fn parse(name: &str) -> Option<GenericTool> {
        if name == DESCRIBE_TOOL {
            return Some(GenericTool::Describe);
        }
        OpKind::parse(name).map(GenericTool::Op)
    }
}

impl OpKind {
    /// The CLI subcommand of the operation: `bulk-create`.
    pub fn cli_name(self) -> &'static str {
        self.kebab()
    }

    /// Parses a CLI subcommand (`bulk-create`).
    pub fn parse_cli_name(name: &str) -> Option<OpKind> {
        OpKind::ALL.into_iter().find(|k| k.cli_name() == name)
    }

    /// The MCP tool of this operation on the model of `table` (per-model mode):
    /// `books_bulk_create`.
    pub fn tool_name(self, table: &str) -> String {
        format!("{table}_{}", self.as_str())
    }

    /// Every (table, operation) a per-model tool name may mean, the longest operation first:
    /// `users_bulk_create` gives `("users", BulkCreate)`, then `("users_bulk", Create)`.
    pub fn parse_tool_name(name: &str) -> impl Iterator<Item = (&str, OpKind)> {
        BY_LENGTH.into_iter().filter_map(move |op| {
            let table = name.strip_suffix(op.as_str())?.strip_suffix('_')?;
            (!table.is_empty()).then_some((table, op))
        })
    }

    /// The workflow node name of this operation on `model`: `UserCreateNode`.
    pub fn node_name(self, model: &str) -> String {
        format!("{model}{}Node", self.pascal())
    }

    /// Splits a node name (`UserBulkCreateNode`) into model and operation.
    pub fn parse_node_name(node: &str) -> Option<(&str, OpKind)> {
        let stem = node.strip_suffix("Node")?;
        // Longest first, so that `BulkCreate` wins over `Create`.
        BY_LENGTH.into_iter().find_map(|k| {
            let model = stem.strip_suffix(k.pascal())?;
            (!model.is_empty()).then_some((model, k))
        })
    }
}

/// The operations, longest name first (each `bulk_x` before its `x`), for parsing suffixes.
const BY_LENGTH: [OpKind; 11] = [
    OpKind::BulkCreate,
    OpKind::BulkUpdate,
    OpKind::BulkDelete,
    OpKind::BulkUpsert,
    OpKind::Create,
    OpKind::Update,
    OpKind::Delete,
    OpKind::Upsert,
    OpKind::Count,
    OpKind::Read,
    OpKind::List,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_length_holds_every_operation_longest_first() {
        let mut all = OpKind::ALL.to_vec();
        all.sort_by_key(|k| std::cmp::Reverse(k.as_str().len()));
        let lengths = |ks: &[OpKind]| ks.iter().map(|k| k.as_str().len()).collect::<Vec<_>>();
        assert_eq!(lengths(&BY_LENGTH), lengths(&all));
        for k in OpKind::ALL {
            assert!(BY_LENGTH.contains(&k));
        }
    }

    #[test]
    fn node_names_round_trip() {
        for k in OpKind::ALL {
            let name = k.node_name("OrderItem");
            assert_eq!(OpKind::parse_node_name(&name), Some(("OrderItem", k)));
            assert_eq!(
                OpKind::parse_node_name(&k.node_name("Bulk")),
                Some(("Bulk", k))
            );
        }
        assert_eq!(OpKind::parse_node_name("CreateNode"), None);
        assert_eq!(OpKind::parse_node_name("UserCreate"), None);
    }

    #[test]
    fn tool_names_split_longest_operation_first() {
        for k in OpKind::ALL {
            let name = k.tool_name("order_items");
            assert_eq!(
                OpKind::parse_tool_name(&name).next(),
                Some(("order_items", k))
            );
        }
        assert_eq!(
            OpKind::parse_tool_name("users_bulk_create").collect::<Vec<_>>(),
            vec![
                ("users", OpKind::BulkCreate),
                ("users_bulk", OpKind::Create)
            ]
        );
        assert_eq!(OpKind::parse_tool_name("_read").count(), 0);
        assert_eq!(OpKind::parse_tool_name("users").count(), 0);
        assert_eq!(OpKind::parse_tool_name("usersread").count(), 0);
    }

    #[test]
    fn one_row_of_names_per_operation_in_declaration_order() {
        for (i, k) in OpKind::ALL.into_iter().enumerate() {
            assert_eq!(k as usize, i, "{k:?}");
            assert_eq!(OpKind::parse(k.as_str()), Some(k));
            assert_eq!(k.pascal().to_lowercase(), k.as_str().replace('_', ""));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
    }

    #[test]
    fn cli_names_round_trip_and_are_kebab_case() {
        for k in OpKind::ALL {
            assert_eq!(OpKind::parse_cli_name(k.cli_name()), Some(k));
            assert_eq!(k.cli_name(), k.as_str().replace('_', "-"));
        }
        assert_eq!(OpKind::parse_cli_name("bulk_create"), None);
    }

    #[test]
    fn compact_tools_are_describe_and_the_operations() {
        let names: Vec<&str> = GenericTool::all().map(GenericTool::name).collect();
        assert_eq!(names.len(), 12);
        assert_eq!(names[0], "describe");
        for t in GenericTool::all() {
            assert_eq!(GenericTool::parse(t.name()), Some(t));
        }
        assert_eq!(GenericTool::parse("books_read"), None);
    }
}
