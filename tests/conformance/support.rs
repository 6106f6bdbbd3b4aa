//! What every scenario shares: a store on a fresh database, the models the scenarios use, and
//! short ways to run an operation and check its result or its error.

use crate::common::{self, Backend};
use flowgate::{
    Context, Error, FieldDef, Form, IdType, ModelDef, OpKind, Operation, Output, Params, Store,
    Transaction,
};
use serde_json::{Value, json};

/// A store on a fresh database, and which backend it is.
pub(crate) struct Db {
    pub(crate) store: Store,
    pub(crate) backend: Backend,
}

/// A store on a fresh database of `backend` with `models`' tables, or None when the backend is
/// not configured (the scenario then returns early).
pub(crate) async fn db(backend: Backend, models: Vec<ModelDef>) -> Option<Db> {
    let store = common::store(backend, models).await?;
    Some(Db { store, backend })
}

fn kind(op: &str) -> OpKind {
    OpKind::parse(op).unwrap_or_else(|| panic!("no operation named {op}"))
}

impl Db {
    /// Runs operation `op` (snake_case, as in DESIGN section 5) on `model`. Bulk creates and
    /// upserts run as a request body would (their records parsed one by one from its text),
    /// the other operations, and every operation in a transaction ([`tx_run`]), on JSON values.
    pub(crate) async fn run(
        &self,
        model: &str,
        op: &str,
        params: Value,
    ) -> flowgate::Result<Value> {
        let kind = kind(op);
        if matches!(kind, OpKind::BulkCreate | OpKind::BulkUpsert) {
            let body = serde_json::to_vec(&params).expect("JSON");
            let params = Params::from_json_body(kind, body.into()).expect("a JSON body");
            let info = self.store.model(model)?;
            return self
                .store
                .run_params(&Context::internal(), &info, kind, &params)
                .await;
        }
        let request = Operation::new(model, kind, params.clone());
        let result = self.store.execute(&Context::internal(), &request).await;
        if matches!(kind, OpKind::Read | OpKind::List) {
            self.same_as_text(model, kind, params, &result).await;
        }
        result
    }

    /// A read or list asked for as JSON text (as the REST API asks, encoded straight from the
    /// rows) gives exactly the text of the value, or the same error.
    async fn same_as_text(
        &self,
        model: &str,
        kind: OpKind,
        params: Value,
        as_value: &flowgate::Result<Value>,
    ) {
        let Ok(info) = self.store.model(model) else {
            return;
        };
        let as_text = self
            .store
            .run_output(
                &Context::internal(),
                &info,
                kind,
                &params.clone().into(),
                Form::Json,
            )
            .await;
        match (as_value, as_text) {
            (Ok(v), Ok(Output::Json(text))) => assert_eq!(
                String::from_utf8(text).expect("UTF-8"),
                serde_json::to_string(v).expect("JSON"),
                "{:?}: {model}.{kind:?}({params}) as text",
                self.backend
            ),
            (Err(a), Err(b)) => assert_eq!(
                format!("{a:?}"),
                format!("{b:?}"),
                "{:?}: {model}.{kind:?}({params}) as text",
                self.backend
            ),
            (a, b) => panic!(
                "{:?}: {model}.{kind:?}({params}): {a:?} as a value, {b:?} as text",
                self.backend
            ),
        }
    }

    /// Runs an operation that must succeed and returns its result.
    pub(crate) async fn ok(&self, model: &str, op: &str, params: Value) -> Value {
        match self.run(model, op, params.clone()).await {
            Ok(v) => v,
            Err(e) => panic!("{:?}: {model}.{op}({params}) failed: {e:?}", self.backend),
        }
    }

    /// Runs an operation that must fail and returns its error.
    pub(crate) async fn err(&self, model: &str, op: &str, params: Value) -> Error {
        match self.run(model, op, params.clone()).await {
            Ok(v) => panic!(
                "{:?}: {model}.{op}({params}) should have failed, got {v}",
                self.backend
            ),
            Err(e) => e,
        }
    }

    /// Every row of the model, tombstones included, in id order: the whole table as the
    /// operations see it, for before-and-after comparisons.
    pub(crate) async fn table(&self, model: &str) -> Vec<Value> {
        let page = self
            .ok(
                model,
                "list",
                json!({"include_deleted": true, "order_by": "id", "limit": 1000}),
            )
            .await;
        assert!(page.get("next_cursor").is_none(), "table too large: {page}");
        records(&page)
    }

    /// The number of live rows matching `filter`.
    pub(crate) async fn count(&self, model: &str, filter: Value) -> u64 {
        let out = self.ok(model, "count", json!({ "filter": filter })).await;
        out["count"].as_u64().unwrap_or_else(|| panic!("{out}"))
    }

    /// The values of `field` of the live rows matching `filter`, in id order.
    pub(crate) async fn column(&self, model: &str, field: &str, filter: Value) -> Vec<Value> {
        let page = self
            .ok(
                model,
                "list",
                json!({"filter": filter, "order_by": "id", "limit": 1000}),
            )
            .await;
        records(&page).iter().map(|r| r[field].clone()).collect()
    }
}

/// Runs an operation inside a transaction.
pub(crate) async fn tx_run(
    tx: &mut Transaction,
    model: &str,
    op: &str,
    params: Value,
) -> flowgate::Result<Value> {
    let request = Operation::new(model, kind(op), params);
    tx.execute(&Context::internal(), &request).await
}

/// Runs an operation inside a transaction that must succeed.
pub(crate) async fn tx_ok(tx: &mut Transaction, model: &str, op: &str, params: Value) -> Value {
    match tx_run(tx, model, op, params.clone()).await {
        Ok(v) => v,
        Err(e) => panic!("{model}.{op}({params}) in a transaction failed: {e:?}"),
    }
}

/// The `records` of a list result.
pub(crate) fn records(page: &Value) -> Vec<Value> {
    page["records"]
        .as_array()
        .unwrap_or_else(|| panic!("no records in {page}"))
        .clone()
}

/// Checks an error's code and the field it names.
#[track_caller]
pub(crate) fn check_err(e: &Error, code: &str, field: Option<&str>) {
    assert_eq!(e.code(), code, "{e:?}");
    assert_eq!(e.field(), field, "{e:?}");
}

/// Checks that an error is a validation error naming `field`.
#[track_caller]
pub(crate) fn invalid(e: &Error, field: &str) {
    check_err(e, "validation", Some(field));
}

/// A project: integer id, a unique name.
pub(crate) fn project() -> ModelDef {
    ModelDef::new("Project").field(FieldDef::string("name").max_length(120).unique())
}

/// A task: soft-deleted, with a unique `ref`, optional fields of several types, a JSON default,
/// an enum default and a reference to a project. Needs [`project`].
pub(crate) fn task() -> ModelDef {
    ModelDef::new("Task")
        .soft_delete()
        .field(FieldDef::string("title").max_length(200))
        .field(FieldDef::string("ref").max_length(40).unique())
        .field(FieldDef::integer("estimate").optional())
        .field(FieldDef::decimal("budget").optional())
        .field(FieldDef::date("due").optional())
        .field(FieldDef::json("labels").default(json!([])))
        .field(FieldDef::enumeration("state", ["open", "done"]).default("open"))
        .field(
            FieldDef::integer("project_id")
                .references("Project")
                .optional(),
        )
        .index(["state", "due"])
}

/// A note: hard deletes, no unique field but the id.
pub(crate) fn note() -> ModelDef {
    ModelDef::new("Note")
        .field(FieldDef::string("body").max_length(200))
        .field(FieldDef::integer("rank").optional())
}

/// A tag: a string id the caller gives (or a generated UUIDv7).
pub(crate) fn tag() -> ModelDef {
    ModelDef::new("Tag")
        .id(IdType::String)
        .field(FieldDef::string("label").max_length(80))
}

/// A document: a uuid id.
pub(crate) fn doc() -> ModelDef {
    ModelDef::new("Doc")
        .id(IdType::Uuid)
        .field(FieldDef::string("title").max_length(80))
}

/// A member: unique on the pair (org, email).
pub(crate) fn member() -> ModelDef {
    ModelDef::new("Member")
        .field(FieldDef::string("org").max_length(40))
        .field(FieldDef::string("email").max_length(80))
        .field(FieldDef::string("role").max_length(40).optional())
        .unique_together(["org", "email"])
}

/// The models most scenarios use.
pub(crate) fn models() -> Vec<ModelDef> {
    vec![project(), task(), note(), tag(), doc(), member()]
}
