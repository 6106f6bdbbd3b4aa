//! The query language: JSON filters, orderings and pagination, parsed and checked against a model
//! into an AST that `sql` compiles. Nothing here writes SQL.

mod filter;
mod order;
mod pattern;

pub use filter::{CmpOp, Filter, PatternOp, parse_filter};
pub use order::{Cursor, OrderBy, parse_order_by};
