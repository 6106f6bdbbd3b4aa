//! The scenario table: what every channel runs, in order, on a fresh database of its own.
//!
//! Scenarios run one after another on the same database, so a scenario may rely on the rows the
//! ones before it left (the table reads top to bottom like one session). A string param
//! `"{{N.path}}"` is replaced, on each channel, by the value at `path` in that channel's own
//! result of step N of the same scenario (cursors embed timestamps, which differ per channel).
//!
//! Every step is expressible on every channel: ids in REST paths are their text, update params
//! are exactly `id` and `fields`, delete params exactly `id`, and list/count params are plain
//! values, lists of names or filters (which a query string carries as text).

use flowgate::OpKind;
use serde_json::{Value, json};

/// The models every channel serves (a schema file, as `flowgate serve --models` reads it).
pub(crate) const SCHEMA: &str = r#"
[models.Author]
fields.name = { type = "string", max_length = 80, unique = true }

[models.Book]
soft_delete = true
fields.title     = { type = "string", max_length = 200 }
fields.isbn      = { type = "string", max_length = 20, unique = true, optional = true }
fields.pages     = { type = "integer", optional = true }
fields.rating    = { type = "float", optional = true }
fields.in_print  = { type = "boolean", default = true }
fields.tags      = { type = "json", default = [] }
fields.state     = { type = "enum", values = ["draft", "published"], default = "draft" }
fields.author_id = { type = "integer", references = "Author", optional = true }

[models.Item]
fields.name   = { type = "string", max_length = 60 }
fields.sku    = { type = "string", max_length = 20, unique = true }
fields.qty    = { type = "integer", default = 0 }
fields.price  = { type = "decimal", optional = true }
fields.color  = { type = "enum", values = ["red", "green", "blue"], optional = true }
fields.note   = { type = "text", optional = true }
fields.made   = { type = "date", optional = true }
fields.active = { type = "boolean", default = true }

[models.Setting]
fields.id    = { type = "string" }
fields.value = { type = "text" }
fields.scope = { type = "string", max_length = 20, optional = true }
"#;

/// The workflows every channel serves: files of a `discover` directory (servers read it with
/// `Supervisor`'s `discover`, the CLI in local mode with `--discover`), one per format.
pub(crate) const WORKFLOWS: &[(&str, &str)] = &[
    (
        "add_book.yaml",
        r#"
name: add_book
description: An author and their first book; counts the author's books
inputs:
  author: string
  title: string
  pages: {type: integer, default: 100}
nodes:
  - {id: author, type: AuthorCreateNode, params: {name: "${author}"}}
  - {id: book, type: BookCreateNode, params: {title: "${title}", pages: "${pages}", tags: [new]}}
  - {id: count, type: BookCountNode, params: {filter: {}}}
connections:
  - {from: author, output: id, to: book, input: author_id}
  - {from: author, output: id, to: count, input: filter.author_id}
  - {from: book, output: id, to: count}
"#,
    ),
    (
        "add_book_tx.json",
        r#"{"name": "add_book_tx", "transactional": true,
 "nodes": [{"id": "author", "type": "AuthorCreateNode", "params": {"name": "{{author}}"}},
           {"id": "book", "type": "BookCreateNode", "params": {"title": "{{title}}"}}],
 "connections": [{"from": "author", "output": "id", "to": "book", "input": "author_id"}]}"#,
    ),
    (
        "titles_of.toml",
        r#"
name = "titles_of"

[inputs]
author_id = "integer"

[[nodes]]
id = "books"
type = "BookListNode"
params = { filter = { author_id = "${author_id}" }, order_by = "title", fields = ["title"] }

[[nodes]]
id = "titles"
type = "TransformNode"
params = { expr = "[.records[].title]" }

[[connections]]
from = "books"
output = ""
to = "titles"
input = "input"
"#,
    ),
];

/// Table → model name (node names are `<Model><Op>Node`).
pub(crate) const MODELS: &[(&str, &str)] = &[
    ("authors", "Author"),
    ("books", "Book"),
    ("items", "Item"),
    ("settings", "Setting"),
];

/// The model of a table.
pub(crate) fn model_of(table: &str) -> &'static str {
    MODELS
        .iter()
        .find(|(t, _)| *t == table)
        .map(|(_, m)| *m)
        .unwrap_or_else(|| panic!("no model for table {table}"))
}

/// What a step must give.
#[derive(Debug, Clone)]
pub(crate) enum Expect {
    /// A result.
    Ok,
    /// A result containing this JSON (objects: these keys; lists: this length, item by item).
    /// Timestamps are compared after normalization (`"<timestamp>"`).
    OkWith(Value),
    /// An error with this code, naming this field (`None`: no field).
    Err(&'static str, Option<&'static str>),
}

/// What a step calls.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    /// An operation on the model of a table.
    Op(&'static str, OpKind),
    /// A workflow, run synchronously: its params are the run's inputs.
    Workflow(&'static str),
}

/// One operation (or workflow run) and what it must give.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub(crate) target: Target,
    pub(crate) params: Value,
    pub(crate) expect: Expect,
}

/// A named sequence of steps.
pub(crate) struct Scenario {
    pub(crate) name: &'static str,
    pub(crate) steps: Vec<Step>,
}

fn ok(table: &'static str, op: OpKind, params: Value) -> Step {
    Step {
        target: Target::Op(table, op),
        params,
        expect: Expect::Ok,
    }
}

fn ok_with(table: &'static str, op: OpKind, params: Value, subset: Value) -> Step {
    Step {
        target: Target::Op(table, op),
        params,
        expect: Expect::OkWith(subset),
    }
}

fn fails(
    table: &'static str,
    op: OpKind,
    params: Value,
    code: &'static str,
    field: Option<&'static str>,
) -> Step {
    Step {
        target: Target::Op(table, op),
        params,
        expect: Expect::Err(code, field),
    }
}

fn invalid(table: &'static str, op: OpKind, params: Value, field: &'static str) -> Step {
    fails(table, op, params, "validation", Some(field))
}

/// A synchronous run of a workflow whose answer contains `subset`.
fn run(workflow: &'static str, inputs: Value, subset: Value) -> Step {
    Step {
        target: Target::Workflow(workflow),
        params: inputs,
        expect: Expect::OkWith(subset),
    }
}

/// A synchronous run that fails with this code, naming this field.
fn run_fails(
    workflow: &'static str,
    inputs: Value,
    code: &'static str,
    field: &'static str,
) -> Step {
    Step {
        target: Target::Workflow(workflow),
        params: inputs,
        expect: Expect::Err(code, Some(field)),
    }
}

/// `{"records": [{"name": ...}, ...]}`: the names a filtered listing must give, in order.
fn names(list: &[&str]) -> Value {
    let records: Vec<Value> = list.iter().map(|n| json!({ "name": n })).collect();
    json!({ "records": records })
}

/// A listing of items by id, names only.
fn items_where(filter: Value) -> Value {
    json!({"filter": filter, "order_by": "id", "fields": ["name"]})
}

use OpKind::*;

fn crud() -> Scenario {
    Scenario {
        name: "crud",
        steps: vec![
            ok_with(
                "authors",
                Create,
                json!({"name": "Ursula K. Le Guin"}),
                json!({"id": 1, "name": "Ursula K. Le Guin", "created_at": "<timestamp>"}),
            ),
            ok_with(
                "books",
                Create,
                json!({"title": "The Lathe of Heaven", "isbn": "111", "pages": 184, "rating": 4.1,
                       "tags": ["sf", "dreams"], "state": "published", "author_id": 1}),
                json!({"id": 1, "pages": 184, "rating": 4.1, "in_print": true, "state": "published",
                       "author_id": 1, "deleted_at": null}),
            ),
            ok_with(
                "books",
                Create,
                json!({"title": "The Dispossessed", "isbn": "222"}),
                json!({"id": 2, "pages": null, "state": "draft", "tags": [], "in_print": true}),
            ),
            ok_with(
                "books",
                Read,
                json!({"id": 1}),
                json!({"title": "The Lathe of Heaven", "isbn": "111"}),
            ),
            ok_with("books", Read, json!({"id": "2"}), json!({"id": 2})),
            ok_with(
                "books",
                Update,
                json!({"id": 1, "fields": {"pages": 185, "rating": null, "in_print": false}}),
                json!({"id": 1, "pages": 185, "rating": null, "in_print": false, "title": "The Lathe of Heaven"}),
            ),
            ok_with(
                "books",
                List,
                json!({}),
                json!({"records": [{"id": 1, "pages": 185}, {"id": 2}]}),
            ),
            ok_with("books", Count, json!({}), json!({"count": 2})),
            ok_with(
                "books",
                Delete,
                json!({"id": 2}),
                json!({"id": 2, "deleted": true}),
            ),
            ok_with(
                "books",
                Delete,
                json!({"id": 2}),
                json!({"id": 2, "deleted": false}),
            ),
            ok_with(
                "authors",
                Delete,
                json!({"id": 999}),
                json!({"id": 999, "deleted": false}),
            ),
            ok_with("books", Count, json!({}), json!({"count": 1})),
        ],
    }
}

/// Relations read with the records (DESIGN 13.10): the author of each book, the books of an
/// author (book 2 is deleted: left out).
fn expand() -> Scenario {
    let lathe = json!({"id": 1, "title": "The Lathe of Heaven", "author_id": 1});
    let ursula = json!({"id": 1, "name": "Ursula K. Le Guin"});
    Scenario {
        name: "expand",
        steps: vec![
            ok_with(
                "books",
                List,
                json!({"expand": ["author"], "fields": ["title", "author_id"], "order_by": "id"}),
                json!({"records": [{"title": "The Lathe of Heaven", "author": ursula.clone()}]}),
            ),
            ok_with(
                "books",
                Read,
                json!({"id": 1, "expand": ["author"]}),
                json!({"id": 1, "author": ursula.clone()}),
            ),
            ok_with(
                "authors",
                Read,
                json!({"id": 1, "expand": ["books"], "expand_limit": 5}),
                json!({"name": "Ursula K. Le Guin", "books": [lathe.clone()]}),
            ),
            ok_with(
                "authors",
                List,
                json!({"expand": ["books"]}),
                json!({"records": [{"id": 1, "books": [lathe]}]}),
            ),
            invalid("books", List, json!({"expand": ["writer"]}), "expand"),
            invalid(
                "authors",
                Read,
                json!({"id": 1, "expand": ["books"], "expand_limit": 500}),
                "expand_limit",
            ),
        ],
    }
}

fn soft_delete() -> Scenario {
    Scenario {
        name: "soft delete",
        steps: vec![
            fails("books", Read, json!({"id": 2}), "not_found", None),
            ok_with(
                "books",
                Read,
                json!({"id": 2, "include_deleted": true}),
                json!({"id": 2, "deleted_at": "<timestamp>"}),
            ),
            ok_with(
                "books",
                List,
                json!({"include_deleted": true, "fields": ["title"]}),
                json!({"records": [{"id": 1}, {"id": 2, "title": "The Dispossessed"}]}),
            ),
            ok_with(
                "books",
                Count,
                json!({"include_deleted": true}),
                json!({"count": 2}),
            ),
            fails(
                "books",
                Update,
                json!({"id": 2, "fields": {"pages": 1}}),
                "not_found",
                None,
            ),
            ok_with(
                "books",
                BulkUpdate,
                json!({"filter": {"id": 2}, "fields": {"pages": 2}}),
                json!({"updated": 0}),
            ),
            // An upsert onto a tombstone revives it.
            ok_with(
                "books",
                Upsert,
                json!({"where": {"isbn": "222"}, "update": {"pages": 400}}),
                json!({"action": "updated", "record": {"id": 2, "pages": 400, "deleted_at": null}}),
            ),
            ok_with("books", Count, json!({}), json!({"count": 2})),
            ok_with(
                "books",
                BulkDelete,
                json!({"filter": {"isbn": "222"}}),
                json!({"deleted": 1}),
            ),
            ok_with(
                "books",
                List,
                json!({"filter": {"deleted_at": {"$null": false}}, "include_deleted": true, "fields": ["isbn"]}),
                json!({"records": [{"id": 2, "isbn": "222"}]}),
            ),
            ok_with("books", Delete, json!({"id": 2}), json!({"deleted": false})),
        ],
    }
}

fn filters() -> Scenario {
    let seed = json!([
        {"name": "apple", "sku": "A-1", "qty": 5, "price": "1.50", "color": "red", "note": "crisp", "made": "2024-01-10"},
        {"name": "banana", "sku": "B-1", "qty": 12, "price": "0.25", "color": null, "note": null, "made": "2024-02-01"},
        {"name": "cherry", "sku": "C-1", "qty": 0, "price": "3.00", "color": "red", "active": false},
        {"name": "date", "sku": "D-1", "qty": 7, "color": "green", "note": "sweet and sticky"},
        {"name": "Elderberry", "sku": "E-1", "qty": 30, "price": "12.75", "color": "blue", "made": "2023-12-31"},
        {"name": "fig", "sku": "F-1", "qty": 3, "price": "2.10", "color": "green", "active": false, "note": "100% fig"},
        {"name": "grape", "sku": "G-1", "qty": 12, "color": "blue"},
        {"name": "honeydew_melon", "sku": "H_1", "qty": 1, "price": "4.00"}
    ]);
    let q = |filter: Value, expected: &[&str]| {
        ok_with("items", List, items_where(filter), names(expected))
    };
    Scenario {
        name: "filters",
        steps: vec![
            ok_with(
                "items",
                BulkCreate,
                json!({ "data": seed }),
                json!({"inserted": 8, "skipped": 0, "ids": [1, 2, 3, 4, 5, 6, 7, 8], "errors": []}),
            ),
            q(json!({"color": "red"}), &["apple", "cherry"]),
            q(json!({"color": {"$eq": "green"}}), &["date", "fig"]),
            q(
                json!({"color": {"$ne": "red"}}),
                &[
                    "banana",
                    "date",
                    "Elderberry",
                    "fig",
                    "grape",
                    "honeydew_melon",
                ],
            ),
            q(
                json!({"qty": {"$gt": 3, "$lte": 12}}),
                &["apple", "banana", "date", "grape"],
            ),
            q(
                json!({"qty": {"$gte": 12, "$lt": 30}}),
                &["banana", "grape"],
            ),
            q(
                json!({"sku": {"$in": ["A-1", "C-1", "Z-9"]}}),
                &["apple", "cherry"],
            ),
            q(
                json!({"color": {"$nin": ["red", "blue"]}}),
                &["banana", "date", "fig", "honeydew_melon"],
            ),
            q(json!({"name": {"$like": "%an%"}}), &["banana"]),
            q(
                json!({"sku": {"$like": "_-1"}}),
                &[
                    "apple",
                    "banana",
                    "cherry",
                    "date",
                    "Elderberry",
                    "fig",
                    "grape",
                ],
            ),
            q(json!({"name": {"$ilike": "e%"}}), &["Elderberry"]),
            q(json!({"note": {"$contains": "%"}}), &["fig"]),
            q(json!({"sku": {"$startswith": "H_"}}), &["honeydew_melon"]),
            q(
                json!({"name": {"$regex": "^[a-c]"}}),
                &["apple", "banana", "cherry"],
            ),
            q(json!({"price": {"$null": true}}), &["date", "grape"]),
            q(json!({"color": null}), &["banana", "honeydew_melon"]),
            q(
                json!({"$or": [{"color": "red"}, {"qty": {"$gte": 12}}]}),
                &["apple", "banana", "cherry", "Elderberry", "grape"],
            ),
            q(
                json!({"$and": [{"active": true}, {"$not": {"color": "green"}}]}),
                &["apple", "Elderberry", "grape"],
            ),
            q(
                json!({"$not": {"$or": [{"qty": {"$lt": 5}}, {"price": {"$null": true}}]}}),
                &["apple", "banana", "Elderberry"],
            ),
            q(
                json!({"price": {"$gte": "2.10"}}),
                &["cherry", "Elderberry", "fig", "honeydew_melon"],
            ),
            q(
                json!({"made": {"$lt": "2024-01-15"}}),
                &["apple", "Elderberry"],
            ),
            q(json!({"active": false, "qty": {"$gt": 0}}), &["fig"]),
            // A filter given as JSON text, as a query string carries it.
            q(
                json!("{\"qty\": {\"$lt\": 3}}"),
                &["cherry", "honeydew_melon"],
            ),
            ok_with(
                "items",
                Count,
                json!({"filter": {"active": false}}),
                json!({"count": 2}),
            ),
            ok_with(
                "items",
                Count,
                json!({"filter": {"$or": [{"color": "blue"}, {"note": {"$startswith": "sweet"}}]}}),
                json!({"count": 3}),
            ),
        ],
    }
}

fn list() -> Scenario {
    let page = |names_qty: &[(&str, i64)]| -> Value {
        let records: Vec<Value> = names_qty
            .iter()
            .map(|(n, q)| json!({"name": n, "qty": q}))
            .collect();
        Value::Array(records)
    };
    Scenario {
        name: "list",
        steps: vec![
            ok_with(
                "items",
                List,
                json!({"order_by": "-qty", "limit": 3, "count": true, "fields": ["name", "qty"]}),
                json!({"records": page(&[("Elderberry", 30), ("banana", 12), ("grape", 12)]), "count": 8}),
            ),
            ok_with(
                "items",
                List,
                json!({"order_by": "-qty", "limit": 3, "cursor": "{{0.next_cursor}}", "fields": ["name", "qty"]}),
                json!({"records": page(&[("date", 7), ("apple", 5), ("fig", 3)])}),
            ),
            ok_with(
                "items",
                List,
                json!({"order_by": "-qty", "limit": 3, "cursor": "{{1.next_cursor}}", "fields": ["name", "qty"]}),
                json!({"records": page(&[("honeydew_melon", 1), ("cherry", 0)])}),
            ),
            ok_with(
                "items",
                List,
                json!({"order_by": ["-qty", "-name"], "offset": 1, "limit": 2, "fields": "name,qty"}),
                json!({"records": page(&[("grape", 12), ("banana", 12)])}),
            ),
            // Sorting by a timestamp: the cursor carries it.
            ok_with(
                "items",
                List,
                json!({"order_by": "created_at", "limit": 2, "fields": ["sku"]}),
                json!({"records": [{"id": 1, "sku": "A-1"}, {"id": 2, "sku": "B-1"}]}),
            ),
            ok_with(
                "items",
                List,
                json!({"order_by": "created_at", "limit": 2, "fields": ["sku"], "cursor": "{{4.next_cursor}}"}),
                json!({"records": [{"id": 3}, {"id": 4}]}),
            ),
            ok_with(
                "items",
                List,
                json!({"filter": {"made": {"$null": false}}, "order_by": "-made", "limit": 2, "fields": ["made"], "count": false}),
                json!({"records": [{"made": "2024-02-01"}, {"made": "2024-01-10"}]}),
            ),
            ok("items", List, json!({"limit": 1000})),
            ok_with(
                "items",
                List,
                json!({"filter": {"color": "blue"}, "count": true, "limit": 1, "fields": ["name"]}),
                json!({"records": [{"name": "Elderberry"}], "count": 2}),
            ),
            ok_with(
                "items",
                List,
                json!({"filter": {"qty": {"$gt": 100}}, "count": true}),
                json!({"records": [], "count": 0}),
            ),
            invalid("items", List, json!({"limit": 0}), "limit"),
            invalid("items", List, json!({"limit": 1001}), "limit"),
            invalid(
                "items",
                List,
                json!({"order_by": "-qty", "offset": 1, "cursor": "{{0.next_cursor}}"}),
                "cursor",
            ),
            invalid("items", List, json!({"cursor": "not-a-cursor"}), "cursor"),
            invalid(
                "items",
                List,
                json!({"order_by": "name", "cursor": "{{0.next_cursor}}"}),
                "cursor",
            ),
            invalid("items", List, json!({"order_by": "-nope"}), "order_by.nope"),
            invalid(
                "items",
                List,
                json!({"fields": ["name", "nope"]}),
                "fields.nope",
            ),
        ],
    }
}

fn upserts() -> Scenario {
    Scenario {
        name: "upsert",
        steps: vec![
            ok_with(
                "settings",
                Upsert,
                json!({"where": {"id": "theme"}, "create": {"value": "dark"}, "update": {"value": "light"}}),
                json!({"action": "created", "record": {"id": "theme", "value": "dark", "scope": null}}),
            ),
            ok_with(
                "settings",
                Upsert,
                json!({"where": {"id": "theme"}, "create": {"value": "dark"}, "update": {"value": "light"}}),
                json!({"action": "updated", "record": {"id": "theme", "value": "light"}}),
            ),
            ok_with(
                "settings",
                Read,
                json!({"id": "theme"}),
                json!({"value": "light"}),
            ),
            ok_with(
                "settings",
                Upsert,
                json!({"where": {"id": "lang"}, "create": {"value": "en", "scope": "ui"}}),
                json!({"action": "created", "record": {"scope": "ui"}}),
            ),
            ok_with(
                "settings",
                Upsert,
                json!({"where": {"id": "lang"}, "create": {"value": "fr"}}),
                json!({"record": {"value": "en"}}),
            ),
            ok_with(
                "settings",
                BulkUpsert,
                json!({"data": [{"id": "theme", "value": "blue"}, {"id": "tz", "value": "UTC"}]}),
                json!({"inserted": 1, "updated": 1, "skipped": 0}),
            ),
            ok_with(
                "settings",
                BulkUpsert,
                json!({"data": [{"id": "tz", "value": "CET"}, {"id": "cur", "value": "EUR"}], "on_conflict": "skip"}),
                json!({"inserted": 1, "updated": 0, "skipped": 1}),
            ),
            ok_with(
                "settings",
                List,
                json!({"order_by": "id", "fields": ["value"]}),
                json!({"records": [{"id": "cur", "value": "EUR"}, {"id": "lang", "value": "en"},
                                   {"id": "theme", "value": "blue"}, {"id": "tz", "value": "UTC"}]}),
            ),
            ok_with(
                "items",
                BulkUpsert,
                json!({"data": [{"sku": "A-1", "name": "apple", "qty": 6}, {"sku": "I-1", "name": "ice", "qty": 2}],
                       "conflict_on": ["sku"]}),
                json!({"inserted": 1, "updated": 1, "skipped": 0}),
            ),
            ok_with(
                "items",
                Upsert,
                json!({"where": {"sku": "J-1"}, "create": {"name": "jackfruit", "qty": 9}}),
                json!({"action": "created", "record": {"sku": "J-1", "qty": 9, "active": true}}),
            ),
            ok_with(
                "books",
                Upsert,
                json!({"where": {"isbn": "333"}, "create": {"title": "Always Coming Home", "author_id": 1}}),
                json!({"action": "created", "record": {"title": "Always Coming Home", "author_id": 1}}),
            ),
            ok_with(
                "items",
                List,
                json!({"filter": {"sku": {"$in": ["A-1", "I-1", "J-1"]}}, "order_by": "sku", "fields": ["qty"]}),
                json!({"records": [{"qty": 6}, {"qty": 2}, {"qty": 9}]}),
            ),
            invalid(
                "items",
                BulkUpsert,
                json!({"data": [{"sku": "K-1", "name": "kiwi"}], "conflict_on": ["name"]}),
                "conflict_on",
            ),
            invalid("items", Upsert, json!({"where": {"qty": 5}}), "conflict_on"),
            invalid(
                "settings",
                Upsert,
                json!({"where": {"id": "x"}, "create": {"value": "a"}, "update": {"nope": 1}}),
                "update.nope",
            ),
            invalid(
                "settings",
                Upsert,
                json!({"create": {"value": "a"}}),
                "where",
            ),
            fails(
                "settings",
                Create,
                json!({"id": "theme", "value": "again"}),
                "conflict",
                Some("id"),
            ),
        ],
    }
}

fn bulk() -> Scenario {
    Scenario {
        name: "bulk edge cases",
        steps: vec![
            ok_with(
                "authors",
                BulkCreate,
                json!({"data": [{"name": "A. Author"}, {"name": "B. Author"}]}),
                json!({"inserted": 2, "skipped": 0, "errors": []}),
            ),
            ok_with(
                "authors",
                BulkCreate,
                json!({"data": [{"name": "A. Author"}, {"name": "C. Author"}], "on_conflict": "skip"}),
                json!({"inserted": 1, "skipped": 1, "errors": []}),
            ),
            fails(
                "authors",
                BulkCreate,
                json!({"data": [{"name": "D. Author"}, {"name": "C. Author"}]}),
                "conflict",
                Some("name"),
            ),
            ok_with(
                "authors",
                Count,
                json!({"filter": {"name": "D. Author"}}),
                json!({"count": 0}),
            ),
            ok_with(
                "items",
                BulkCreate,
                json!({"data": [{"sku": "B-1", "name": "banana split", "qty": 13}], "on_conflict": "update"}),
                json!({"errors": []}),
            ),
            ok_with(
                "items",
                Read,
                json!({"id": 2}),
                json!({"name": "banana split", "qty": 13, "sku": "B-1"}),
            ),
            ok_with(
                "authors",
                BulkCreate,
                json!({"data": [{"name": "E. Author"}, {"nme": "typo"}, {"name": "A. Author"}, {"name": 5},
                                "not an object", {"name": "F. Author"}],
                       "atomic": false}),
                json!({"inserted": 2, "errors": [{"index": 1}, {"index": 2}, {"index": 3}, {"index": 4}]}),
            ),
            ok_with(
                "authors",
                List,
                json!({"order_by": "name", "fields": ["name"]}),
                json!({"records": [{"name": "A. Author"}, {"name": "B. Author"}, {"name": "C. Author"},
                                   {"name": "E. Author"}, {"name": "F. Author"}, {"name": "Ursula K. Le Guin"}]}),
            ),
            ok_with(
                "authors",
                BulkCreate,
                json!({"data": []}),
                json!({"inserted": 0, "ids": []}),
            ),
            invalid(
                "items",
                BulkUpdate,
                json!({"filter": {}, "fields": {"qty": 1}}),
                "filter",
            ),
            invalid("items", BulkUpdate, json!({"fields": {"qty": 1}}), "filter"),
            ok_with(
                "items",
                BulkUpdate,
                json!({"filter": {}, "confirm_all": true, "fields": {"active": true}, "dry_run": true}),
                json!({"updated": 10, "dry_run": true}),
            ),
            ok_with(
                "items",
                Count,
                json!({"filter": {"active": false}}),
                json!({"count": 2}),
            ),
            invalid(
                "items",
                BulkUpdate,
                json!({"filter": {"color": "red"}, "fields": {"qty": 0}, "max_affected": 1}),
                "max_affected",
            ),
            ok_with(
                "items",
                List,
                json!({"filter": {"color": "red"}, "fields": ["qty"], "order_by": "id"}),
                json!({"records": [{"qty": 6}, {"qty": 0}]}),
            ),
            ok_with(
                "items",
                BulkUpdate,
                json!({"filter": {"color": "red"}, "fields": {"note": "red fruit"}, "max_affected": 2}),
                json!({"updated": 2}),
            ),
            invalid(
                "items",
                BulkUpdate,
                json!({"filter": {"color": "red"}, "fields": {}}),
                "fields",
            ),
            invalid("items", BulkDelete, json!({"filter": {}}), "filter"),
            invalid("items", BulkDelete, json!({}), "filter"),
            ok_with(
                "items",
                BulkDelete,
                json!({"filter": {"active": false}, "dry_run": true}),
                json!({"deleted": 2, "dry_run": true}),
            ),
            invalid(
                "items",
                BulkDelete,
                json!({"filter": {"qty": {"$lt": 2}}, "max_affected": 1}),
                "max_affected",
            ),
            ok_with(
                "items",
                BulkDelete,
                json!({"filter": {"sku": {"$in": ["C-1", "H_1"]}}, "max_affected": 2}),
                json!({"deleted": 2}),
            ),
            ok_with("items", Count, json!({}), json!({"count": 8})),
            ok_with(
                "books",
                BulkDelete,
                json!({"filter": {}, "confirm_all": true}),
                json!({"deleted": 2}),
            ),
            ok_with("books", Count, json!({}), json!({"count": 0})),
            ok_with(
                "books",
                Count,
                json!({"include_deleted": true}),
                json!({"count": 3}),
            ),
            ok_with(
                "settings",
                BulkDelete,
                json!({"filter": {"id": {"$in": ["tz", "cur"]}}, "dry_run": true}),
                json!({"deleted": 2, "dry_run": true}),
            ),
            ok_with(
                "settings",
                BulkUpsert,
                json!({"data": [{"id": "tz", "value": "PST"}, {"id": "new", "value": "n"}], "dry_run": true}),
                json!({"inserted": 1, "updated": 1, "dry_run": true}),
            ),
            ok_with(
                "settings",
                BulkCreate,
                json!({"data": [{"id": "a", "value": "1"}], "dry_run": true}),
                json!({"inserted": 1, "dry_run": true}),
            ),
            ok_with(
                "settings",
                List,
                json!({"order_by": "id", "fields": ["value"]}),
                json!({"records": [{"id": "cur"}, {"id": "lang"}, {"id": "theme"}, {"id": "tz", "value": "UTC"}]}),
            ),
        ],
    }
}

fn bad_input() -> Scenario {
    Scenario {
        name: "bad input",
        steps: vec![
            invalid(
                "books",
                Create,
                json!({"title": "X", "colour": "red"}),
                "colour",
            ),
            invalid("books", Create, json!({}), "title"),
            invalid("books", Create, json!({"title": 5}), "title"),
            invalid(
                "books",
                Create,
                json!({"title": "X", "pages": "many"}),
                "pages",
            ),
            invalid(
                "books",
                Create,
                json!({"title": "X", "pages": 1.5}),
                "pages",
            ),
            invalid(
                "books",
                Create,
                json!({"title": "X", "state": "lost"}),
                "state",
            ),
            invalid("books", Create, json!({"title": "X", "id": 5}), "id"),
            invalid(
                "books",
                Create,
                json!({"title": "X", "created_at": "2020-01-01T00:00:00Z"}),
                "created_at",
            ),
            invalid("books", Create, json!({"title": "X".repeat(201)}), "title"),
            // The databases do not say which reference broke, so the error names no field.
            fails(
                "books",
                Create,
                json!({"title": "X", "author_id": 999}),
                "conflict",
                None,
            ),
            fails(
                "authors",
                Create,
                json!({"name": "Ursula K. Le Guin"}),
                "conflict",
                Some("name"),
            ),
            fails("books", Read, json!({"id": 999}), "not_found", None),
            fails(
                "settings",
                Read,
                json!({"id": "missing"}),
                "not_found",
                None,
            ),
            invalid("books", Read, json!({"id": "abc"}), "id"),
            invalid("books", Read, json!({"id": 1.5}), "id"),
            invalid("books", Read, json!({"id": true}), "id"),
            invalid("books", Read, json!({"id": 1, "frob": true}), "frob"),
            invalid(
                "books",
                Read,
                json!({"id": 1, "include_deleted": "yes"}),
                "include_deleted",
            ),
            fails(
                "books",
                Update,
                json!({"id": 999, "fields": {"pages": 1}}),
                "not_found",
                None,
            ),
            invalid("books", Update, json!({"id": 1, "fields": {}}), "fields"),
            invalid("books", Update, json!({"id": 1}), "fields"),
            invalid("books", Update, json!({"id": 1, "fields": [1]}), "fields"),
            invalid(
                "books",
                Update,
                json!({"id": 1, "fields": {"nope": 1}}),
                "fields.nope",
            ),
            invalid(
                "books",
                Update,
                json!({"id": 1, "fields": {"pages": "x"}}),
                "fields.pages",
            ),
            invalid("books", Delete, json!({"id": "x"}), "id"),
            invalid("books", List, json!({"filter": {"nope": 1}}), "filter.nope"),
            invalid(
                "books",
                List,
                json!({"filter": {"pages": {"$near": 3}}}),
                "filter.pages.$near",
            ),
            invalid(
                "books",
                List,
                json!({"filter": {"pages": {"$gt": "many"}}}),
                "filter.pages.$gt",
            ),
            invalid(
                "books",
                List,
                json!({"filter": {"$or": {"pages": 1}}}),
                "filter.$or",
            ),
            invalid(
                "books",
                List,
                json!({"filter": {"tags": {"$eq": "sf"}}}),
                "filter.tags.$eq",
            ),
            invalid(
                "books",
                List,
                json!({"filter": {"title": {"$in": "x"}}}),
                "filter.title.$in",
            ),
            invalid("books", List, json!({"filter": "{not json"}), "filter"),
            invalid("books", List, json!({"frob": 1}), "frob"),
            invalid("books", List, json!({"limit": "ten"}), "limit"),
            invalid("books", List, json!({"limit": -1}), "limit"),
            invalid("books", List, json!({"offset": 2.5}), "offset"),
            invalid("books", List, json!({"count": 1}), "count"),
            invalid(
                "books",
                List,
                json!({"filter": {"$not": [{"pages": 1}]}}),
                "filter.$not",
            ),
            invalid(
                "books",
                BulkDelete,
                json!({"filter": {"pages": 1}, "max_affected": "many"}),
                "max_affected",
            ),
            invalid(
                "books",
                BulkUpdate,
                json!({"filter": {"pages": 1}}),
                "fields",
            ),
            invalid(
                "books",
                BulkUpdate,
                json!({"filter": {"pages": 1}, "fields": "pages=1"}),
                "fields",
            ),
            invalid(
                "books",
                Create,
                json!({"title": "nul \u{0} inside"}),
                "title",
            ),
            invalid(
                "books",
                Count,
                json!({"filter": {"title": {"$regex": "("}}}),
                "filter.title.$regex",
            ),
            invalid("books", BulkCreate, json!({"data": {}}), "data"),
            invalid(
                "books",
                BulkCreate,
                json!({"data": [{"title": "ok"}], "frob": true}),
                "frob",
            ),
            invalid(
                "books",
                BulkCreate,
                json!({"data": [{"title": "ok"}], "on_conflict": "explode"}),
                "on_conflict",
            ),
            invalid(
                "books",
                BulkCreate,
                json!({"data": [{"title": "ok"}, {"title": "bad", "pages": "x"}]}),
                "data[1].pages",
            ),
            invalid(
                "books",
                BulkUpdate,
                json!({"filter": {"pages": 1}, "fields": {"pages": "x"}}),
                "fields.pages",
            ),
            invalid(
                "books",
                BulkDelete,
                json!({"filter": {"nope": 1}}),
                "filter.nope",
            ),
            invalid(
                "books",
                BulkUpsert,
                json!({"data": [{"title": "t"}], "conflict_on": ["title"]}),
                "conflict_on",
            ),
            invalid(
                "settings",
                BulkUpsert,
                json!({"data": [{"id": "x", "value": "v", "nope": 1}]}),
                "data[0].nope",
            ),
        ],
    }
}

/// Text that needs escaping (in paths, arguments and JSON), integers past 2^53, nested JSON,
/// empty strings, and filters at their edges.
fn values() -> Scenario {
    let key = "ключ/🔑 ?#%20&x=1";
    let text = "línea 1\nlínea 2 \"quoted\" \\ tab\t";
    Scenario {
        name: "values",
        steps: vec![
            ok_with(
                "settings",
                Create,
                json!({"id": key, "value": text}),
                json!({"id": key, "value": text}),
            ),
            ok_with(
                "settings",
                Read,
                json!({ "id": key }),
                json!({"value": text}),
            ),
            ok_with(
                "settings",
                Update,
                json!({"id": key, "fields": {"scope": "ü"}}),
                json!({"id": key, "scope": "ü"}),
            ),
            ok_with(
                "settings",
                List,
                json!({"filter": {"id": {"$startswith": "ключ/🔑 ?#%"}}, "fields": "scope"}),
                json!({"records": [{"id": key, "scope": "ü"}]}),
            ),
            ok_with(
                "settings",
                Delete,
                json!({ "id": key }),
                json!({"id": key, "deleted": true}),
            ),
            ok_with(
                "books",
                Create,
                json!({"title": "Big", "pages": 9_007_199_254_740_993_i64, "rating": 0.300_000_000_000_000_04,
                       "tags": {"nested": [1, {"a": null}], "ü": "✓"}}),
                json!({"pages": 9_007_199_254_740_993_i64, "rating": 0.300_000_000_000_000_04}),
            ),
            ok_with(
                "books",
                List,
                json!({"filter": {"pages": {"$gt": 9_007_199_254_740_992_i64}}, "fields": ["pages"]}),
                json!({"records": [{"pages": 9_007_199_254_740_993_i64}]}),
            ),
            ok_with("books", Create, json!({"title": ""}), json!({"title": ""})),
            ok_with(
                "books",
                List,
                json!({"filter": {"title": ""}, "fields": ["title"]}),
                json!({"records": [{"title": ""}]}),
            ),
            ok_with(
                "books",
                Count,
                json!({"filter": {"tags": {"$null": false}}}),
                json!({"count": 2}),
            ),
            ok_with(
                "items",
                List,
                json!({"filter": {"sku": {"$in": []}}}),
                json!({"records": []}),
            ),
            ok_with(
                "items",
                Count,
                json!({"filter": {"sku": {"$nin": []}}}),
                json!({"count": 8}),
            ),
            ok("items", Count, json!({"filter": {"$and": []}})),
            ok("items", Count, json!({"filter": {"$or": []}})),
        ],
    }
}

/// Imports larger than the CLI's batch (1000 records): it sends them in batches and merges the
/// results, which must equal the one call of the other channels.
fn large_import() -> Scenario {
    let records = |from: usize, to: usize| -> Vec<Value> {
        (from..to)
            .map(|i| json!({"id": format!("k{i:04}"), "value": i.to_string()}))
            .collect()
    };
    let mut with_errors = records(0, 1500);
    with_errors[300] = json!({"id": "theme", "value": "taken"});
    with_errors[1200] = json!({"id": "k1200", "valu": "typo"});
    Scenario {
        name: "large import",
        steps: vec![
            ok_with(
                "settings",
                BulkCreate,
                json!({"data": with_errors, "atomic": false}),
                json!({"inserted": 1498, "skipped": 0,
                       "errors": [{"index": 300, "error": {"code": "conflict"}},
                                  {"index": 1200, "error": {"code": "validation", "field": "data[1200].valu"}}]}),
            ),
            ok_with(
                "settings",
                BulkUpsert,
                json!({"data": records(1000, 2500), "on_conflict": "skip"}),
                json!({"inserted": 1001, "updated": 0, "skipped": 499}),
            ),
            ok_with(
                "settings",
                BulkCreate,
                json!({"data": records(3000, 4100), "dry_run": true}),
                json!({"inserted": 1100, "dry_run": true}),
            ),
            ok_with(
                "settings",
                Count,
                json!({"filter": {"id": {"$like": "k%"}}}),
                json!({"count": 2499}),
            ),
        ],
    }
}

/// Workflows: a synchronous run (three nodes, two connections), a node that fails (named in the
/// error), bad inputs, a text input that reads as JSON, a transactional run rolled back and one
/// committed, and a transform.
fn workflows() -> Scenario {
    let long = "x".repeat(201);
    Scenario {
        name: "workflows",
        steps: vec![
            run(
                "add_book",
                json!({"author": "Octavia Butler", "title": "Kindred"}),
                json!({
                    "workflow": "add_book", "status": "completed", "skipped": [],
                    "results": {
                        "author": {"name": "Octavia Butler"},
                        "book": {"title": "Kindred", "pages": 100, "tags": ["new"]},
                        "count": {"count": 1},
                    },
                }),
            ),
            ok("books", Read, json!({"id": "{{0.results.book.id}}"})),
            // The author exists: the first node fails, nothing after it runs.
            run_fails(
                "add_book",
                json!({"author": "Octavia Butler", "title": "Dawn"}),
                "conflict",
                "nodes.author.params.name",
            ),
            run_fails(
                "add_book",
                json!({"author": "Nobody"}),
                "validation",
                "inputs.title",
            ),
            run_fails(
                "add_book",
                json!({"author": "Nobody", "title": "T", "pages": "many"}),
                "validation",
                "inputs.pages",
            ),
            run_fails(
                "add_book",
                json!({"author": "Nobody", "title": "T", "colour": "red"}),
                "validation",
                "inputs.colour",
            ),
            ok_with(
                "authors",
                Count,
                json!({"filter": {"name": "Nobody"}}),
                json!({"count": 0}),
            ),
            run(
                "add_book",
                json!({"author": "George Orwell", "title": "1984", "pages": 328}),
                json!({"results": {"book": {"title": "1984", "pages": 328}}}),
            ),
            // One transaction: the book fails, the author's insert is rolled back.
            run_fails(
                "add_book_tx",
                json!({"author": "Rolled Back", "title": long}),
                "validation",
                "nodes.book.params.title",
            ),
            ok_with(
                "authors",
                Count,
                json!({"filter": {"name": "Rolled Back"}}),
                json!({"count": 0}),
            ),
            run(
                "add_book_tx",
                json!({"author": "Committed", "title": "Kept"}),
                json!({"results": {"author": {"name": "Committed"}, "book": {"title": "Kept"}}}),
            ),
            run(
                "titles_of",
                json!({"author_id": "{{0.results.author.id}}"}),
                json!({"results": {"titles": ["Kindred"]}}),
            ),
        ],
    }
}

/// Everything every table holds at the end, tombstones included: the failed steps above
/// changed nothing, and the same on every channel.
fn final_state() -> Scenario {
    let all = |table: &'static str| ok(table, List, json!({"limit": 1000, "order_by": "id"}));
    Scenario {
        name: "final state",
        steps: vec![
            all("authors"),
            ok(
                "books",
                List,
                json!({"limit": 1000, "order_by": "id", "include_deleted": true}),
            ),
            all("items"),
            all("settings"),
            ok("settings", Count, json!({})),
        ],
    }
}

/// The whole table, in order.
pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        crud(),
        expand(),
        soft_delete(),
        filters(),
        list(),
        upserts(),
        bulk(),
        bad_input(),
        values(),
        large_import(),
        workflows(),
        final_state(),
    ]
}
