//! Workflows (DESIGN section 8): the builder's checks, files in three formats, templating,
//! scheduling, failures, transactions, the built-in nodes and persisted asynchronous runs.
//!
//! Scenarios that touch the database run on SQLite, PostgreSQL and MySQL through `conformance!`
//! where the database matters (transactions, persisted runs); the rest run on SQLite.
#![allow(missing_docs)]

mod common;

use common::Backend;
use flowgate::workflow::{
    self, Connection, FileFormat, InputDef, InputType, OpExecutor, RunStatus, RunStore,
    RunStoreConfig, Workflow, WorkflowBuilder, WorkflowRegistry,
};
use flowgate::{
    Context, Error, FieldDef, IdType, ModelDef, OnDelete, Operation, Schema, Store, StoreConfig,
    Transaction,
};
use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

// ---------------------------------------------------------------------------------------------
// Models and helpers

fn user() -> ModelDef {
    ModelDef::new("User")
        .id(IdType::String)
        .field(
            FieldDef::string("email")
                .max_length(254)
                .unique()
                .description("Login address"),
        )
        .field(FieldDef::string("name").max_length(120).optional())
        .field(FieldDef::integer("age").optional())
}

fn note() -> ModelDef {
    ModelDef::new("Note")
        .field(FieldDef::text("body"))
        .field(FieldDef::boolean("pinned").default(false))
        .field(
            FieldDef::string("user_id")
                .references("User")
                .optional()
                .on_delete(OnDelete::Cascade),
        )
}

fn models() -> Vec<ModelDef> {
    vec![user(), note()]
}

fn schema() -> Schema {
    Schema::new(models()).unwrap()
}

/// The seed application's User, as `examples/server.rs` declares it: `name` is required.
fn seed_user() -> ModelDef {
    ModelDef::new("User")
        .field(FieldDef::string("email").max_length(254).unique())
        .field(FieldDef::string("name").max_length(120))
        .field(FieldDef::enumeration("role", ["member", "admin"]).default("member"))
        .field(FieldDef::boolean("active").default(true))
}

async fn sqlite() -> Store {
    common::store(Backend::Sqlite, models()).await.unwrap()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/workflows")
        .join(name)
}

fn ctx() -> Context {
    Context::internal()
}

/// The error of a build that must fail.
fn build_err(b: WorkflowBuilder) -> Error {
    match b.build() {
        Ok(wf) => panic!("should not build: {}", wf.to_json()),
        Err(e) => e,
    }
}

fn assert_field(e: &Error, field: &str) {
    assert_eq!(e.code(), "validation", "{e:?}");
    assert_eq!(e.field(), Some(field), "{e:?}");
}

async fn count(store: &Store, model: &str) -> u64 {
    let op = Operation::new(model, flowgate::OpKind::Count, json!({}));
    store.execute(&ctx(), &op).await.unwrap()["count"]
        .as_u64()
        .unwrap()
}

/// An executor that runs on a store and records the operations it was asked for, in order.
struct Recorder {
    store: Store,
    log: Mutex<Vec<String>>,
    /// When set, creates on `Note` wait at this barrier: they go on only when as many as it
    /// counts have reached it, which happens only if they run at the same time.
    barrier: Option<(tokio::sync::Barrier, std::time::Duration)>,
}

impl Recorder {
    fn new(store: Store) -> Self {
        Recorder {
            store,
            log: Mutex::new(Vec::new()),
            barrier: None,
        }
    }
    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl OpExecutor for Recorder {
    fn execute<'a>(
        &'a self,
        ctx: &'a Context,
        op: &'a Operation,
    ) -> BoxFuture<'a, flowgate::Result<Value>> {
        Box::pin(async move {
            assert_eq!(ctx.channel, flowgate::Channel::Workflow);
            let tag = format!("{}.{}", op.model, op.op);
            self.log.lock().unwrap().push(format!("start {tag}"));
            if let Some((barrier, guard)) = &self.barrier
                && op.model == "Note"
                && op.op == flowgate::OpKind::Create
                && tokio::time::timeout(*guard, barrier.wait()).await.is_err()
            {
                return Err(Error::internal(
                    "the independent nodes did not run at the same time",
                ));
            }
            let out = self.store.execute(ctx, op).await;
            self.log.lock().unwrap().push(format!("end {tag}"));
            out
        })
    }

    fn begin(&self) -> BoxFuture<'_, flowgate::Result<Transaction>> {
        Box::pin(self.store.begin())
    }
}

// ---------------------------------------------------------------------------------------------
// The builder's checks: each error names the node and param

#[test]
fn unknown_node_types_are_named() {
    let e = build_err(WorkflowBuilder::new("w").add_node("UserFrobNode", "u", json!({})));
    assert_field(&e, "nodes.u.type");
    assert!(e.to_string().contains("UserFrobNode"), "{e}");
    let e = build_err(WorkflowBuilder::new("w").add_node("switch", "s", json!({})));
    assert_field(&e, "nodes.s.type");
}

#[test]
fn node_ids_are_checked() {
    let e = build_err(
        WorkflowBuilder::new("w")
            .add_node("UserReadNode", "a", json!({"id": "1"}))
            .add_node("UserReadNode", "a", json!({"id": "2"})),
    );
    assert_field(&e, "nodes.a");
    let e = build_err(WorkflowBuilder::new("w").add_node("UserReadNode", "a.b", json!({})));
    assert_field(&e, "nodes.0.id");
    let e = build_err(WorkflowBuilder::new("bad name!").add_node("UserReadNode", "a", json!({})));
    assert_field(&e, "name");
    let e = build_err(WorkflowBuilder::new("w"));
    assert_field(&e, "nodes");
    let e = build_err(WorkflowBuilder::new("w").add_node("UserReadNode", "a", json!([1])));
    assert_field(&e, "nodes.a.params");
}

#[test]
fn connections_are_checked() {
    let two = || {
        WorkflowBuilder::new("w")
            .add_node("UserCreateNode", "user", json!({"email": "a@b.c"}))
            .add_node("NoteCreateNode", "note", json!({"body": "x"}))
    };
    let e = build_err(two().connect("usr", "id", "note", "user_id"));
    assert_field(&e, "connections.0.from");
    let e = build_err(two().connect("user", "id", "nope", "user_id"));
    assert_field(&e, "connections.0.to");
    let e = build_err(two().connect("user", "id", "user", "name"));
    assert_field(&e, "connections.0.to");
    let e = build_err(two().connect("user", "record..id", "note", "user_id"));
    assert_field(&e, "connections.0.output");
    // A param the node's params already give.
    let e = build_err(two().connect("user", "id", "note", "body"));
    assert_field(&e, "connections.0.input");
    // Two connections into one param.
    let e = build_err(
        two()
            .connect("user", "id", "note", "user_id")
            .connect("user", "email", "note", "user_id"),
    );
    assert_field(&e, "connections.1.input");
}

#[test]
fn cycles_are_refused_naming_the_nodes() {
    let e = build_err(
        WorkflowBuilder::new("w")
            .add_node("UserReadNode", "a", json!({}))
            .add_node("UserReadNode", "b", json!({}))
            .add_node("UserReadNode", "c", json!({}))
            .connect("a", "id", "b", "id")
            .connect("b", "id", "c", "id")
            .connect("c", "id", "b", "name"),
    );
    assert_field(&e, "nodes.b");
    assert!(e.to_string().contains("b -> c -> b"), "{e}");
}

#[test]
fn unresolvable_references_are_refused() {
    // Declared inputs: a reference to another name is an error naming the param.
    let e = build_err(
        WorkflowBuilder::new("w")
            .input("email", InputType::String)
            .add_node("UserCreateNode", "user", json!({"email": "${emial}"})),
    );
    assert_field(&e, "nodes.user.params.email");
    assert!(e.to_string().contains("emial"), "{e}");
    // Malformed references never pass as literal text.
    for bad in ["${email", "{{ email", "${}", "${user.id}", "x {{1a}}"] {
        let e = build_err(WorkflowBuilder::new("w").add_node(
            "UserCreateNode",
            "user",
            json!({"fields": {"email": bad}}),
        ));
        assert_field(&e, "nodes.user.params.fields.email");
    }
    // A workflow that declares no inputs takes no references.
    let e = build_err(WorkflowBuilder::new("w").no_inputs().add_node(
        "UserReadNode",
        "u",
        json!({"id": "${id}"}),
    ));
    assert_field(&e, "nodes.u.params.id");
    // A bad default.
    let e = build_err(
        WorkflowBuilder::new("w")
            .input("age", InputDef::new(InputType::Integer).default("old"))
            .add_node("UserCreateNode", "u", json!({"age": "${age}"})),
    );
    assert_field(&e, "inputs.age");
}

#[test]
fn built_ins_are_checked_at_build_time() {
    let e = build_err(WorkflowBuilder::new("w").add_node(
        "TransformNode",
        "t",
        json!({"expr": ".a |"}),
    ));
    assert_field(&e, "nodes.t.params.expr");
    let e = build_err(WorkflowBuilder::new("w").add_node("TransformNode", "t", json!({})));
    assert_field(&e, "nodes.t.params.expr");
    let e = build_err(WorkflowBuilder::new("w").add_node(
        "TransformNode",
        "t",
        json!({"expr": ".", "x": 1}),
    ));
    assert_field(&e, "nodes.t.params.x");
    let e = build_err(WorkflowBuilder::new("w").add_node(
        "SwitchNode",
        "s",
        json!({"value": 1, "cases": [{"when": "if", "output": "a"}]}),
    ));
    assert_field(&e, "nodes.s.params.cases.0.when");
    let e = build_err(WorkflowBuilder::new("w").add_node(
        "SwitchNode",
        "s",
        json!({"value": 1, "cases": [{"equals": 1}]}),
    ));
    assert_field(&e, "nodes.s.params.cases.0.output");
    let e = build_err(WorkflowBuilder::new("w").add_node("MergeNode", "m", json!({"mode": "zip"})));
    assert_field(&e, "nodes.m.params.mode");
    // A connection from a switch names one of its branches.
    let e = build_err(
        WorkflowBuilder::new("w")
            .add_node(
                "SwitchNode",
                "s",
                json!({"value": 1, "cases": [{"equals": 1, "output": "one"}], "default": "other"}),
            )
            .add_node("UserReadNode", "u", json!({}))
            .connect("s", "two", "u", "id"),
    );
    assert_field(&e, "connections.0.output");
}

#[test]
fn transforms_cannot_reach_outside() {
    for expr in [
        "env",
        "$ENV",
        "input_filename",
        "halt",
        "debug",
        "input",
        "inputs",
    ] {
        let e = build_err(WorkflowBuilder::new("w").add_node(
            "TransformNode",
            "t",
            json!({"expr": expr}),
        ));
        assert_field(&e, "nodes.t.params.expr");
    }
}

#[test]
fn checks_against_the_served_models() {
    let wf = |node: &str, params: Value| {
        WorkflowBuilder::new("w")
            .add_node(node, "n", params)
            .build()
            .unwrap()
    };
    let s = schema();
    let e = wf("TaskCreateNode", json!({})).check(&s).unwrap_err();
    assert_field(&e, "nodes.n.type");
    let e = wf("UserCreateNode", json!({"emial": "x"}))
        .check(&s)
        .unwrap_err();
    assert_field(&e, "nodes.n.params.emial");
    let e = wf("UserCreateNode", json!({"created_at": "x", "email": "e"}))
        .check(&s)
        .unwrap_err();
    assert_field(&e, "nodes.n.params.created_at");
    let e = wf("UserCreateNode", json!({"name": "x"}))
        .check(&s)
        .unwrap_err();
    assert_field(&e, "nodes.n.params.email");
    let e = wf("UserReadNode", json!({})).check(&s).unwrap_err();
    assert_field(&e, "nodes.n.params.id");
    wf("UserCreateNode", json!({"email": "${email}"}))
        .check(&s)
        .unwrap();
    // A required field given by a connection counts.
    WorkflowBuilder::new("w")
        .add_node("UserCreateNode", "u", json!({"email": "${email}"}))
        .add_node("NoteCreateNode", "n", json!({}))
        .connect("u", "email", "n", "body")
        .build()
        .unwrap()
        .check(&s)
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Files

#[test]
fn the_three_formats_carry_the_same_workflow() {
    for name in ["create_user", "signup"] {
        let json = workflow::load(&fixture(&format!("{name}.json"))).unwrap();
        let toml = workflow::load(&fixture(&format!("{name}.toml"))).unwrap();
        let yaml = workflow::load(&fixture(&format!("{name}.yaml"))).unwrap();
        assert_eq!(json.to_json(), toml.to_json(), "{name}");
        assert_eq!(json.to_json(), yaml.to_json(), "{name}");
        // The canonical form reads back as the same workflow.
        let again =
            workflow::parse(&json.to_json().to_string(), FileFormat::Json, "canonical").unwrap();
        assert_eq!(again, json);
    }
    let signup = workflow::load(&fixture("signup.yaml")).unwrap();
    assert!(signup.transactional());
    assert_eq!(signup.order(), vec!["user", "note"]);
    assert_eq!(
        signup.inputs()["pinned"],
        InputDef::new(InputType::Boolean).default(false)
    );
    let create_user = workflow::load(&fixture("create_user.yaml")).unwrap();
    assert_eq!(
        create_user.to_json(),
        json!({"name": "create_user", "transactional": false,
               "nodes": [{"id": "create_user", "type": "UserCreateNode",
                          "params": {"email": "{{email}}"}}],
               "connections": []})
    );
}

#[test]
fn file_errors_name_the_file_and_the_key() {
    let e = workflow::parse(
        "name: w\nnodes:\n  - {id: a, type: UserReadNode, param: {}}\n",
        FileFormat::Yaml,
        "w.yaml",
    )
    .unwrap_err();
    assert_field(&e, "nodes.a.param");
    assert!(e.to_string().starts_with("w.yaml: "), "{e}");
    let e = workflow::parse(
        "name = \"w\"\ntransactionl = true\n[[nodes]]\nid = \"a\"\ntype = \"UserReadNode\"\n",
        FileFormat::Toml,
        "w.toml",
    )
    .unwrap_err();
    assert_field(&e, "transactionl");
    assert!(e.to_string().starts_with("w.toml: "), "{e}");
    // The builder's checks name the file too.
    let e = workflow::parse(
        r#"{"name": "w", "nodes": [{"id": "a", "type": "UserFrobNode"}]}"#,
        FileFormat::Json,
        "w.json",
    )
    .unwrap_err();
    assert_field(&e, "nodes.a.type");
    assert!(e.to_string().starts_with("w.json: "), "{e}");
    let e = workflow::parse("name: [", FileFormat::Yaml, "w.yaml").unwrap_err();
    assert_eq!(e.code(), "validation");
    let e = workflow::load(Path::new("w.txt")).unwrap_err();
    assert_eq!(e.code(), "validation");
}

#[tokio::test]
async fn the_seed_create_user_workflow_runs_verbatim_from_each_file() {
    let store = sqlite().await;
    for (i, ext) in ["json", "toml", "yaml"].iter().enumerate() {
        let wf = workflow::load(&fixture(&format!("create_user.{ext}"))).unwrap();
        wf.check(&store.schema()).unwrap();
        let email = format!("ada{i}@example.com");
        let out = wf
            .run(&store, &ctx(), &json!({"email": email}))
            .await
            .unwrap();
        let user = &out.results["create_user"];
        assert_eq!(user["email"], json!(email));
        assert!(user["id"].is_string());
        // The stored user is the one the run reported.
        let read = store
            .execute(
                &ctx(),
                &Operation::new("User", flowgate::OpKind::Read, json!({"id": user["id"]})),
            )
            .await
            .unwrap();
        assert_eq!(&read, user);
    }
    // Against the seed application's own User, whose `name` is required, the check says so.
    let seed = Schema::new([seed_user()]).unwrap();
    let wf = workflow::load(&fixture("create_user.json")).unwrap();
    let e = wf.check(&seed).unwrap_err();
    assert_field(&e, "nodes.create_user.params.name");
}

// ---------------------------------------------------------------------------------------------
// Inputs and templating

#[test]
fn input_schemas_come_from_declarations_or_model_fields() {
    let s = schema();
    let wf = workflow::load(&fixture("create_user.json")).unwrap();
    assert!(!wf.declares_inputs());
    assert_eq!(
        wf.input_schema(&s),
        json!({"type": "object",
               "properties": {"email": {"type": "string", "maxLength": 254, "description": "Login address"}},
               "required": ["email"], "additionalProperties": false})
    );
    let signup = workflow::load(&fixture("signup.json")).unwrap();
    let described = signup.describe(&s);
    assert_eq!(described["order"], json!(["user", "note"]));
    assert_eq!(described["input_schema"], signup.input_schema(&s));
    assert_eq!(described["nodes"], signup.to_json()["nodes"]);
    assert_eq!(
        signup.input_schema(&s),
        json!({"type": "object",
               "properties": {"id": {"type": "string"}, "email": {"type": "string"},
                              "note": {"type": "string"},
                              "pinned": {"type": "boolean", "default": false}},
               "required": ["id", "email", "note"], "additionalProperties": false})
    );
    // Undeclared: an integer field gives an integer; text-only references give scalars.
    let wf = WorkflowBuilder::new("w")
        .add_node(
            "UserUpdateNode",
            "u",
            json!({"id": "${id}", "fields": {"age": "${age}", "name": "Ms ${last}"}}),
        )
        .build()
        .unwrap();
    let schema = wf.input_schema(&s);
    assert_eq!(
        schema["properties"]["age"]["type"],
        json!(["integer", "null"])
    );
    assert_eq!(schema["properties"]["id"]["type"], "string");
    assert_eq!(
        schema["properties"]["last"]["type"],
        json!(["string", "number", "boolean", "null"])
    );
    assert_eq!(schema["required"], json!(["id", "age", "last"]));
}

#[tokio::test]
async fn whole_references_keep_types_and_embedded_ones_become_text() {
    let store = sqlite().await;
    let wf = WorkflowBuilder::new("typed")
        .input("email", InputType::String)
        .input("age", InputType::Integer)
        .input("first", InputDef::new(InputType::String).optional())
        .add_node(
            "UserCreateNode",
            "user",
            json!({"email": "${email}", "age": "{{ age }}", "name": "{{first}} (${age}) $${literal}"}),
        )
        .build()
        .unwrap();
    let out = wf
        .run(
            &store,
            &ctx(),
            &json!({"email": "a@b.c", "age": 36, "first": "Ada"}),
        )
        .await
        .unwrap();
    let u = &out.results["user"];
    assert_eq!(u["age"], json!(36));
    assert_eq!(u["name"], "Ada (36) ${literal}");
    // An optional input left out: nothing inside text.
    let out = wf
        .run(&store, &ctx(), &json!({"email": "b@b.c", "age": 1}))
        .await
        .unwrap();
    assert_eq!(out.results["user"]["name"], " (1) ${literal}");
}

#[tokio::test]
async fn run_inputs_are_checked_before_anything_runs() {
    let store = sqlite().await;
    let wf = workflow::load(&fixture("signup.json")).unwrap();
    for (inputs, field) in [
        (json!({"email": "a@b.c", "note": "n"}), "inputs.id"),
        (json!({"id": "u1", "email": 5, "note": "n"}), "inputs.email"),
        (
            json!({"id": "u1", "email": "a@b.c", "note": "n", "pinned": "yes"}),
            "inputs.pinned",
        ),
        (
            json!({"id": "u1", "email": "a@b.c", "note": "n", "extra": 1}),
            "inputs.extra",
        ),
    ] {
        let e = wf.run(&store, &ctx(), &inputs).await.unwrap_err();
        assert_eq!(e.node, None);
        assert_field(&e.error, field);
    }
    assert_eq!(count(&store, "User").await, 0);
    // Inferred inputs are required too.
    let wf = workflow::load(&fixture("create_user.toml")).unwrap();
    let e = wf.run(&store, &ctx(), &json!({})).await.unwrap_err();
    assert_field(&e.error, "inputs.email");
}

// ---------------------------------------------------------------------------------------------
// Scheduling and failures

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_nodes_run_at_the_same_time() {
    let store = sqlite().await;
    let mut rec = Recorder::new(store.clone());
    // Both note creates must reach the barrier before either goes on: a scheduler running one
    // node at a time would leave the first waiting until the guard gives up.
    rec.barrier = Some((
        tokio::sync::Barrier::new(2),
        std::time::Duration::from_secs(30),
    ));
    let wf = WorkflowBuilder::new("fan_out")
        .add_node("UserCreateNode", "user", json!({"email": "${email}"}))
        .add_node("NoteCreateNode", "first", json!({"body": "one"}))
        .add_node("NoteCreateNode", "second", json!({"body": "two"}))
        .add_node("NoteCountNode", "count", json!({}))
        .connect("user", "id", "first", "user_id")
        .connect("user", "id", "second", "user_id")
        .connection(Connection::order("first", "", "count"))
        .connection(Connection::order("second", "", "count"))
        .build()
        .unwrap();
    let out = wf
        .run(&rec, &ctx(), &json!({"email": "a@b.c"}))
        .await
        .unwrap();
    assert_eq!(
        out.results.keys().collect::<Vec<_>>(),
        vec!["user", "first", "second", "count"]
    );
    assert_eq!(out.results["count"]["count"], 2);
    let uid = &out.results["user"]["id"];
    assert_eq!(out.results["first"]["user_id"], *uid);
    assert_eq!(out.results["second"]["user_id"], *uid);
    // Topological order: the user before both notes, both notes before the count.
    let log = rec.log();
    let at = |s: &str| log.iter().position(|l| l == s).unwrap();
    assert!(at("end User.create") < at("start Note.create"));
    let last_note_end = log.iter().rposition(|l| l == "end Note.create").unwrap();
    assert!(last_note_end < at("start Note.count"), "{log:?}");
    // Both notes started before either ended.
    let first_end = log.iter().position(|l| l == "end Note.create").unwrap();
    let second_start = log.iter().rposition(|l| l == "start Note.create").unwrap();
    assert!(second_start < first_end, "{log:?}");
}

#[tokio::test]
async fn the_first_failure_stops_the_run_and_names_the_node() {
    let store = sqlite().await;
    let rec = Recorder::new(store.clone());
    let wf = WorkflowBuilder::new("dup")
        .add_node("UserCreateNode", "first", json!({"email": "${email}"}))
        .add_node("UserCreateNode", "second", json!({"email": "${email}"}))
        .add_node("NoteCreateNode", "after", json!({"body": "never"}))
        .connection(Connection::order("first", "", "second"))
        .connect("second", "id", "after", "user_id")
        .build()
        .unwrap();
    let e = wf
        .run(&rec, &ctx(), &json!({"email": "a@b.c"}))
        .await
        .unwrap_err();
    assert_eq!(e.node.as_deref(), Some("second"));
    assert_eq!(e.code(), "conflict");
    assert_eq!(e.error.field(), Some("nodes.second.params.email"));
    assert!(e.to_string().contains("node `second`"), "{e}");
    assert!(!e.rolled_back);
    assert!(e.results.contains_key("first"));
    let j = e.to_json();
    assert_eq!(j["code"], "conflict");
    assert_eq!(j["details"]["node"], "second");
    assert_eq!(j["details"]["run_id"], json!(e.run_id));
    // Nothing after the failure started; the first create stays (not transactional).
    assert!(!rec.log().iter().any(|l| l.contains("Note")));
    assert_eq!(count(&store, "User").await, 1);
    let plain = e.into_error();
    assert_eq!(plain.code(), "conflict");

    // A not-found keeps its code and names the node.
    let wf = WorkflowBuilder::new("missing")
        .add_node("UserReadNode", "lookup", json!({"id": "${id}"}))
        .build()
        .unwrap();
    let e = wf
        .run(&store, &ctx(), &json!({"id": "nobody"}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "not_found");
    assert_eq!(e.node.as_deref(), Some("lookup"));
    assert_eq!(e.to_json()["details"]["model"], "User");

    // A path missing from a result names the connection.
    let wf = WorkflowBuilder::new("path")
        .add_node("UserCreateNode", "user", json!({"email": "p@b.c"}))
        .add_node("NoteCreateNode", "note", json!({"body": "x"}))
        .connect("user", "record.id", "note", "user_id")
        .build()
        .unwrap();
    let e = wf.run(&store, &ctx(), &json!({})).await.unwrap_err();
    assert_eq!(e.node.as_deref(), Some("note"));
    assert_field(&e.error, "connections.0.output");
}

// ---------------------------------------------------------------------------------------------
// Built-in nodes

fn tiered() -> Workflow {
    WorkflowBuilder::new("tiered")
        .input("email", InputType::String)
        .input("tier", InputType::String)
        .add_node("UserCreateNode", "user", json!({"email": "${email}"}))
        .add_node(
            "SwitchNode",
            "route",
            json!({"cases": [{"equals": "gold", "output": "vip"},
                             {"when": "$inputs.email | endswith(\"@staff.example\")", "output": "staff"}],
                   "default": "regular"}),
        )
        .add_node("NoteCreateNode", "welcome_vip", json!({"body": "welcome, VIP"}))
        .add_node("NoteCreateNode", "welcome", json!({"body": "welcome"}))
        .add_node("MergeNode", "note", json!({"mode": "first"}))
        .add_node(
            "TransformNode",
            "summary",
            json!({"expr": "{user: .user.email, note: .note.body, tier: $inputs.tier}"}),
        )
        .add_node("MergeNode", "parts", json!({}))
        .connect("user", "", "route", "value")
        .connect("route", "vip.id", "welcome_vip", "user_id")
        .connect("route", "regular.id", "welcome", "user_id")
        .connect("welcome_vip", "", "note", "vip")
        .connect("welcome", "", "note", "regular")
        .connect("user", "", "parts", "user")
        .connect("note", "", "parts", "note")
        .connect("parts", "", "summary", "input")
        .build()
        .unwrap()
}

#[tokio::test]
async fn switch_routes_and_merge_joins_the_branches() {
    let store = sqlite().await;
    // The switch's value is the created user; `equals` compares the whole value, so route on
    // the tier with a transform in front.
    let wf = WorkflowBuilder::new("route")
        .input("tier", InputType::String)
        .input("email", InputType::String)
        .add_node("UserCreateNode", "user", json!({"email": "${email}"}))
        .add_node(
            "SwitchNode",
            "route",
            json!({"value": "${tier}", "cases": [{"equals": "gold", "output": "vip"}], "default": "regular"}),
        )
        .add_node("NoteCreateNode", "vip_note", json!({"body": "welcome, VIP"}))
        .add_node("NoteCreateNode", "plain_note", json!({"body": "welcome"}))
        .add_node("MergeNode", "note", json!({"mode": "first"}))
        .connect("user", "id", "vip_note", "user_id")
        .connect("user", "id", "plain_note", "user_id")
        .connection(Connection::order("route", "vip", "vip_note"))
        .connection(Connection::order("route", "regular", "plain_note"))
        .connect("vip_note", "", "note", "vip")
        .connect("plain_note", "", "note", "plain")
        .build()
        .unwrap();
    wf.check(&store.schema()).unwrap();
    let gold = wf
        .run(&store, &ctx(), &json!({"tier": "gold", "email": "g@b.c"}))
        .await
        .unwrap();
    assert_eq!(
        gold.results["route"],
        json!({"branch": "vip", "value": "gold"})
    );
    assert_eq!(gold.results["note"]["body"], "welcome, VIP");
    assert_eq!(gold.skipped, vec!["plain_note"]);
    assert!(!gold.results.contains_key("plain_note"));
    assert_eq!(gold.to_json()["skipped"], json!(["plain_note"]));
    let plain = wf
        .run(&store, &ctx(), &json!({"tier": "tin", "email": "t@b.c"}))
        .await
        .unwrap();
    assert_eq!(plain.results["note"]["body"], "welcome");
    assert_eq!(plain.skipped, vec!["vip_note"]);
    assert_eq!(count(&store, "Note").await, 2);
}

#[tokio::test]
async fn switch_conditions_transforms_and_merges_together() {
    let store = sqlite().await;
    let wf = tiered();
    wf.check(&store.schema()).unwrap();
    // `equals` compares the whole value (the user), so no case matches it; `when` reads the
    // inputs; the default catches the rest.
    let staff = wf
        .run(
            &store,
            &ctx(),
            &json!({"email": "bo@staff.example", "tier": "gold"}),
        )
        .await
        .unwrap();
    assert_eq!(staff.results["route"]["branch"], "staff");
    // On the staff branch, `welcome` gets its user_id from the regular branch: not taken, so it
    // is skipped, and so is the merge that has no live connection.
    assert_eq!(staff.skipped, vec!["welcome_vip", "welcome", "note"]);
    assert_eq!(
        staff.results["summary"],
        json!({"user": "bo@staff.example", "note": null, "tier": "gold"})
    );
    assert_eq!(staff.results["parts"].as_object().unwrap().len(), 1);
    let regular = wf
        .run(&store, &ctx(), &json!({"email": "al@b.c", "tier": "tin"}))
        .await
        .unwrap();
    assert_eq!(regular.results["route"]["branch"], "regular");
    assert_eq!(
        regular.results["summary"],
        json!({"user": "al@b.c", "note": "welcome", "tier": "tin"})
    );
}

#[tokio::test]
async fn transforms_reshape_results() {
    let store = sqlite().await;
    let wf = WorkflowBuilder::new("titles")
        .add_node(
            "NoteBulkCreateNode",
            "seed",
            json!({"data": [{"body": "b"}, {"body": "a"}, {"body": "c"}]}),
        )
        .add_node("NoteListNode", "list", json!({"order_by": "id"}))
        .add_node(
            "TransformNode",
            "bodies",
            json!({"expr": "[.records[].body] | sort | {bodies: ., n: length, first: .[0] | ascii_upcase}"}),
        )
        .add_node("MergeNode", "all", json!({"mode": "concat", "a": [1], "b": [2, 3]}))
        .add_node(
            "MergeNode",
            "assigned",
            json!({"mode": "assign", "a": {"x": 1, "y": 1}, "b": {"y": 2}}),
        )
        .connection(Connection::order("seed", "", "list"))
        .connect("list", "", "bodies", "input")
        .build()
        .unwrap();
    let out = wf.run(&store, &ctx(), &json!({})).await.unwrap();
    assert_eq!(
        out.results["bodies"],
        json!({"bodies": ["a", "b", "c"], "n": 3, "first": "A"})
    );
    assert_eq!(out.results["all"], json!([1, 2, 3]));
    assert_eq!(out.results["assigned"], json!({"x": 1, "y": 2}));

    // A transform that gives several values, or fails, names the node and its program.
    for (expr, needle) in [(".[]", "exactly one"), (".a.b", "")] {
        let wf = WorkflowBuilder::new("t")
            .input("a", InputType::Any)
            .add_node("TransformNode", "t", json!({"expr": expr, "input": "${a}"}))
            .build()
            .unwrap();
        let e = wf
            .run(&store, &ctx(), &json!({"a": [1, 2]}))
            .await
            .unwrap_err();
        assert_eq!(e.node.as_deref(), Some("t"));
        assert_field(&e.error, "nodes.t.params.expr");
        assert!(e.to_string().contains(needle), "{e}");
    }
}

// ---------------------------------------------------------------------------------------------
// Transactions, on every database

async fn transactional_failure_leaves_nothing(b: Backend) {
    let Some(store) = common::store(b, models()).await else {
        return;
    };
    let build = |transactional: bool| {
        WorkflowBuilder::new("pair")
            .transactional(transactional)
            .add_node("UserCreateNode", "first", json!({"email": "${email}"}))
            .add_node("NoteCreateNode", "note", json!({"body": "kept?"}))
            .add_node("UserCreateNode", "second", json!({"email": "${email}"}))
            .connect("first", "id", "note", "user_id")
            .connection(Connection::order("note", "", "second"))
            .build()
            .unwrap()
    };
    // The second create collides with the first: the transaction rolls back both writes before.
    let e = build(true)
        .run(&store, &ctx(), &json!({"email": "a@b.c"}))
        .await
        .unwrap_err();
    assert_eq!(e.node.as_deref(), Some("second"), "{b:?}");
    assert_eq!(e.code(), "conflict", "{b:?}");
    assert!(e.rolled_back);
    assert_eq!(count(&store, "User").await, 0, "{b:?}");
    assert_eq!(count(&store, "Note").await, 0, "{b:?}");
    // Without a transaction the writes before the failure stay.
    let e = build(false)
        .run(&store, &ctx(), &json!({"email": "a@b.c"}))
        .await
        .unwrap_err();
    assert!(!e.rolled_back);
    assert_eq!(count(&store, "User").await, 1, "{b:?}");
    assert_eq!(count(&store, "Note").await, 1, "{b:?}");
}

async fn transactional_success_commits(b: Backend) {
    let Some(store) = common::store(b, models()).await else {
        return;
    };
    let wf = workflow::load(&fixture("signup.toml")).unwrap();
    wf.check(&store.schema()).unwrap();
    let out = wf
        .run(
            &store,
            &ctx(),
            &json!({"id": "u1", "email": "a@b.c", "note": "hello"}),
        )
        .await
        .unwrap();
    assert_eq!(out.results["note"]["user_id"], "u1", "{b:?}");
    assert_eq!(out.results["note"]["pinned"], false, "{b:?}");
    assert_eq!(count(&store, "User").await, 1, "{b:?}");
    assert_eq!(count(&store, "Note").await, 1, "{b:?}");
    // A read inside the transaction sees the writes before it.
    let wf = WorkflowBuilder::new("see")
        .transactional(true)
        .add_node("UserCreateNode", "u", json!({"email": "s@b.c"}))
        .add_node("UserCountNode", "n", json!({}))
        .connection(Connection::order("u", "", "n"))
        .build()
        .unwrap();
    let out = wf.run(&store, &ctx(), &json!({})).await.unwrap();
    assert_eq!(out.results["n"]["count"], 2, "{b:?}");
}

// ---------------------------------------------------------------------------------------------
// Asynchronous runs, on every database

async fn open_shared(url: &str) -> Store {
    let mut cfg = StoreConfig::new(url);
    cfg.pool_size = 4;
    let store = Store::connect(&cfg, schema()).await.unwrap();
    store.create_tables().await.unwrap();
    store
}

async fn async_runs_survive_a_restart(b: Backend) {
    let Some(url) = common::fresh_shared_url(b).await else {
        return;
    };
    let store = open_shared(&url).await;
    let runs = RunStore::open(&store).await.unwrap();
    let wf = workflow::load(&fixture("signup.yaml")).unwrap();
    let exec: Arc<dyn OpExecutor> = Arc::new(store.clone());
    let inputs = json!({"id": "u1", "email": "a@b.c", "note": "hello"});
    let started = runs
        .start(&wf, exec.clone(), &ctx(), &inputs)
        .await
        .unwrap();
    let ok_id = started.run_id.clone();
    started.finished().await.unwrap();
    // A failing run: the same user again.
    let started = runs
        .start(&wf, exec.clone(), &ctx(), &inputs)
        .await
        .unwrap();
    let failed_id = started.run_id.clone();
    started.finished().await.unwrap();
    // Bad inputs are refused before anything is stored.
    let e = runs
        .start(&wf, exec, &ctx(), &json!({"id": "u2"}))
        .await
        .unwrap_err();
    assert_field(&e, "inputs.email");
    store.close().await;

    // A new process: a fresh pool on the same database.
    let fresh = open_shared(&url).await;
    let runs = RunStore::open(&fresh).await.unwrap();
    let ok = runs.get(&ok_id, None).await.unwrap();
    assert_eq!(ok.status, RunStatus::Completed, "{b:?}");
    assert_eq!(ok.workflow, "signup");
    assert_eq!(ok.results["user"]["id"], "u1", "{b:?}");
    assert_eq!(ok.results["note"]["body"], "hello");
    assert_eq!(
        ok.results.as_object().unwrap().keys().collect::<Vec<_>>(),
        vec!["user", "note"]
    );
    assert_eq!(ok.inputs["pinned"], false);
    assert_eq!(ok.skipped, json!([]));
    assert!(ok.started_at.is_some() && ok.finished_at.is_some());
    assert_eq!(ok.to_json()["status"], "completed");

    let failed = runs.get(&failed_id, None).await.unwrap();
    assert_eq!(failed.status, RunStatus::Failed, "{b:?}");
    assert_eq!(failed.error["code"], "conflict", "{b:?}");
    assert_eq!(failed.error["details"]["node"], "user");
    assert_eq!(failed.error["details"]["rolled_back"], true);

    let listed = runs.list("signup", None, 10).await.unwrap();
    assert_eq!(listed.len(), 2);
    let e = runs.get("no-such-run", None).await.unwrap_err();
    assert_eq!(e.code(), "not_found");
    fresh.close().await;
}

/// An executor whose operations never finish: the process "dies" with the run in flight.
struct Stuck;

impl OpExecutor for Stuck {
    fn execute<'a>(
        &'a self,
        _ctx: &'a Context,
        _op: &'a Operation,
    ) -> BoxFuture<'a, flowgate::Result<Value>> {
        Box::pin(std::future::pending())
    }
}

async fn interrupted_runs_are_marked_failed(b: Backend) {
    let Some(url) = common::fresh_shared_url(b).await else {
        return;
    };
    let store = open_shared(&url).await;
    let runs = RunStore::open(&store).await.unwrap();
    let wf = workflow::load(&fixture("create_user.json")).unwrap();
    let started = runs
        .start(&wf, Arc::new(Stuck), &ctx(), &json!({"email": "a@b.c"}))
        .await
        .unwrap();
    let id = started.run_id.clone();
    // A run store with a fresh heartbeat leaves the run alone.
    let alive = RunStore::open(&store).await.unwrap();
    assert!(
        !alive.get(&id, None).await.unwrap().status.is_finished(),
        "{b:?}"
    );
    // The process dies.
    started.task.abort();
    let _ = started.task.await;
    // A restart (here: heartbeats count as stale at once) marks it failed.
    let config = RunStoreConfig {
        stale_after: std::time::Duration::ZERO,
        ..RunStoreConfig::default()
    };
    let restarted = RunStore::open_with(&store, config).await.unwrap();
    let record = restarted.get(&id, None).await.unwrap();
    assert_eq!(record.status, RunStatus::Failed, "{b:?}");
    assert_eq!(record.error["message"], "interrupted by restart");
    assert_eq!(count(&store, "User").await, 0);
}

/// Saved workflows: saved, replaced, read back by a new pool in the same key order, removed.
async fn saved_workflows_round_trip(b: Backend) {
    let Some(url) = common::fresh_shared_url(b).await else {
        return;
    };
    let store = open_shared(&url).await;
    let saved = WorkflowRegistry::open(&store).await.unwrap();
    let signup = workflow::load(&fixture("signup.yaml")).unwrap();
    let create_user = workflow::load(&fixture("create_user.toml")).unwrap();
    assert!(saved.save(&signup).await.unwrap(), "new");
    assert!(saved.save(&create_user).await.unwrap(), "new");
    let other = WorkflowBuilder::new("signup")
        .add_node("UserCountNode", "n", json!({}))
        .build()
        .unwrap();
    assert!(!saved.save(&other).await.unwrap(), "replaced");
    assert!(!saved.save(&signup).await.unwrap(), "replaced again");
    store.close().await;

    let fresh = open_shared(&url).await;
    let saved = WorkflowRegistry::open(&fresh).await.unwrap();
    let loaded = saved.load().await.unwrap();
    let names: Vec<&str> = loaded.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["create_user", "signup"]);
    // The canonical form comes back as it was written, keys in order, on every database.
    let back = loaded[1].workflow.as_ref().unwrap();
    assert_eq!(back.to_json().to_string(), signup.to_json().to_string());
    assert_eq!(loaded[0].workflow.as_ref().unwrap(), &create_user);
    assert_eq!(workflow::checksum(back), workflow::checksum(&signup));
    assert!(saved.remove("create_user").await.unwrap());
    assert!(!saved.remove("create_user").await.unwrap());
    let names: Vec<String> = saved
        .load()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["signup"]);
    fresh.close().await;
}

crate::conformance!(
    saved_workflows_round_trip,
    transactional_failure_leaves_nothing,
    transactional_success_commits,
    async_runs_survive_a_restart,
    interrupted_runs_are_marked_failed,
);
