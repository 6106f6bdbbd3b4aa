//! `expand` on read and list (DESIGN 13.10, issue 14): relations from references, both ways, on
//! every database, and one statement per relation whatever the number of records.

mod common;

use common::Backend;
use flowgate::{Context, FieldDef, ModelDef, OnDelete, OpKind, Store};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn models() -> Vec<ModelDef> {
    vec![
        ModelDef::new("Author").field(FieldDef::string("name").max_length(80)),
        ModelDef::new("Book")
            .soft_delete()
            .field(FieldDef::string("title").max_length(80))
            .field(
                FieldDef::integer("author_id")
                    .references("Author")
                    .on_delete(OnDelete::Cascade),
            )
            .field(
                FieldDef::integer("editor_id")
                    .references("Author")
                    .optional()
                    .on_delete(OnDelete::SetNull),
            ),
    ]
}

async fn run(store: &Store, model: &str, op: OpKind, params: Value) -> flowgate::Result<Value> {
    let m = store.model(model).unwrap();
    store.run(&Context::internal(), &m, op, &params).await
}

/// Authors ada and bob; ada wrote three books (one deleted), bob one, which ada edited.
async fn seed(store: &Store) -> (Value, Value) {
    let ada = run(store, "Author", OpKind::Create, json!({"name": "ada"}))
        .await
        .unwrap();
    let bob = run(store, "Author", OpKind::Create, json!({"name": "bob"}))
        .await
        .unwrap();
    for title in ["a1", "a2", "a3"] {
        run(
            store,
            "Book",
            OpKind::Create,
            json!({"title": title, "author_id": ada["id"]}),
        )
        .await
        .unwrap();
    }
    let gone = run(
        store,
        "Book",
        OpKind::Create,
        json!({"title": "gone", "author_id": ada["id"]}),
    )
    .await
    .unwrap();
    run(store, "Book", OpKind::Delete, json!({"id": gone["id"]}))
        .await
        .unwrap();
    run(
        store,
        "Book",
        OpKind::Create,
        json!({"title": "b1", "author_id": bob["id"], "editor_id": ada["id"]}),
    )
    .await
    .unwrap();
    (ada, bob)
}

fn titles(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|b| b["title"].as_str().unwrap())
        .collect()
}

async fn relations_expand(b: Backend) {
    let Some(store) = common::store(b, models()).await else {
        return;
    };
    let (ada, bob) = seed(&store).await;

    // Belongs-to: each book with its author (and its editor, or null).
    let books = run(
        &store,
        "Book",
        OpKind::List,
        json!({"expand": ["author", "editor"], "order_by": "title"}),
    )
    .await
    .unwrap();
    let records = books["records"].as_array().unwrap();
    assert_eq!(records.len(), 4, "{books}");
    assert_eq!(records[0]["author"]["name"], "ada");
    assert_eq!(records[0]["editor"], Value::Null);
    assert_eq!(records[3]["title"], "b1");
    assert_eq!(records[3]["author"]["name"], "bob");
    assert_eq!(records[3]["editor"]["id"], ada["id"]);

    // Has-many, both relations to Author; the deleted book is left out.
    let authors = run(
        &store,
        "Author",
        OpKind::List,
        json!({"expand": "books_by_author,books_by_editor", "order_by": "name"}),
    )
    .await
    .unwrap();
    let a = &authors["records"][0];
    assert_eq!(titles(&a["books_by_author"]), ["a1", "a2", "a3"]);
    assert_eq!(titles(&a["books_by_editor"]), ["b1"]);
    let b_ = &authors["records"][1];
    assert_eq!(titles(&b_["books_by_author"]), ["b1"]);
    assert_eq!(b_["books_by_editor"], json!([]));

    // A read, with at most `expand_limit` per parent (the first by id).
    let one = run(
        &store,
        "Author",
        OpKind::Read,
        json!({"id": ada["id"], "expand": ["books_by_author"], "expand_limit": 2}),
    )
    .await
    .unwrap();
    assert_eq!(titles(&one["books_by_author"]), ["a1", "a2"]);
    assert_eq!(one["name"], "ada");

    // Bad input names `expand` (or `expand_limit`) and what is wrong.
    for (params, field, words) in [
        (
            json!({"expand": ["writer"]}),
            "expand",
            "unknown relation `writer` of model Book (relations: author, editor)",
        ),
        (json!({"expand": 3}), "expand", "a list of relation names"),
        (
            json!({"expand": ["author"], "expand_limit": 0}),
            "expand_limit",
            "from 1 to 100",
        ),
        (
            json!({"expand": ["author"], "fields": ["title"]}),
            "expand",
            "needs `author_id`",
        ),
    ] {
        let err = run(&store, "Book", OpKind::List, params.clone())
            .await
            .unwrap_err();
        assert_eq!(err.field(), Some(field), "{params}: {err}");
        assert!(err.to_string().contains(words), "{params}: {err}");
    }
    let err = run(&store, "Book", OpKind::Count, json!({"expand": ["author"]}))
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("expand"), "{err}");
    let _ = bob;
}

conformance!(relations_expand);

/// Counts the statements the store logs (`echo`, target `flowgate::sql`).
struct Statements(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Statements {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "flowgate::sql" {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A page of 20 books with their authors, and 20 authors with their books: the page's
/// statement and one per relation, never one per record.
async fn one_statement_per_relation(b: Backend) {
    use tracing_subscriber::layer::SubscriberExt as _;
    let Some(url) = common::fresh_url(b).await else {
        return;
    };
    let mut cfg = flowgate::StoreConfig::new(url);
    cfg.pool_size = 2;
    cfg.echo = true;
    let store = Store::connect(&cfg, flowgate::Schema::new(models()).unwrap())
        .await
        .unwrap();
    store.create_tables().await.unwrap();
    let mut authors = Vec::new();
    for i in 0..20 {
        let a = run(
            &store,
            "Author",
            OpKind::Create,
            json!({"name": format!("a{i:02}")}),
        )
        .await
        .unwrap();
        authors.push(a["id"].clone());
    }
    let books: Vec<Value> = (0..60)
        .map(|i| json!({"title": format!("t{i:02}"), "author_id": authors[i % 20]}))
        .collect();
    run(&store, "Book", OpKind::BulkCreate, json!({"data": books}))
        .await
        .unwrap();

    let count = Arc::new(AtomicUsize::new(0));
    let subscriber = tracing_subscriber::registry().with(Statements(count.clone()));
    let _guard = tracing::subscriber::set_default(subscriber);
    let statements = |f: &AtomicUsize| f.swap(0, Ordering::Relaxed);
    statements(&count);
    let plain = run(&store, "Book", OpKind::List, json!({"limit": 20}))
        .await
        .unwrap();
    let page = statements(&count);
    let expanded = run(
        &store,
        "Book",
        OpKind::List,
        json!({"limit": 20, "expand": ["author", "editor"]}),
    )
    .await
    .unwrap();
    assert_eq!(expanded["records"].as_array().unwrap().len(), 20);
    // `editor` is null on every book: no statement for it.
    assert_eq!(statements(&count), page + 1, "{plain}");
    // A relation named again and again is still read once.
    let names: Vec<&str> = ["author", "editor"].repeat(500);
    run(
        &store,
        "Book",
        OpKind::List,
        json!({"limit": 20, "expand": names}),
    )
    .await
    .unwrap();
    assert_eq!(statements(&count), page + 1);
    run(
        &store,
        "Author",
        OpKind::List,
        json!({"limit": 20, "expand": ["books_by_author", "books_by_editor"]}),
    )
    .await
    .unwrap();
    assert_eq!(statements(&count), page + 2);
}

#[tokio::test]
async fn one_statement_per_relation_sqlite() {
    one_statement_per_relation(Backend::Sqlite).await;
}

#[tokio::test]
async fn one_statement_per_relation_postgres() {
    one_statement_per_relation(Backend::Postgres).await;
}

#[tokio::test]
async fn one_statement_per_relation_mysql() {
    one_statement_per_relation(Backend::MySql).await;
}
