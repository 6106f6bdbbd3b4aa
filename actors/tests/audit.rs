//! The audit trail on every channel (DESIGN 13.5), on a server requiring credentials: writes
//! through REST, `/nodes`, MCP, the CLI (local and remote) and workflow nodes each leave rows
//! naming their principal, channel and route, tool, command or node, with the changed fields;
//! a failed bulk write and a rolled-back transactional workflow leave none; bulk writes past
//! `audit.max_rows_per_op` end in a summary row. The trail reads alike through `GET /audit`, the
//! MCP tool `audit_list` and `flowgate audit`, with filters, cursor paging and errors naming
//! the filter at fault; reading takes `admin:audit`; a tenant's callers see only its rows; a
//! server with `audit_log = false` has no trail to read; a server with `audit.retention_days`
//! deletes older rows once started.
#![allow(missing_docs)]

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "channels/drivers.rs"]
#[allow(dead_code)]
mod drivers;
#[path = "channels/scenarios.rs"]
#[allow(dead_code)]
mod scenarios;

use common::Backend;
use drivers::{Answer, Channel, Cli, Http, WAIT};
use flowgate::OpKind;
use flowgate::keys::NewKey;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

const CONFIG: &str = "[audit]\nmax_rows_per_op = 2\n[auth]\nlocal_role = \"admin\"\n\
    [auth.roles.editor]\nallow = [\"*:*\", \"workflow:*\"]\n\
    [auth.roles.auditor]\nallow = [\"admin:audit\"]\n";

fn temp_dir(config: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join("flowgate-tests")
        .join(common::unique_name("audit"));
    std::fs::create_dir_all(dir.join("discover")).expect("temp dir");
    std::fs::write(dir.join("models.toml"), scenarios::SCHEMA).expect("schema file");
    for (name, text) in scenarios::WORKFLOWS {
        std::fs::write(dir.join("discover").join(name), text).expect("workflow file");
    }
    std::fs::write(dir.join("flowgate.toml"), config).expect("config file");
    dir
}

async fn server(url: &str, dir: &Path) -> flowgate_actors::Handle {
    let h = common::server_builder(url)
        .config_file(dir.join("flowgate.toml"))
        .set("auth", json!({"required": true}))
        .model_file(dir.join("models.toml"))
        .set(
            "discover",
            json!([dir.join("discover").display().to_string()]),
        )
        .start()
        .await
        .expect("server starts");
    assert!(h.wait_ready(WAIT).await, "{:#}", h.board().to_json());
    h
}

/// [`server`] without credentials required or workflows: the directory's config and models.
async fn open_server(url: &str, dir: &Path) -> flowgate_actors::Handle {
    let h = common::server_builder(url)
        .config_file(dir.join("flowgate.toml"))
        .model_file(dir.join("models.toml"))
        .start()
        .await
        .expect("server starts");
    assert!(h.wait_ready(WAIT).await, "{:#}", h.board().to_json());
    h
}

async fn key(h: &flowgate_actors::Handle, name: &str, role: &str, tenant: Option<&str>) -> String {
    let mut new = NewKey::new(name, [role]);
    new.tenant = tenant.map(str::to_string);
    h.api_keys()
        .expect("key table")
        .create(new)
        .await
        .expect("key")
        .1
}

/// The principal id of an API key (`key:<id>`): its first two dot-separated parts name it.
async fn principal_of(h: &flowgate_actors::Handle, name: &str) -> String {
    let keys = h.api_keys().expect("key table").list().await.expect("keys");
    let k = keys.iter().find(|k| k.name == name).expect("the key");
    format!("key:{}", k.id)
}

/// Every row `GET /audit` gives for these filters, oldest first, following the cursor.
async fn trail(http: &Http, filters: &[(&str, &str)]) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q: Vec<(&str, &str)> = filters.to_vec();
        q.push(("limit", "3"));
        if let Some(c) = &cursor {
            q.push(("cursor", c));
        }
        let page = ok(http.get(&["audit"], &q).await);
        rows.extend(page["records"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    rows.reverse();
    rows
}

fn ok(a: Answer) -> Value {
    assert!(a.problem.is_none(), "{:?}", a.problem);
    a.result.unwrap_or_else(|e| panic!("{e}"))
}

fn err(a: Answer) -> Value {
    assert!(a.problem.is_none(), "{:?}", a.problem);
    match a.result {
        Err(e) => e,
        Ok(v) => panic!("expected an error, got {v}"),
    }
}

/// (channel, via, model, op, record id, changes) of a row.
fn summary(r: &Value) -> (String, String, String, String, Value, Value) {
    let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
    (
        s("channel"),
        s("via"),
        s("model"),
        s("op"),
        r["record_id"].clone(),
        r["changes"].clone(),
    )
}

async fn every_channel_is_audited(b: Backend) {
    let Some(url) = common::fresh_shared_url(b).await else {
        return;
    };
    let dir = temp_dir(CONFIG);
    let h = server(&url, &dir).await;
    let root = key(&h, "root", "admin", None).await;
    let editor = key(&h, "ed", "editor", None).await;
    let auditor = key(&h, "aud", "auditor", None).await;
    let root_id = principal_of(&h, "root").await;
    let http = Http::new(h.http_addr()).with_token(&root);
    let rest = Channel::Rest(Http::new(h.http_addr()).with_token(&root));
    let nodes = Channel::Nodes(Http::new(h.http_addr()).with_token(&root));
    let mcp = drivers::mcp_session_as(h.mcp_addr(), Some(&root))
        .await
        .expect("MCP");
    let mcp = Channel::Mcp(mcp);
    let local = Channel::Cli(
        Cli::local(&dir, &url, &dir.join("models.toml"), &dir.join("discover"))
            .with_args(&["--config", &dir.join("flowgate.toml").display().to_string()]),
    );
    let remote = Cli::remote_as(&dir, h.http_addr(), Some(&root));

    // One write per channel, each on the same author.
    let a = ok(rest
        .call("authors", OpKind::Create, &json!({"name": "Ada"}))
        .await);
    let id = a["id"].clone();
    let id_text = id.to_string();
    ok(nodes
        .call(
            "authors",
            OpKind::Update,
            &json!({"id": id, "fields": {"name": "Ada L"}}),
        )
        .await);
    ok(local
        .call(
            "authors",
            OpKind::Update,
            &json!({"id": id, "fields": {"name": "Ada Lovelace"}}),
        )
        .await);
    ok(mcp
        .call("authors", OpKind::Delete, &json!({"id": id}))
        .await);
    let rows = trail(&http, &[("model", "Author"), ("record_id", &id_text)]).await;
    let got: Vec<_> = rows.iter().map(summary).collect();
    let rest_via = "POST /api/authors".to_string();
    assert_eq!(
        got,
        vec![
            (
                "rest".into(),
                rest_via,
                "Author".into(),
                "create".into(),
                json!(id_text),
                json!({"name": [null, "Ada"]})
            ),
            (
                "node".into(),
                "POST /nodes/AuthorUpdateNode".into(),
                "Author".into(),
                "update".into(),
                json!(id_text),
                json!({"name": ["Ada", "Ada L"]})
            ),
            (
                "cli".into(),
                "flowgate authors update".into(),
                "Author".into(),
                "update".into(),
                json!(id_text),
                json!({"name": ["Ada L", "Ada Lovelace"]})
            ),
            (
                "mcp".into(),
                "authors_delete".into(),
                "Author".into(),
                "delete".into(),
                json!(id_text),
                json!({"name": ["Ada Lovelace", null]})
            ),
        ]
    );
    assert_eq!(rows[0]["principal"], json!(root_id));
    assert_eq!(rows[2]["principal"], "local");
    for r in &rows {
        assert!(
            r["request_id"].as_str().is_some_and(|s| !s.is_empty()),
            "{r}"
        );
        assert_eq!(r["tenant"], Value::Null);
    }

    // A workflow's nodes: the workflow and the node.
    let run = ok(rest
        .run(
            "add_book",
            &json!({"author": "Le Guin", "title": "Earthsea"}),
        )
        .await);
    let book_id = run["results"]["book"]["id"].to_string();
    let rows = trail(&http, &[("model", "Book"), ("record_id", &book_id)]).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["channel"], "workflow");
    assert_eq!(rows[0]["via"], "workflow:add_book/book");
    assert_eq!(rows[0]["changes"]["title"], json!([null, "Earthsea"]));

    // What fails leaves nothing: a transactional workflow whose second node fails, a bulk
    // create with a bad record, a write refused by validation.
    let before = trail(&http, &[]).await.len();
    let long = "x".repeat(300);
    let failed = rest
        .run(
            "add_book_tx",
            &json!({"author": "Rolled Back", "title": long}),
        )
        .await;
    assert_eq!(err(failed)["code"], "validation");
    let failed = rest
        .call(
            "items",
            OpKind::BulkCreate,
            &json!({"data": [{"name": "a", "sku": "s1"}, {"name": "b"}]}),
        )
        .await;
    assert_eq!(err(failed)["code"], "validation");
    let failed = rest
        .call("authors", OpKind::Create, &json!({"name": long}))
        .await;
    assert_eq!(err(failed)["code"], "validation");
    assert_eq!(trail(&http, &[]).await.len(), before);

    // Bulk writes: a row per record up to max_rows_per_op (2), then a summary.
    ok(remote
        .command(&[
            "items",
            "bulk-create",
            "--data",
            &json!({"data": [{"name": "a", "sku": "b1"}, {"name": "b", "sku": "b2"},
                             {"name": "c", "sku": "b3"}]})
            .to_string(),
        ])
        .await);
    ok(rest
        .call(
            "items",
            OpKind::BulkUpdate,
            &json!({"filter": {"sku": {"$in": ["b1", "b2"]}}, "fields": {"qty": 5}}),
        )
        .await);
    let rows = trail(&http, &[("model", "Item")]).await;
    let ops: Vec<(&str, Option<u64>)> = rows
        .iter()
        .map(|r| (r["op"].as_str().unwrap(), r["count"].as_u64()))
        .collect();
    assert_eq!(
        ops,
        vec![
            ("bulk_create", None),
            ("bulk_create", None),
            ("bulk_create", Some(3)),
            ("bulk_update", None),
            ("bulk_update", None),
        ],
        "{rows:?}"
    );
    assert_eq!(
        rows[0]["channel"], "node",
        "the CLI in remote mode calls /nodes"
    );
    assert_eq!(rows[3]["changes"], json!({"qty": [0, 5]}));

    // Filters, and errors naming the filter at fault.
    let all = trail(&http, &[]).await;
    let mine = trail(&http, &[("principal", &root_id)]).await;
    assert_eq!(mine.len(), all.len() - 1, "all but the local CLI's row");
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    assert!(trail(&http, &[("since", &future)]).await.is_empty());
    let first = all[0]["at"].as_str().unwrap().to_string();
    assert_eq!(trail(&http, &[("since", &first)]).await.len(), all.len());
    for (q, field) in [
        (vec![("limit", "0")], "limit"),
        (vec![("since", "last tuesday")], "since"),
        (vec![("modle", "Book")], "modle"),
        (vec![("cursor", "not-a-cursor")], "cursor"),
    ] {
        let e = err(http.get(&["audit"], &q).await);
        assert_eq!(e["code"], "validation", "{q:?}: {e}");
        assert_eq!(e["field"], field, "{q:?}: {e}");
    }

    // MCP and the CLI read the same trail.
    let Channel::Mcp(session) = &mcp else {
        unreachable!()
    };
    let page = ok(drivers::mcp_tool(
        session,
        "audit_list",
        &json!({"model": "Author", "limit": 10}),
    )
    .await);
    let rest_page = ok(http
        .get(&["audit"], &[("model", "Author"), ("limit", "10")])
        .await);
    assert_eq!(page, rest_page);
    let cli_page = ok(remote
        .command(&["audit", "--model", "Author", "--limit", "10"])
        .await);
    assert_eq!(cli_page, rest_page);
    let Channel::Cli(local_cli) = &local else {
        unreachable!()
    };
    let local_page = ok(local_cli
        .command(&["audit", "--model", "Author", "--limit", "10"])
        .await);
    assert_eq!(local_page, rest_page);
    let e = err(remote.command(&["audit", "--since", "soon"]).await);
    assert_eq!(e["field"], "since");

    // Reading takes admin:audit: the editor may write but not read the trail, nor see the
    // tool; the auditor may read it and nothing else.
    let e = err(Http::new(h.http_addr())
        .with_token(&editor)
        .get(&["audit"], &[])
        .await);
    assert_eq!(
        (
            e["code"].as_str(),
            e["message"].as_str().map(|m| m.contains("admin:audit"))
        ),
        (Some("forbidden"), Some(true)),
        "{e}"
    );
    let e = err(Http::new(h.http_addr()).get(&["audit"], &[]).await);
    assert_eq!(e["code"], "unauthorized");
    let ed_mcp = drivers::mcp_session_as(h.mcp_addr(), Some(&editor))
        .await
        .expect("MCP");
    let tools = ed_mcp.list_all_tools().await.expect("tools");
    assert!(!tools.iter().any(|t| t.name == "audit_list"));
    let e = err(drivers::mcp_tool(&ed_mcp, "audit_list", &json!({})).await);
    assert_eq!(e["code"], "forbidden");
    let _ = ed_mcp.cancel().await;
    let Channel::Mcp(session) = &mcp else {
        unreachable!()
    };
    let tools = session.list_all_tools().await.expect("tools");
    assert!(tools.iter().any(|t| t.name == "audit_list"));
    let page = ok(Http::new(h.http_addr())
        .with_token(&auditor)
        .get(&["audit"], &[("limit", "1")])
        .await);
    assert_eq!(page["records"].as_array().unwrap().len(), 1);
    let e = err(Channel::Rest(Http::new(h.http_addr()).with_token(&auditor))
        .call("authors", OpKind::Create, &json!({"name": "no"}))
        .await);
    assert_eq!(e["code"], "forbidden");

    // Nothing changes or deletes audit rows: there is no route, tool or command to.
    let http_raw = reqwest::Client::new();
    let base = format!("http://{}/audit", h.http_addr());
    for method in [
        reqwest::Method::POST,
        reqwest::Method::DELETE,
        reqwest::Method::PATCH,
    ] {
        let r = http_raw
            .request(method.clone(), &base)
            .bearer_auth(&root)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405, "{method}");
    }
    assert_eq!(trail(&http, &[]).await, all);

    mcp.close().await;
    h.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    every_channel_is_audited(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    every_channel_is_audited(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql() {
    every_channel_is_audited(Backend::MySql).await;
}

/// On a multi-tenant server, a tenant's callers read only its rows; reading every tenant's
/// takes `admin:tenants` (or naming one with `X-Tenant-ID`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_read_only_their_own_trail() {
    let url = common::fresh_shared_url(Backend::Sqlite).await.unwrap();
    let dir = temp_dir(&format!("multi_tenant = true\n{CONFIG}"));
    let h = server(&url, &dir).await;
    let acme = key(&h, "acme", "admin", Some("acme")).await;
    let zeta = key(&h, "zeta", "editor", Some("zeta")).await;
    let zeta_auditor = key(&h, "zeta-aud", "auditor", Some("zeta")).await;
    let root = key(&h, "root", "admin", None).await;
    let blind = key(&h, "blind", "auditor", None).await;
    for (token, name) in [(&acme, "a1"), (&acme, "a2"), (&zeta, "z1")] {
        ok(Channel::Rest(Http::new(h.http_addr()).with_token(token))
            .call("authors", OpKind::Create, &json!({"name": name}))
            .await);
    }
    let tenants_of = |rows: &[Value]| -> Vec<String> {
        rows.iter()
            .map(|r| r["tenant"].as_str().unwrap_or("-").to_string())
            .collect()
    };
    let http = |t: &str| Http::new(h.http_addr()).with_token(t);
    assert_eq!(
        tenants_of(&trail(&http(&acme), &[]).await),
        ["acme", "acme"]
    );
    assert_eq!(
        tenants_of(&trail(&http(&zeta_auditor), &[]).await),
        ["zeta"]
    );
    assert_eq!(
        tenants_of(&trail(&http(&root), &[]).await),
        ["acme", "acme", "zeta"]
    );
    assert_eq!(
        tenants_of(&trail(&http(&root).with_tenant("zeta"), &[]).await),
        ["zeta"]
    );
    // A tenant cannot name another to read its trail; one with no tenant and without
    // admin:tenants reads nothing (fail closed).
    let e = err(http(&zeta_auditor)
        .with_tenant("acme")
        .get(&["audit"], &[])
        .await);
    assert_eq!(e["code"], "forbidden");
    let e = err(http(&blind).get(&["audit"], &[]).await);
    assert_eq!(e["code"], "forbidden");
    assert!(
        e["message"].as_str().unwrap().contains("admin:tenants"),
        "{e}"
    );
    // MCP: the same rule.
    let s = drivers::mcp_session_as(h.mcp_addr(), Some(&zeta_auditor))
        .await
        .expect("MCP");
    let page = ok(drivers::mcp_tool(&s, "audit_list", &json!({})).await);
    assert_eq!(tenants_of(page["records"].as_array().unwrap()), ["zeta"]);
    let _ = s.cancel().await;
    h.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// `audit_log = false`: writes leave no rows (no table is even made), `GET /audit` is 404
/// naming the setting, and MCP lists no `audit_list`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_off_leaves_no_trail() {
    let url = common::fresh_shared_url(Backend::Sqlite).await.unwrap();
    let dir = temp_dir("audit_log = false\n");
    let h = open_server(&url, &dir).await;
    assert!(h.board().state(&flowgate_actors::Feature::Audit).is_none());
    let http = Http::new(h.http_addr());
    ok(Channel::Rest(Http::new(h.http_addr()))
        .call("authors", OpKind::Create, &json!({"name": "x"}))
        .await);
    let e = err(http.get(&["audit"], &[]).await);
    assert_eq!(e["code"], "not_found");
    assert!(e["message"].as_str().unwrap().contains("audit_log"), "{e}");
    let s = drivers::mcp_session_as(h.mcp_addr(), None)
        .await
        .expect("MCP");
    let tools = s.list_all_tools().await.expect("tools");
    assert!(!tools.iter().any(|t| t.name == "audit_list"));
    let _ = s.cancel().await;
    // No table: reading it in-process fails.
    let store = h.store().await.expect("store");
    let read = flowgate::audit::AuditLog::new(&store)
        .list(&Default::default())
        .await;
    assert!(read.is_err(), "{read:?}");
    h.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// `audit.retention_days` on a running server: rows older than that are deleted once the server
/// has started (then hourly), newer ones stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_prunes_on_a_running_server() {
    let url = common::fresh_shared_url(Backend::Sqlite).await.unwrap();
    let dir = temp_dir("[audit]\nretention_days = 30\n");
    async fn rows(h: &flowgate_actors::Handle) -> Vec<Value> {
        let store = h.store().await.expect("store");
        let page = flowgate::audit::AuditLog::new(&store)
            .list(&Default::default())
            .await
            .expect("the trail");
        page["records"].as_array().unwrap().clone()
    }
    let h = open_server(&url, &dir).await;
    for name in ["old", "new"] {
        ok(Channel::Rest(Http::new(h.http_addr()))
            .call("authors", OpKind::Create, &json!({"name": name}))
            .await);
    }
    assert_eq!(rows(&h).await.len(), 2);
    h.shutdown().await;

    // The first write's row is made 31 days old, as if the server had been down that long.
    let pool = sqlx::SqlitePool::connect(&url).await.expect("the database");
    let aged = (chrono::Utc::now() - chrono::Duration::days(31))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let done = sqlx::query(
        "UPDATE flowgate_audit SET at = ? WHERE id = (SELECT MIN(id) FROM flowgate_audit)",
    )
    .bind(&aged)
    .execute(&pool)
    .await
    .expect("age a row");
    assert_eq!(done.rows_affected(), 1);
    pool.close().await;

    let h = open_server(&url, &dir).await;
    let mut left = rows(&h).await;
    for _ in 0..100 {
        if left.len() < 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        left = rows(&h).await;
    }
    assert_eq!(left.len(), 1, "{left:#?}");
    assert_eq!(left[0]["changes"]["name"], json!([null, "new"]));
    h.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
