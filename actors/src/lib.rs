//! The Flowgate runtime. The supervisor, the gateway with its channels, the registry actor and the
//! per-model node actors arrive with the runtime issue; until then this crate only re-exports the data
//! layer so that applications can depend on one name.

pub use flowgate;
