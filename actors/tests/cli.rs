//! The CLI channel, running the real `flowgate` binary: data-plane commands for every operation
//! in local mode on a SQLite file (models from a TOML schema file), their JSON, exit codes, a
//! CSV import and batches; remote mode against a server started in-process, giving the same
//! JSON as local mode for the same commands; workflows (`flowgate run NAME --param k=v`,
//! `flowgate workflows list|show|apply|run`) locally and remotely; PostgreSQL local mode when
//! `FLOWGATE_TEST_POSTGRES_URL` is set.
//!
//! No timing assertions: every child process gets a bounded wait.
#![allow(missing_docs)]

mod support;

use flowgate_actors::Supervisor;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::process::Command;

const WAIT: Duration = Duration::from_secs(30);

const SCHEMA: &str = r#"
[models.Author]
fields.name = { type = "string", max_length = 120, unique = true }

[models.Book]
description = "A book on the shelf"
soft_delete = true
fields.title     = { type = "string", max_length = 200, description = "The book's title" }
fields.isbn      = { type = "string", unique = true, optional = true }
fields.pages     = { type = "integer", optional = true }
fields.rating    = { type = "float", optional = true }
fields.in_print  = { type = "boolean", default = true }
fields.tags      = { type = "json", default = [] }
fields.state     = { type = "enum", values = ["draft", "published"], default = "draft" }
fields.author_id = { type = "integer", references = "Author", optional = true }
"#;

const BOOKS_CSV: &str = "title,pages,rating,in_print,tags,state\n\
Neuromancer,271,4.2,yes,\"[\"\"cyber\"\"]\",draft\n\
Hyperion,482,,,,\n\
Solaris,,3.9,false,,published\n";

/// A fresh directory with the schema file and the CSV file in it.
fn temp_dir() -> PathBuf {
    let dir = support::temp_dir("cli");
    std::fs::write(dir.join("models.toml"), SCHEMA).unwrap();
    std::fs::write(dir.join("books.csv"), BOOKS_CSV).unwrap();
    dir
}

fn sqlite_url(dir: &Path, name: &str) -> String {
    format!("sqlite://{}", dir.join(name).display())
}

/// One finished `flowgate` run.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Stdout as JSON (the command must have succeeded).
    fn json(&self) -> Value {
        assert_eq!(self.code, 0, "{self:#?}");
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }

    /// The error object on stderr (its last line: `{"error": {...}}`).
    fn error(&self) -> Value {
        let line = self.stderr.lines().last().unwrap_or_default();
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("stderr does not end in JSON ({e}): {self:#?}"));
        v["error"].clone()
    }

    /// What a comparison of channels looks at: the exit code and the JSON result or error.
    fn outcome(&self) -> Value {
        match self.code {
            0 => json!({"code": 0, "out": normalize(self.json())}),
            2 => json!({"code": 2}),
            code => json!({"code": code, "error": self.error()}),
        }
    }
}

/// The binary with a clean environment (no DATABASE_URL, FLOWGATE_* or proxies from outside).
fn flowgate(dir: &Path) -> Command {
    let mut cmd = support::flowgate(dir, "warn");
    cmd.stdin(std::process::Stdio::null());
    cmd
}

async fn run(dir: &Path, args: &[&str]) -> Run {
    let out = tokio::time::timeout(WAIT, flowgate(dir).args(args).output())
        .await
        .unwrap_or_else(|_| panic!("flowgate {args:?} did not finish within {WAIT:?}"))
        .expect("run flowgate");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Timestamps and cursors differ between two databases; everything else must not.
fn normalize(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    let stamp = ["created_at", "updated_at", "deleted_at", "next_cursor"]
                        .contains(&k.as_str());
                    if stamp && !x.is_null() {
                        *x = json!("<varies>");
                    } else {
                        walk(x);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

/// Where commands run: local-mode or remote-mode arguments.
#[derive(Clone)]
struct Target {
    dir: PathBuf,
    args: Vec<String>,
}

impl Target {
    fn local(dir: &Path, url: &str) -> Target {
        Target {
            dir: dir.to_path_buf(),
            args: vec![
                "--database-url".into(),
                url.into(),
                "--models".into(),
                dir.join("models.toml").display().to_string(),
            ],
        }
    }

    fn remote(dir: &Path, addr: std::net::SocketAddr) -> Target {
        Target {
            dir: dir.to_path_buf(),
            args: vec!["--server".into(), format!("http://{addr}")],
        }
    }

    async fn run(&self, args: &[&str]) -> Run {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(self.args.iter().map(String::as_str));
        run(&self.dir, &all).await
    }
}

/// The scenario both modes run: every operation, with typed flags, `--data`, a CSV import,
/// filters, guards, dry runs, and the errors each exit code stands for.
const SCENARIO: &[&[&str]] = &[
    &["authors", "create", "--name", "Frank Herbert"],
    &[
        "books",
        "create",
        "--title",
        "Dune",
        "--pages",
        "412",
        "--rating",
        "4.5",
        "--in-print",
        "false",
        "--tags",
        r#"["sf","classic"]"#,
        "--state",
        "published",
        "--author-id",
        "1",
        "--isbn",
        "978-0441",
    ],
    &["books", "read", "1"],
    &["books", "update", "1", "--pages", "413"],
    &[
        "books",
        "create",
        "--data",
        r#"{"title":"Emma","pages":320}"#,
    ],
    &["books", "bulk-create", "--data", "@books.csv"],
    &[
        "books",
        "list",
        "--filter",
        r#"{"pages":{"$gt":300}}"#,
        "--order-by",
        "-pages",
        "--limit",
        "2",
        "--count",
    ],
    &[
        "books",
        "list",
        "--fields",
        "id,title",
        "--order-by",
        "id",
        "--limit",
        "10",
        "--offset",
        "1",
    ],
    &["books", "count", "--filter", r#"{"state":"published"}"#],
    &[
        "books",
        "upsert",
        "--where",
        r#"{"isbn":"111"}"#,
        "--title",
        "Foundation",
        "--pages",
        "255",
    ],
    &[
        "books",
        "upsert",
        "--where",
        r#"{"isbn":"111"}"#,
        "--pages",
        "256",
    ],
    &[
        "books",
        "bulk-update",
        "--filter",
        r#"{"pages":{"$lt":300}}"#,
        "--state",
        "published",
        "--max-affected",
        "10",
    ],
    &["books", "bulk-update", "--in-print", "true"],
    &[
        "books",
        "bulk-update",
        "--filter",
        r#"{"pages":{"$gt":0}}"#,
        "--in-print",
        "true",
        "--max-affected",
        "1",
    ],
    &[
        "books",
        "bulk-update",
        "--filter",
        "{}",
        "--confirm-all",
        "--in-print",
        "true",
        "--dry-run",
    ],
    &[
        "books",
        "bulk-delete",
        "--filter",
        r#"{"title":"Solaris"}"#,
        "--dry-run",
    ],
    &[
        "books",
        "bulk-upsert",
        "--data",
        r#"[{"isbn":"111","title":"Foundation","pages":300},{"isbn":"222","title":"Ubik"}]"#,
        "--conflict-on",
        "isbn",
    ],
    &["books", "delete", "2"],
    &["books", "read", "2"],
    &["books", "read", "2", "--include-deleted"],
    &["books", "create", "--title", "Dup", "--isbn", "222"],
    &["books", "create", "--pages", "3"],
    &[
        "books",
        "bulk-delete",
        "--filter",
        r#"{"isbn":{"$in":["111","222"]}}"#,
    ],
    &[
        "node",
        "BookCountNode",
        "--params",
        r#"{"filter":{"state":"published"}}"#,
    ],
    &[
        "books",
        "bulk-create",
        "--data",
        r#"[{"title":"X"},{"title":"Y"},{"titel":"Z"}]"#,
        "--atomic",
        "false",
    ],
    &["books", "read", "999"],
    &["node", "BookFrobNode"],
    &["books", "create", "--title", "Bad", "--pages", "many"],
    &["models", "show", "books"],
    &["models", "list"],
];

async fn run_scenario(target: &Target) -> Vec<Run> {
    let mut out = Vec::new();
    for args in SCENARIO {
        let mut with_json = args.to_vec();
        with_json.push("--json");
        out.push(target.run(&with_json).await);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_mode_runs_every_operation() {
    let dir = temp_dir();
    let url = sqlite_url(&dir, "local.db");
    let local = Target::local(&dir, &url);
    let models_arg = dir.join("models.toml").display().to_string();

    // Before anything is persisted: the board shows the pending migrations and exits 6.
    let status = run(
        &dir,
        &["status", "--database-url", &url, "--models", &models_arg],
    )
    .await;
    assert_eq!(status.code, 6, "{status:#?}");
    let board: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(board["ready"], false);
    assert_eq!(
        board["features"]["model:Book"]["state"], "pending",
        "{board:#}"
    );

    let runs = run_scenario(&local).await;
    let r = |i: usize| &runs[i];
    let dune = r(1).json();
    assert_eq!(dune["id"], 1);
    assert_eq!(dune["pages"], 412, "flags are typed: {dune:#}");
    assert_eq!(dune["rating"], 4.5);
    assert_eq!(dune["in_print"], false);
    assert_eq!(dune["tags"], json!(["sf", "classic"]));
    assert_eq!(dune["state"], "published");
    assert_eq!(dune["author_id"], 1);
    assert_eq!(r(2).json()["title"], "Dune");
    assert_eq!(r(3).json()["pages"], 413);
    assert_eq!(r(4).json()["id"], 2);

    // The CSV import, typed by the model.
    let imported = r(5).json();
    assert_eq!(imported["inserted"], 3, "{imported:#}");
    assert_eq!(imported["ids"], json!([3, 4, 5]));
    let page = r(6).json();
    let titles: Vec<&str> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Hyperion", "Dune"], "{page:#}");
    assert_eq!(page["count"], 3);
    assert!(page["next_cursor"].is_string(), "{page:#}");
    let fields = r(7).json();
    assert_eq!(
        fields["records"][0],
        json!({"id": 2, "title": "Emma"}),
        "{fields:#}"
    );
    assert_eq!(fields["records"].as_array().unwrap().len(), 4);
    assert_eq!(r(8).json(), json!({"count": 2}));
    let neuromancer = run(
        &dir,
        &[
            "books",
            "read",
            "3",
            "--json",
            "--database-url",
            &url,
            "--models",
            &models_arg,
        ],
    )
    .await
    .json();
    assert_eq!(neuromancer["pages"], 271);
    assert_eq!(neuromancer["rating"], 4.2);
    assert_eq!(neuromancer["in_print"], true);
    assert_eq!(neuromancer["tags"], json!(["cyber"]));

    // Upsert: created, then updated.
    let created = r(9).json();
    assert_eq!(created["action"], "created");
    assert_eq!(created["record"]["pages"], 255);
    let updated = r(10).json();
    assert_eq!(updated["action"], "updated");
    assert_eq!(updated["record"]["pages"], 256);
    assert_eq!(updated["record"]["title"], "Foundation");

    // Bulk writes and their guards.
    assert_eq!(r(11).json(), json!({"updated": 2}));
    assert_eq!(r(12).code, 3, "an empty filter is refused: {:#?}", r(12));
    assert_eq!(r(12).error()["field"], "filter");
    assert_eq!(r(13).code, 3, "{:#?}", r(13));
    assert_eq!(r(13).error()["field"], "max_affected");
    assert_eq!(r(14).json(), json!({"updated": 6, "dry_run": true}));
    assert_eq!(r(15).json(), json!({"deleted": 1, "dry_run": true}));
    assert_eq!(
        r(16).json(),
        json!({"inserted": 1, "updated": 1, "skipped": 0})
    );

    // Delete, not found, soft-deleted reads, conflict, validation.
    assert_eq!(r(17).json(), json!({"id": 2, "deleted": true}));
    assert_eq!(r(18).code, 4, "{:#?}", r(18));
    assert_eq!(r(18).error()["code"], "not_found");
    assert!(r(19).json()["deleted_at"].is_string());
    assert_eq!(r(20).code, 5, "{:#?}", r(20));
    assert_eq!(r(20).error()["code"], "conflict");
    assert_eq!(r(21).code, 3, "{:#?}", r(21));
    assert_eq!(r(21).error()["field"], "title");
    assert_eq!(r(22).json(), json!({"deleted": 2}));
    assert_eq!(r(23).json(), json!({"count": 3}));
    let partial = r(24).json();
    assert_eq!(partial["inserted"], 2, "{partial:#}");
    assert_eq!(partial["errors"][0]["index"], 2);
    assert_eq!(partial["errors"][0]["error"]["field"], "data[2].titel");
    assert_eq!(r(25).code, 4);
    assert_eq!(r(26).code, 4, "an unknown node: {:#?}", r(26));
    assert_eq!(
        r(27).code,
        2,
        "a flag value of the wrong type: {:#?}",
        r(27)
    );
    assert!(r(27).stderr.contains("--pages"), "{:#?}", r(27));
    let shown = r(28).json();
    assert_eq!(shown["name"], "Book");
    assert_eq!(shown["version"], 1);
    let title = shown["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "title")
        .unwrap();
    assert_eq!(
        *title,
        json!({"name": "title", "role": "field", "type": "string", "max_length": 200, "description": "The book's title"})
    );
    let listed = r(29).json();
    assert_eq!(listed["models"][1]["table"], "books", "{listed:#}");

    // Usage errors exit 2.
    let usage: [&[&str]; 5] = [
        &["books", "frob"],
        &["books", "create", "--no-such-flag", "x"],
        &["books", "create", "--state", "lost"],
        &["books", "create", "--data", "@missing.json"],
        &["books", "create", "--data", "{not json"],
    ];
    let outs = futures_util::future::join_all(usage.iter().map(|args| local.run(args))).await;
    for (args, out) in usage.iter().zip(outs) {
        assert_eq!(out.code, 2, "{args:?}: {out:#?}");
    }

    // Tables for people, help from the model's descriptions, the board, completions.
    let (table, help, about, status, completions) = tokio::join!(
        local.run(&["books", "read", "1", "--table"]),
        local.run(&["books", "create", "--help"]),
        local.run(&["books", "--help"]),
        local.run(&["status", "--json"]),
        run(&dir, &["completions", "bash"]),
    );
    assert_eq!(table.code, 0, "{table:#?}");
    assert!(
        table.stdout.contains("Dune") && table.stdout.contains('│'),
        "{}",
        table.stdout
    );
    assert_eq!(help.code, 0, "{help:#?}");
    for text in [
        "--title <TEXT>",
        "The book's title",
        "--author-id <INT>",
        "draft, published",
    ] {
        assert!(help.stdout.contains(text), "{text}: {}", help.stdout);
    }
    assert!(about.stdout.contains("A book on the shelf"), "{about:#?}");
    assert!(about.stdout.contains("bulk-upsert"), "{about:#?}");
    assert_eq!(status.code, 0, "{status:#?}");
    assert_eq!(status.json()["features"]["model:Book"]["version"], 1);
    assert_eq!(completions.code, 0);
    assert!(completions.stdout.contains("flowgate"), "{completions:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A server on its own SQLite file, started in-process; gives its handle.
async fn server(dir: &Path, db: &str) -> flowgate_actors::Handle {
    let handle = Supervisor::builder()
        .database_url(&sqlite_url(dir, db))
        .http_port(0)
        .mcp_port(0)
        .model_file(dir.join("models.toml"))
        .start()
        .await
        .expect("server starts");
    assert!(
        handle.wait_ready(WAIT).await,
        "{:#}",
        handle.board().to_json()
    );
    handle
}

const ADD_BOOK: &str = "\
name: add_book
inputs:
  author: string
  title: string
nodes:
  - {id: author, type: AuthorCreateNode, params: {name: \"${author}\"}}
  - {id: book, type: BookCreateNode, params: {title: \"${title}\"}}
connections:
  - {from: author, output: id, to: book, input: author_id}
";

const COUNT_BOOKS: &str = "\
name = \"count_books\"
[[nodes]]
id = \"n\"
type = \"BookCountNode\"
params = {}
";

/// A workflow result with its run id masked and its timestamps normalized.
fn masked(v: Value) -> Value {
    let mut v = normalize(v);
    if v.get("run_id").is_some() {
        v["run_id"] = json!("<run_id>");
    }
    if let Some(d) = v.get_mut("details").filter(|d| d.get("run_id").is_some()) {
        d["run_id"] = json!("<run_id>");
    }
    v
}

/// `flowgate run` and `flowgate workflows ...` in local mode (workflows from a `--discover`
/// directory and from the database's `flowgate_workflows`) and against a server, with the same
/// output; `workflows apply` saves a workflow that a server started later on the database serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_run_locally_and_remotely() {
    let dir = temp_dir();
    let disc = dir.join("discover");
    std::fs::create_dir_all(&disc).unwrap();
    std::fs::write(disc.join("add_book.yaml"), ADD_BOOK).unwrap();
    std::fs::write(dir.join("count_books.toml"), COUNT_BOOKS).unwrap();
    let db = sqlite_url(&dir, "wf.db");
    let local = Target::local(&dir, &db);
    let disc_arg = disc.display().to_string();
    let with_disc = |args: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        v.extend(["--discover".to_string(), disc_arg.clone(), "--json".into()]);
        v
    };
    let run_local = |args: Vec<String>| {
        let local = local.clone();
        async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            local.run(&refs).await
        }
    };

    // Local: `--param` values read as JSON when they are JSON, as text otherwise.
    let unknown_input = run_local(with_disc(&[
        "run",
        "add_book",
        "--param",
        "author=Ursula K. Le Guin",
        "--param",
        "title=1984",
        "--param",
        "pages=184",
    ]))
    .await;
    assert_eq!(unknown_input.code, 3, "{unknown_input:#?}");
    assert_eq!(unknown_input.error()["field"], "inputs.pages");
    let out = run_local(with_disc(&[
        "run",
        "add_book",
        "--param",
        "author=Ursula K. Le Guin",
        "--param",
        "title=\"1984\"",
    ]))
    .await
    .json();
    assert_eq!(out["status"], "completed");
    assert_eq!(out["results"]["author"]["name"], "Ursula K. Le Guin");
    assert_eq!(out["results"]["book"]["title"], "1984");
    assert_eq!(
        out["results"]["book"]["author_id"],
        out["results"]["author"]["id"]
    );
    // --inputs, with --param winning over its keys.
    let out = run_local(with_disc(&[
        "run",
        "add_book",
        "--inputs",
        r#"{"author": "Iain Banks", "title": "Excession"}"#,
        "--param",
        "title=Matter",
    ]))
    .await
    .json();
    assert_eq!(out["results"]["book"]["title"], "Matter");
    // A failing node: exit code of its code, the error object naming the node.
    let failed = run_local(with_disc(&[
        "run",
        "add_book",
        "--param",
        "author=Iain Banks",
        "--param",
        "title=Again",
    ]))
    .await;
    assert_eq!(failed.code, 5, "{failed:#?}");
    let local_error = failed.error();
    assert_eq!(local_error["details"]["node"], "author");
    assert_eq!(local_error["field"], "nodes.author.params.name");
    // Bad inputs: a validation error naming the input; a malformed --param is a usage error.
    let bad = run_local(with_disc(&["run", "add_book", "--param", "author=X"])).await;
    assert_eq!(bad.code, 3, "{bad:#?}");
    assert_eq!(bad.error()["field"], "inputs.title");
    let usage = run_local(with_disc(&["run", "add_book", "--param", "title"])).await;
    assert_eq!(usage.code, 2, "{usage:#?}");
    let unknown = run_local(with_disc(&["run", "nope"])).await;
    assert_eq!(unknown.code, 4, "{unknown:#?}");
    // --async needs a server.
    let async_local = run_local(with_disc(&["run", "add_book", "--async"])).await;
    assert_eq!(async_local.code, 2, "{async_local:#?}");

    // Local lists: the discovered workflow.
    let list = run_local(with_disc(&["workflows", "list"])).await.json();
    assert_eq!(list["workflows"][0]["name"], "add_book", "{list:#}");
    let local_show = run_local(with_disc(&["workflows", "show", "add_book"]))
        .await
        .json();
    assert_eq!(local_show["order"], json!(["author", "book"]));

    // `workflows apply` saves count_books in the database; it runs without --discover.
    let applied = local
        .run(&["workflows", "apply", "count_books.toml", "--json"])
        .await
        .json();
    assert_eq!(applied["name"], "count_books");
    let counted = local.run(&["run", "count_books", "--json"]).await.json();
    assert_eq!(counted["results"]["n"], json!({"count": 2}));

    // A server started on the database serves what was applied.
    let handle = server(&dir, "wf.db").await;
    let remote = Target::remote(&dir, handle.http_addr());
    let names = remote.run(&["workflows", "list", "--json"]).await.json();
    assert_eq!(names["workflows"][0]["name"], "count_books", "{names:#}");
    let by_server = remote.run(&["run", "count_books", "--json"]).await.json();
    assert_eq!(masked(by_server), masked(counted));

    // Remote apply: served at once; then the same results and errors as local mode.
    let applied = remote
        .run(&["workflows", "apply", "discover/add_book.yaml", "--json"])
        .await
        .json();
    assert_eq!(applied, local_show);
    let shown = remote
        .run(&["workflows", "show", "add_book", "--json"])
        .await
        .json();
    assert_eq!(shown, local_show);
    let failed = remote
        .run(&[
            "run",
            "add_book",
            "--param",
            "author=Iain Banks",
            "--param",
            "title=Again",
            "--json",
        ])
        .await;
    assert_eq!(failed.code, 5, "{failed:#?}");
    assert_eq!(masked(failed.error()), masked(local_error));
    let out = remote
        .run(&[
            "run",
            "add_book",
            "--param",
            "author=Mary Shelley",
            "--param",
            "title=Frankenstein",
            "--json",
        ])
        .await
        .json();
    assert_eq!(out["results"]["book"]["title"], "Frankenstein");

    // --async: the run's id at once, then its record.
    let started = remote
        .run(&["run", "count_books", "--async", "--json"])
        .await
        .json();
    assert_eq!(started["status"], "pending");
    let run_id = started["run_id"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + WAIT;
    let record = loop {
        let r = remote
            .run(&["workflows", "run", "count_books", &run_id, "--json"])
            .await
            .json();
        if r["status"] == "completed" {
            break r;
        }
        assert_ne!(r["status"], "failed", "{r:#}");
        assert!(
            std::time::Instant::now() < deadline,
            "never finished: {r:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(record["results"]["n"], json!({"count": 3}));
    // The same record, read locally from the database.
    let local_record = local
        .run(&["workflows", "run", "count_books", &run_id, "--json"])
        .await
        .json();
    assert_eq!(local_record, record);
    handle.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_mode_gives_the_same_json_as_local_mode() {
    let dir = temp_dir();
    let handle = server(&dir, "remote.db").await;
    let local = Target::local(&dir, &sqlite_url(&dir, "local.db"));
    let remote = Target::remote(&dir, handle.http_addr());
    let (l, r) = tokio::join!(run_scenario(&local), run_scenario(&remote));
    for (i, (l, r)) in l.iter().zip(&r).enumerate() {
        assert_eq!(
            l.outcome(),
            r.outcome(),
            "step {i} {:?}\nlocal: {l:#?}\nremote: {r:#?}",
            SCENARIO[i]
        );
    }
    // The remote board.
    let status = remote.run(&["status"]).await;
    assert_eq!(status.code, 0, "{status:#?}");
    assert_eq!(status.json()["features"]["model:Book"]["state"], "ready");
    // Local-mode options beside a server are a usage error.
    let mixed = remote
        .run(&["books", "list", "--database-url", "sqlite::memory:"])
        .await;
    assert_eq!(mixed.code, 2, "{mixed:#?}");
    handle.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_imports_run_in_batches() {
    let dir = temp_dir();
    let mut csv = String::from("title,pages\n");
    for i in 0..2500 {
        csv.push_str(&format!("Book {i},{i}\n"));
    }
    std::fs::write(dir.join("many.csv"), csv).unwrap();
    let records: Vec<Value> = (0..2500)
        .map(|i| {
            if i == 1700 {
                json!({"titel": "typo"})
            } else {
                json!({"title": format!("More {i}")})
            }
        })
        .collect();
    std::fs::write(dir.join("bad.json"), Value::Array(records).to_string()).unwrap();

    let handle = server(&dir, "remote.db").await;
    let local = Target::local(&dir, &sqlite_url(&dir, "local.db"));
    let remote = Target::remote(&dir, handle.http_addr());
    let import = ["books", "bulk-create", "--data", "@many.csv", "--json"];
    let (l, r) = tokio::join!(local.run(&import), remote.run(&import));
    let l = l.json();
    assert_eq!(l["inserted"], 2500, "{l:#}");
    assert_eq!(l["ids"].as_array().unwrap().len(), 2500);
    assert_eq!(l["ids"][2499], 2500);
    assert_eq!(
        l,
        r.json(),
        "batches give one result, the same on both sides"
    );

    // An atomic import that fails in its second batch: locally nothing of it is kept (one
    // transaction); remotely the first batch was committed, and the error says so. Either
    // way the error names the record by its index in the whole import.
    let bad = ["books", "bulk-create", "--data", "@bad.json", "--json"];
    let (l, r) = tokio::join!(local.run(&bad), remote.run(&bad));
    assert_eq!((l.code, r.code), (3, 3), "{l:#?}\n{r:#?}");
    assert_eq!(l.error()["field"], "data[1700].titel", "{l:#?}");
    assert_eq!(r.error()["field"], "data[1700].titel", "{r:#?}");
    assert_eq!(r.error()["details"]["written_before"], 1000, "{r:#?}");
    let count = ["books", "count", "--json"];
    assert_eq!(local.run(&count).await.json()["count"], 2500);
    assert_eq!(remote.run(&count).await.json()["count"], 3500);

    // A dry run of a large import reports and keeps nothing.
    let dry = [
        "books",
        "bulk-create",
        "--data",
        "@many.csv",
        "--dry-run",
        "--batch-size",
        "700",
        "--json",
    ];
    let out = local.run(&dry).await.json();
    assert_eq!(
        (out["inserted"].clone(), out["dry_run"].clone()),
        (json!(2500), json!(true))
    );
    assert_eq!(local.run(&count).await.json()["count"], 2500);
    handle.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// `list --all` pages through every record (following `next_cursor`), as JSON or as CSV (a
/// header of the fields, nested JSON as JSON text), the same locally and remotely; an import
/// read from a file or a pipe prints a summary unless a format is asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_all_pages_and_prints_csv() {
    let dir = temp_dir();
    let mut csv = String::from("title,pages,tags\n");
    for i in 0..2345 {
        csv.push_str(&format!("Book {i},{i},\"[\"\"t{i}\"\"]\"\n"));
    }
    std::fs::write(dir.join("many.csv"), csv).unwrap();
    let handle = server(&dir, "remote.db").await;
    let local = Target::local(&dir, &sqlite_url(&dir, "local.db"));
    let remote = Target::remote(&dir, handle.http_addr());

    // A file's import: a summary, not 2345 ids; with --json, the whole result.
    let import = ["books", "bulk-create", "--data", "@many.csv"];
    let (l, r) = tokio::join!(local.run(&import), remote.run(&import));
    assert_eq!((l.code, r.code), (0, 0), "{l:#?}\n{r:#?}");
    assert_eq!(l.stdout, "created 2345 records\n", "{l:#?}");
    assert_eq!(r.stdout, l.stdout);
    let piped = run_with_stdin(
        &dir,
        &local,
        &["books", "bulk-create", "--data", "-"],
        r#"[{"title": "Piped"}]"#,
    )
    .await;
    assert_eq!(piped.stdout, "created 1 record\n", "{piped:#?}");
    let json = run_with_stdin(
        &dir,
        &local,
        &["books", "bulk-create", "--data", "-", "--format", "json"],
        r#"[{"title": "Piped too"}]"#,
    )
    .await
    .json();
    assert_eq!(json["ids"], json!([2347]), "{json:#}");

    let all = ["books", "list", "--all", "--json"];
    let (l, r) = tokio::join!(local.run(&all), remote.run(&all));
    let (l, r) = (l.json(), r.json());
    assert_eq!(l["records"].as_array().unwrap().len(), 2347);
    assert_eq!(r["records"].as_array().unwrap().len(), 2345);
    let ids: Vec<i64> = l["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        ids,
        (1..=2347).collect::<Vec<_>>(),
        "every record once, in order"
    );
    // Pages of --limit, starting after --offset, with the first page's count.
    let some = local
        .run(&[
            "books",
            "list",
            "--all",
            "--limit",
            "100",
            "--offset",
            "5",
            "--count",
            "--filter",
            r#"{"pages": {"$lt": 300}}"#,
            "--json",
        ])
        .await
        .json();
    assert_eq!(some["records"].as_array().unwrap().len(), 295, "{some:#}");
    assert_eq!(some["records"][0]["title"], "Book 5");
    assert_eq!(some["count"], 300);

    // CSV: the header is the fields, a row per record, nested JSON as JSON text; the same on
    // both sides.
    let csv = [
        "books",
        "list",
        "--all",
        "--format",
        "csv",
        "--fields",
        "title,tags",
        "--filter",
        r#"{"pages": {"$lt": 2345}}"#,
    ];
    let (l, r) = tokio::join!(local.run(&csv), remote.run(&csv));
    assert_eq!((l.code, r.code), (0, 0), "{l:#?}\n{r:#?}");
    assert_eq!(l.stdout, r.stdout);
    let mut reader = csv::Reader::from_reader(l.stdout.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        ["id", "title", "tags"]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2345);
    assert_eq!(
        rows[7].iter().collect::<Vec<_>>(),
        ["8", "Book 7", r#"["t7"]"#]
    );
    // An empty listing still has its header.
    let none = local
        .run(&[
            "authors",
            "list",
            "--format",
            "csv",
            "--filter",
            r#"{"name": "nobody"}"#,
        ])
        .await;
    assert_eq!(none.stdout, "id,name,created_at,updated_at\n", "{none:#?}");
    handle.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// `flowgate ...` with `text` on standard input.
async fn run_with_stdin(dir: &Path, target: &Target, args: &[&str], text: &str) -> Run {
    use tokio::io::AsyncWriteExt;
    let mut all: Vec<&str> = args.to_vec();
    all.extend(target.args.iter().map(String::as_str));
    let mut child = flowgate(dir)
        .args(&all)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run flowgate");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(text.as_bytes()).await.unwrap();
    drop(stdin);
    let out = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("flowgate finishes")
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A reader that goes away before the output is written (`flowgate ... | head -1`): the
/// command exits quietly, without a panic or a message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_ends_quietly() {
    let dir = temp_dir();
    let local = Target::local(&dir, &sqlite_url(&dir, "local.db"));
    let mut records = Vec::new();
    for i in 0..3000 {
        records.push(json!({"title": format!("Book {i}"), "tags": vec!["x"; 8]}));
    }
    std::fs::write(dir.join("many.json"), Value::Array(records).to_string()).unwrap();
    let import = local
        .run(&["books", "bulk-create", "--data", "@many.json"])
        .await;
    assert_eq!(import.code, 0, "{import:#?}");
    let models_arg = dir.join("models.toml").display().to_string();
    for args in [
        vec!["books", "list", "--all", "--format", "csv"],
        vec!["books", "list", "--all", "--json"],
        vec!["books", "list", "--limit", "1000", "--table"],
        vec!["completions", "bash"],
        vec!["completions", "zsh", "--models", &models_arg],
    ] {
        let mut all = args.clone();
        all.extend(
            local
                .args
                .iter()
                .map(String::as_str)
                .filter(|_| args[0] != "completions"),
        );
        let mut child = flowgate(&dir)
            .args(&all)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run flowgate");
        // The reader is gone before the command writes a byte.
        drop(child.stdout.take());
        let out = tokio::time::timeout(WAIT, child.wait_with_output())
            .await
            .expect("flowgate finishes")
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Completions include the data commands of the models the connection options name (schema
/// files or a server); without any, the static commands, and nothing is opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_include_the_model_commands() {
    let dir = temp_dir();
    let handle = server(&dir, "remote.db").await;
    let models_arg = dir.join("models.toml").display().to_string();
    let url = sqlite_url(&dir, "local.db");
    let local = run(
        &dir,
        &[
            "completions",
            "bash",
            "--models",
            &models_arg,
            "--database-url",
            &url,
        ],
    )
    .await;
    let remote = run(
        &dir,
        &[
            "completions",
            "bash",
            "--server",
            &format!("http://{}", handle.http_addr()),
        ],
    )
    .await;
    let statics = run(&dir, &["completions", "bash"]).await;
    for r in [&local, &remote, &statics] {
        assert_eq!(r.code, 0, "{r:#?}");
        assert!(r.stdout.contains("_flowgate"), "{r:#?}");
        assert!(r.stdout.contains("workflows"), "the static commands");
    }
    for r in [&local, &remote] {
        for word in [
            "books",
            "bulk-create",
            "--author-id",
            "--in-print",
            "authors",
        ] {
            assert!(r.stdout.contains(word), "{word}: {}", r.stderr);
        }
    }
    assert!(!statics.stdout.contains("--author-id"));
    assert!(!dir.join("flowgate.db").exists(), "no database made");
    handle.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// An atomic bulk import refused for a unique value: the error object is the one every channel
/// gives (`field: name`), and the line before it on stderr names the record (`data[3].name:
/// ...`): one that repeats an earlier record of the import, or one that exists; locally and
/// remotely, batched or not. Messages say "an Author".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_conflicts_name_the_record() {
    let dir = temp_dir();
    let handle = server(&dir, "remote.db").await;
    let local = Target::local(&dir, &sqlite_url(&dir, "local.db"));
    let remote = Target::remote(&dir, handle.http_addr());
    let setup = ["authors", "create", "--name", "Ursula", "--json"];
    let (l, r) = tokio::join!(local.run(&setup), remote.run(&setup));
    assert_eq!((l.code, r.code), (0, 0), "{l:#?}\n{r:#?}");

    let repeated = r#"[{"name": "A"}, {"name": "B"}, {"name": "C"}, {"name": "B"}]"#;
    let existing = r#"[{"name": "D"}, {"name": "E"}, {"name": "Ursula"}, {"name": "E"}]"#;
    let mut many: Vec<Value> = (0..1500)
        .map(|i| json!({"name": format!("N{i}")}))
        .collect();
    many.push(json!({"name": "N3"}));
    std::fs::write(dir.join("many.json"), Value::Array(many).to_string()).unwrap();
    let conflict = "an Author with this name already exists";
    let cases: [(Vec<&str>, String); 4] = [
        (
            vec!["--data", repeated],
            format!("data[3].name: {conflict} (data[1] has the same name)"),
        ),
        (
            vec!["--data", existing],
            format!("data[2].name: {conflict} (one exists with the same name)"),
        ),
        // All at once first: remotely, the batches of the next case commit before it fails.
        (
            vec!["--data", "@many.json", "--batch-size", "0", "--json"],
            format!("data[1500].name: {conflict} (data[3] has the same name)"),
        ),
        (
            vec!["--data", "@many.json", "--batch-size", "400"],
            format!("data[1500].name: {conflict} ("),
        ),
    ];
    for (args, line) in cases {
        let mut all = vec!["authors", "bulk-create"];
        all.extend(args);
        let (l, r) = tokio::join!(local.run(&all), remote.run(&all));
        for run in [&l, &r] {
            assert_eq!(run.code, 5, "{all:?}: {run:#?}");
            let e = run.error();
            assert_eq!(
                e["field"], "name",
                "the error object of every channel: {e:#}"
            );
            assert_eq!(e["message"], conflict);
            let named = run.stderr.lines().rev().nth(1).unwrap_or_default();
            assert!(named.starts_with(&line), "{all:?}: {run:#?}");
        }
    }
    // A non-atomic import's summary names each failed record.
    let partial = local
        .run(&[
            "authors",
            "bulk-create",
            "--data",
            "@many.json",
            "--atomic",
            "false",
        ])
        .await;
    assert_eq!(partial.code, 0, "{partial:#?}");
    assert_eq!(
        partial.stdout,
        "created 1500 records, 1 failed\ndata[1500].name: an Author with this name already exists\n"
    );
    handle.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Port flags belong to the commands that listen; the API document says "an Author".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_and_docs_read_right() {
    let dir = temp_dir();
    let (migrate, migrate_up, serve, mcp) = tokio::join!(
        run(&dir, &["migrate", "--help"]),
        run(&dir, &["migrate", "up", "--help"]),
        run(&dir, &["serve", "--help"]),
        run(&dir, &["mcp", "--help"]),
    );
    for r in [&migrate, &migrate_up] {
        assert_eq!(r.code, 0, "{r:#?}");
        assert!(r.stdout.contains("--database-url"), "{}", r.stdout);
        assert!(!r.stdout.contains("--http-port"), "{}", r.stdout);
        assert!(!r.stdout.contains("--mcp-port"), "{}", r.stdout);
    }
    for r in [&serve, &mcp] {
        assert!(r.stdout.contains("--http-port") && r.stdout.contains("--mcp-port"));
    }
    let handle = server(&dir, "remote.db").await;
    let doc = reqwest::get(format!("http://{}/openapi.json", handle.http_addr()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(doc.contains("Create an Author"), "{doc}");
    assert!(doc.contains("the id of an Author"), "{doc}");
    assert!(!doc.contains("a Author"), "{doc}");
    handle.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh PostgreSQL schema of this test's own, as `tests/common/mod.rs` makes them.
async fn postgres_url() -> Option<String> {
    let Ok(base) = std::env::var("FLOWGATE_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("FLOWGATE_TEST_REQUIRE_ALL").is_none(),
            "FLOWGATE_TEST_POSTGRES_URL is not set but FLOWGATE_TEST_REQUIRE_ALL is"
        );
        eprintln!("note: FLOWGATE_TEST_POSTGRES_URL is not set; skipping the PostgreSQL variant");
        return None;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let schema = format!("fgcli_{}_{nanos:x}", std::process::id());
    let admin = flowgate::Store::connect(
        &flowgate::StoreConfig::new(base.clone()),
        flowgate::Schema::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("PostgreSQL at {base} is unreachable: {e}"));
    admin
        .execute_raw(&flowgate::sql::Stmt::raw(format!(
            "CREATE SCHEMA \"{schema}\""
        )))
        .await
        .expect("create schema");
    admin.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options=-c%20search_path%3D{schema}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_local_mode() {
    let Some(url) = postgres_url().await else {
        return;
    };
    let dir = temp_dir();
    let pg = Target::local(&dir, &url);
    // `status` on the empty schema creates none of the registry's tables.
    let status = pg.run(&["status", "--json"]).await;
    assert_eq!(status.code, 6, "{status:#?}");
    let board: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(board["features"]["database"]["state"], "ready", "{board:#}");
    assert_eq!(board["features"]["model:Book"]["state"], "pending");
    assert_eq!(tables_named(&url, "flowgate_models").await, 0);
    let author = pg
        .run(&["authors", "create", "--name", "Ursula", "--json"])
        .await
        .json();
    assert_eq!(author["id"], 1);
    let book = pg
        .run(&[
            "books",
            "create",
            "--title",
            "Lathe",
            "--pages",
            "184",
            "--rating",
            "4.1",
            "--author-id",
            "1",
            "--json",
        ])
        .await
        .json();
    assert_eq!(
        (
            book["pages"].clone(),
            book["rating"].clone(),
            book["in_print"].clone()
        ),
        (json!(184), json!(4.1), json!(true))
    );
    let imported = pg
        .run(&["books", "bulk-create", "--data", "@books.csv", "--json"])
        .await
        .json();
    assert_eq!(imported["inserted"], 3, "{imported:#}");
    let page = pg
        .run(&[
            "books",
            "list",
            "--filter",
            r#"{"pages":{"$gt":0}}"#,
            "--order-by",
            "-pages",
            "--limit",
            "1",
            "--count",
            "--json",
        ])
        .await
        .json();
    assert_eq!(page["records"][0]["title"], "Hyperion", "{page:#}");
    assert_eq!(page["count"], 3);
    let missing = pg.run(&["books", "read", "99", "--json"]).await;
    assert_eq!(missing.code, 4, "{missing:#?}");
    let status = pg.run(&["status", "--json"]).await;
    assert_eq!(status.code, 0, "{status:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// How many tables named `table` the database (schema) of `url` has.
async fn tables_named(url: &str, table: &str) -> i64 {
    let store = flowgate::Store::connect(
        &flowgate::StoreConfig::new(url),
        flowgate::Schema::default(),
    )
    .await
    .expect("connect");
    let stmt = flowgate::sql::alter::table_exists(store.dialect(), table);
    let n = store
        .lease()
        .await
        .expect("a connection")
        .scalar(&stmt)
        .await
        .expect("count tables");
    store.close().await;
    n
}

/// `status` creates and writes nothing: on a SQLite path without a file it reports the database
/// failed and the declared models pending, and leaves no file; on a database without a registry
/// it reports what a migration would do and creates no table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_creates_nothing() {
    let dir = temp_dir();
    let path = dir.join("never.db");
    let url = sqlite_url(&dir, "never.db");
    let models = dir.join("models.toml").display().to_string();
    let args = [
        "status",
        "--json",
        "--database-url",
        &url,
        "--models",
        &models,
    ];

    let status = run(&dir, &args).await;
    assert_eq!(status.code, 6, "{status:#?}");
    let board: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(board["mode"], "local", "{board:#}");
    assert_eq!(
        board["features"]["database"]["state"], "failed",
        "{board:#}"
    );
    assert_eq!(board["features"]["model:Book"]["state"], "pending");
    assert!(!path.exists(), "status created {}", path.display());

    // The file exists now, without a table.
    flowgate::Store::connect(
        &flowgate::StoreConfig::new(url.as_str()),
        flowgate::Schema::default(),
    )
    .await
    .expect("create the file")
    .close()
    .await;
    let status = run(&dir, &args).await;
    assert_eq!(status.code, 6, "{status:#?}");
    let board: Value = serde_json::from_str(&status.stdout).unwrap();
    let f = &board["features"];
    assert_eq!(f["database"]["state"], "ready", "{board:#}");
    assert_eq!(f["registry"]["state"], "pending", "{board:#}");
    assert_eq!(f["migrations"]["state"], "pending", "{board:#}");
    assert_eq!(f["model:Book"]["state"], "pending", "{board:#}");
    let reason = f["model:Book"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("create table books"), "{board:#}");
    assert_eq!(f["migrations"]["pending"].as_array().map(Vec::len), Some(2));
    for table in [
        "flowgate_models",
        "flowgate_migrations",
        "flowgate_locks",
        "books",
    ] {
        assert_eq!(tables_named(&url, table).await, 0, "status created {table}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The local `status` and a server report the start-up features of one database alike: the same
/// board type, the same features (database, registry, migrations, every model) in the same states.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_status_reports_the_servers_features() {
    let dir = temp_dir();
    let handle = server(&dir, "same.db").await;
    let served = handle.board().to_json();
    handle.shutdown().await;
    let url = sqlite_url(&dir, "same.db");
    let models = dir.join("models.toml").display().to_string();
    let status = run(
        &dir,
        &[
            "status",
            "--json",
            "--database-url",
            &url,
            "--models",
            &models,
        ],
    )
    .await;
    assert_eq!(status.code, 0, "{status:#?}");
    let local = status.json();
    let startup = |board: &Value| -> Vec<(String, Value)> {
        board["features"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(name, _)| {
                matches!(name.as_str(), "database" | "registry" | "migrations")
                    || name.starts_with("model:")
            })
            .map(|(name, f)| {
                (
                    name.clone(),
                    json!({"state": f["state"], "required": f["required"]}),
                )
            })
            .collect()
    };
    assert_eq!(
        startup(&local),
        startup(&served),
        "local {local:#}\nserver {served:#}"
    );
    assert_eq!(startup(&local).len(), 5, "{local:#}");
    for (name, f) in local["features"].as_object().unwrap() {
        assert!(f["since"].is_string(), "{name} has no `since`: {local:#}");
    }
    assert_eq!(local["features"]["model:Book"]["version"], 1);
    let _ = std::fs::remove_dir_all(&dir);
}
