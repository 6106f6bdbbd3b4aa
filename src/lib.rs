//! Flowgate's data layer: declare models once and get a schema, eleven operations per model,
//! transactions and pooled connections on SQLite, PostgreSQL and MySQL/MariaDB.
//!
//! This crate knows nothing of actors, HTTP or MCP; it can be used alone, in-process (an ETL
//! script, a test). The `flowgate-actors` crate builds the server on top of it.

pub mod audit;
pub mod context;
/// Documentation pages, no code.
pub mod docs {
    /// What Flowgate does where its design leaves the choice open: operations, the differences
    /// between databases, migrations, MCP, workflows, faults and limits.
    pub mod semantics {
        #![doc = include_str!("docs/semantics.md")]
    }
}
pub mod error;
pub mod introspect;
pub mod json_schema;
pub mod keys;
pub mod migrate;
pub mod model;
pub mod naming;
pub mod operation;
pub mod output;
pub mod params;
pub mod query;
pub mod registry;
pub mod sql;
pub mod startup;
pub mod store;
pub mod value;
pub mod workflow;

pub use context::{Channel, Context, Principal, PrincipalKind};
pub use error::{Error, Missing, Result};
pub use model::{FieldDef, FieldType, IdType, Model, ModelDef, ModelInfo, OnDelete, Schema};
pub use operation::{OpKind, Operation};
pub use output::{Form, Output};
pub use params::Params;
pub use store::{Store, StoreConfig, TenantStore, Transaction};
pub use workflow::{Workflow, WorkflowBuilder};

#[doc(hidden)]
pub use serde as __serde;
