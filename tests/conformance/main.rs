//! The conformance suite: one set of operation scenarios, each run against SQLite, PostgreSQL
//! and MySQL alike (DESIGN sections 4, 5 and 11).
//!
//! Every scenario is an `async fn(Backend)` that opens a store on a fresh database of its own
//! (an in-memory SQLite, a PostgreSQL schema, a MySQL database), so the tests run in parallel.
//! `conformance!` turns each into one test per backend: `crud::sqlite::create_integer_id`,
//! `crud::postgres::create_integer_id`, ... PostgreSQL and MySQL read their URLs from
//! `FLOWGATE_TEST_POSTGRES_URL` and `FLOWGATE_TEST_MYSQL_URL` (see `tests/common/mod.rs`).
#![allow(missing_docs)]

#[path = "../common/mod.rs"]
mod common;

mod support;

mod bad_input;
mod bulk;
mod conflicts;
mod crud;
mod filters;
mod list;
mod soft_delete;
mod tx;
mod types;
mod upsert;
