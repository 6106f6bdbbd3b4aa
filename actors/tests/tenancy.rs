//! Tenants on every channel (DESIGN 13.4): a multi-tenant server whose API keys carry tenants.
//! Through REST, `POST /nodes/...`, MCP over streamable HTTP, the CLI in remote mode and the
//! CLI in local mode, two tenants creating, reading, updating, listing, counting and deleting
//! never see, count or change each other's records; every channel gives the same answer for the
//! same step; a principal without a tenant gets `tenant_required`; acting for another tenant
//! (`X-Tenant-ID`, `--tenant`) takes `admin:tenants`; `tenant_id` in a body or filter is a
//! validation error naming it; shared models serve everyone; workflow runs, sync and async,
//! act for the caller's tenant.
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

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir()
        .join("flowgate-tests")
        .join(common::unique_name("tenancy"));
    std::fs::create_dir_all(dir.join("discover")).expect("temp dir");
    let schema = scenarios::SCHEMA.replace(
        "[models.Setting]\n",
        "[models.Setting]\ntenant_scoped = false\n",
    );
    std::fs::write(dir.join("models.toml"), schema).expect("schema file");
    for (name, text) in scenarios::WORKFLOWS {
        std::fs::write(dir.join("discover").join(name), text).expect("workflow file");
    }
    std::fs::write(
        dir.join("flowgate.toml"),
        "multi_tenant = true\n[auth]\nlocal_role = \"admin\"\n[auth.roles.editor]\nallow = [\"*:*\", \"workflow:*\"]\n",
    )
    .expect("config file");
    dir
}

/// A multi-tenant server requiring credentials on `url`, with `dir`'s configuration and models
/// (and its workflows, with `workflows`), ready.
async fn server(url: &str, dir: &Path, workflows: bool) -> flowgate_actors::Handle {
    let mut b = common::server_builder(url)
        .config_file(dir.join("flowgate.toml"))
        .set("auth", json!({"required": true}))
        .model_file(dir.join("models.toml"));
    if workflows {
        b = b.set(
            "discover",
            json!([dir.join("discover").display().to_string()]),
        );
    }
    let h = b.start().await.expect("server starts");
    assert!(h.wait_ready(WAIT).await, "{:#}", h.board().to_json());
    h
}

/// The channels of one principal: REST, `/nodes`, MCP and the CLI in remote mode, each sending
/// `token` and, when given, `tenant` (`X-Tenant-ID`, `--tenant`).
async fn channels(
    h: &flowgate_actors::Handle,
    dir: &Path,
    token: &str,
    tenant: Option<&str>,
) -> Vec<(&'static str, Channel)> {
    let http = || {
        let c = Http::new(h.http_addr()).with_token(token);
        match tenant {
            Some(t) => c.with_tenant(t),
            None => c,
        }
    };
    let mut cli = Cli::remote_as(dir, h.http_addr(), Some(token));
    if let Some(t) = tenant {
        cli = cli.with_args(&["--tenant", t]);
    }
    let mcp = drivers::mcp_session_for(h.mcp_addr(), Some(token), tenant)
        .await
        .expect("MCP initialize");
    vec![
        ("REST", Channel::Rest(http())),
        ("nodes", Channel::Nodes(http())),
        ("MCP", Channel::Mcp(mcp)),
        ("CLI remote", Channel::Cli(cli)),
    ]
}

/// The CLI in local mode on the same database, acting for `tenant` (`--tenant`) when given.
fn local(dir: &Path, url: &str, tenant: Option<&str>) -> Channel {
    let mut cli = Cli::local(dir, url, &dir.join("models.toml"), &dir.join("discover"))
        .with_args(&["--config", &dir.join("flowgate.toml").display().to_string()]);
    if let Some(t) = tenant {
        cli = cli.with_args(&["--tenant", t]);
    }
    Channel::Cli(cli)
}

/// Runs a step on every channel and checks that they all answer alike; the one answer.
async fn same(channels: &[(&str, Channel)], table: &str, op: OpKind, params: Value) -> Answer {
    let mut first: Option<(String, Answer)> = None;
    for (name, c) in channels {
        let a = c.call(table, op, &params).await;
        assert!(
            a.problem.is_none(),
            "{name} {table} {op:?}: {:?}",
            a.problem
        );
        match &first {
            None => first = Some((name.to_string(), a)),
            Some((n0, a0)) => assert_eq!(
                strip(&a.result),
                strip(&a0.result),
                "{table} {op:?} {params}: {name} and {n0} differ"
            ),
        }
    }
    first.expect("channels").1
}

/// An answer without what differs by nature between calls (timestamps, ids of new records).
fn strip(r: &Result<Value, Value>) -> Result<Value, Value> {
    fn walk(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "created_at" | "updated_at" | "id"))
                    .map(|(k, v)| (k.clone(), walk(v)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(walk).collect()),
            other => other.clone(),
        }
    }
    match r {
        Ok(v) => Ok(walk(v)),
        Err(e) => Err(walk(e)),
    }
}

fn code(a: &Answer) -> String {
    match &a.result {
        Ok(v) => format!("ok: {v}"),
        Err(e) => e["code"].as_str().unwrap_or_default().to_string(),
    }
}

async fn tenants_do_not_see_each_other(b: Backend) {
    let Some(url) = common::fresh_shared_url(b).await else {
        return;
    };
    let dir = temp_dir();
    let h = server(&url, &dir, true).await;
    let keys = h.api_keys().expect("key table");
    let key = |name: &str, role: &str, tenant: Option<&str>| {
        let keys = keys.clone();
        let mut new = NewKey::new(name, [role]);
        new.tenant = tenant.map(str::to_string);
        async move { keys.create(new).await.expect("key").1 }
    };
    let acme = key("acme", "admin", Some("acme")).await;
    let zeta = key("zeta", "editor", Some("zeta")).await;
    let root = key("root", "admin", None).await;
    let plain = key("plain", "editor", None).await;

    let a = channels(&h, &dir, &acme, None).await;
    let z = channels(&h, &dir, &zeta, None).await;

    // Each tenant creates the same unique name on every channel: one per tenant per channel.
    let mut acme_ids = Vec::new();
    for (list, ids) in [(&a, Some(&mut acme_ids)), (&z, None)] {
        let mut ids = ids;
        for (name, c) in list.iter() {
            let r = c
                .call(
                    "authors",
                    OpKind::Create,
                    &json!({"name": format!("by {name}")}),
                )
                .await;
            let rec = r.result.unwrap_or_else(|e| panic!("{name}: {e}"));
            if let Some(ids) = ids.as_mut() {
                ids.push(rec["id"].clone());
            }
        }
    }
    // Each sees its own four, on every channel alike.
    for list in [&a, &z] {
        let n = same(list, "authors", OpKind::Count, json!({})).await;
        assert_eq!(n.result.unwrap()["count"], 4);
        let page = same(
            list,
            "authors",
            OpKind::List,
            json!({"order_by": ["name"], "limit": 10}),
        )
        .await;
        assert_eq!(page.result.unwrap()["records"].as_array().unwrap().len(), 4);
    }
    // In Rust: the handle's scoped store sees what the tenant's key sees.
    let acme_store = h.for_tenant("acme").await.unwrap();
    let authors = acme_store.store().model("Author").unwrap();
    let n = acme_store
        .run(
            &flowgate::Context::internal(),
            &authors,
            OpKind::Count,
            &json!({}),
        )
        .await
        .unwrap();
    assert_eq!(n["count"], 4);

    // Another tenant's ids: not found, nothing changed, nothing deleted.
    let other = &acme_ids[0];
    let r = same(&z, "authors", OpKind::Read, json!({"id": other})).await;
    assert_eq!(code(&r), "not_found");
    let r = same(
        &z,
        "authors",
        OpKind::Update,
        json!({"id": other, "fields": {"name": "taken"}}),
    )
    .await;
    assert_eq!(code(&r), "not_found");
    let r = same(&z, "authors", OpKind::Delete, json!({"id": other})).await;
    assert_eq!(r.result.unwrap()["deleted"], false);
    let r = same(
        &z,
        "authors",
        OpKind::BulkDelete,
        json!({"filter": {"id": other}}),
    )
    .await;
    assert_eq!(r.result.unwrap()["deleted"], 0);
    // A reference to another tenant's author is refused like one to no author.
    let r = same(
        &z,
        "books",
        OpKind::Create,
        json!({"title": "x", "author_id": other}),
    )
    .await;
    assert_eq!(code(&r), "conflict");
    let r = same(&a, "authors", OpKind::Read, json!({"id": other})).await;
    assert_eq!(r.result.unwrap()["name"], "by REST");

    // tenant_id is never the caller's to give or ask for.
    let r = same(
        &a,
        "authors",
        OpKind::Create,
        json!({"name": "x", "tenant_id": "zeta"}),
    )
    .await;
    assert_eq!(r.result.unwrap_err()["field"], "tenant_id");
    let r = same(
        &a,
        "authors",
        OpKind::Count,
        json!({"filter": {"tenant_id": "zeta"}}),
    )
    .await;
    assert_eq!(r.result.unwrap_err()["field"], "filter.tenant_id");

    // A shared model serves every tenant.
    let r = a[0]
        .1
        .call(
            "settings",
            OpKind::Create,
            &json!({"id": "theme", "value": "dark"}),
        )
        .await;
    assert!(r.result.is_ok(), "{:?}", r.result);
    let r = same(&z, "settings", OpKind::Read, json!({"id": "theme"})).await;
    assert_eq!(r.result.unwrap()["value"], "dark");

    // A workflow runs for its caller's tenant.
    for (name, c) in z.iter() {
        let r = c
            .run(
                "add_book",
                &json!({"author": format!("wf {name}"), "title": "T"}),
            )
            .await;
        assert!(r.result.is_ok(), "{name}: {:?}", r.result);
    }
    let n = same(&z, "authors", OpKind::Count, json!({})).await;
    assert_eq!(n.result.unwrap()["count"], 8);
    let n = same(&a, "authors", OpKind::Count, json!({})).await;
    assert_eq!(n.result.unwrap()["count"], 4);
    let n = same(&a, "books", OpKind::Count, json!({})).await;
    assert_eq!(n.result.unwrap()["count"], 0);

    // An async run is read back only by its tenant.
    let http = reqwest::Client::new();
    let base = format!("http://{}", h.http_addr());
    let started: Value = http
        .post(format!("{base}/workflows/add_book/execute"))
        .bearer_auth(&zeta)
        .json(&json!({"inputs": {"author": "async", "title": "A"}, "mode": "async"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run_id = started["run_id"].as_str().expect("run id").to_string();
    let get = |token: &str| {
        http.get(format!("{base}/workflows/add_book/runs/{run_id}"))
            .bearer_auth(token.to_string())
            .send()
    };
    let mut status = String::new();
    for _ in 0..100 {
        let r: Value = get(&zeta).await.unwrap().json().await.unwrap();
        status = r["status"].as_str().unwrap_or_default().to_string();
        if status == "completed" || status == "failed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, "completed");
    assert_eq!(get(&acme).await.unwrap().status(), 404);

    // Without a tenant: tenant_required on a scoped model, on every channel; shared ones serve.
    let none = channels(&h, &dir, &root, None).await;
    let r = same(&none, "authors", OpKind::Count, json!({})).await;
    assert_eq!(code(&r), "tenant_required");
    let r = same(&none, "settings", OpKind::Count, json!({})).await;
    assert_eq!(r.result.unwrap()["count"], 1);
    // admin:tenants acts for any tenant it names.
    let as_zeta = channels(&h, &dir, &root, Some("zeta")).await;
    let r = same(&as_zeta, "authors", OpKind::Count, json!({})).await;
    assert_eq!(r.result.unwrap()["count"], 9);
    // Without admin:tenants, naming another tenant is forbidden (the editor of zeta), and so
    // is naming any for a key without a tenant; naming its own tenant is fine.
    let http_of = |token: &str, tenant: &str| {
        Channel::Rest(
            Http::new(h.http_addr())
                .with_token(token)
                .with_tenant(tenant),
        )
    };
    for (token, tenant, want) in [
        (&zeta, "acme", "forbidden"),
        (&plain, "acme", "forbidden"),
        (&zeta, "zeta", "ok"),
        (&root, "bad tenant", "validation"),
    ] {
        let r = http_of(token, tenant)
            .call("authors", OpKind::Count, &json!({}))
            .await;
        assert!(code(&r).starts_with(want), "{tenant}: {:?}", r.result);
        if want == "forbidden" {
            assert_eq!(
                r.result.unwrap_err()["message"],
                "missing permission `admin:tenants`"
            );
        }
    }

    // The form of X-Tenant-ID is checked on every route, as the OpenAPI document says.
    for path in ["/workflows", "/models", "/api/authors"] {
        let r = http
            .get(format!("{base}{path}"))
            .bearer_auth(&root)
            .header("x-tenant-id", "two words")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["field"], "X-Tenant-ID", "{path}: {body}");
    }

    // The CLI in local mode: the local principal, acting for the tenant --tenant names.
    let r = local(&dir, &url, Some("acme"))
        .call("authors", OpKind::Count, &json!({}))
        .await;
    assert_eq!(r.result.unwrap()["count"], 4, "local --tenant acme");
    let r = local(&dir, &url, None)
        .call("authors", OpKind::Count, &json!({}))
        .await;
    assert_eq!(code(&r), "tenant_required");

    for list in [a, z, none, as_zeta] {
        for (_, c) in list {
            c.close().await;
        }
    }
    h.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    tenants_do_not_see_each_other(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    tenants_do_not_see_each_other(Backend::Postgres).await;
}

/// One step of a random interleaving through the channels.
#[derive(Debug, Clone)]
enum Step {
    Create { sku: u8, qty: i64 },
    Update { pick: usize, other: bool, qty: i64 },
    Delete { pick: usize, other: bool },
    Read { pick: usize, other: bool },
    BulkUpdateBelow { below: i64, qty: i64 },
    BulkDeleteAbove { above: i64 },
    Upsert { sku: u8, qty: i64 },
    Check,
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    let sku = 0u8..10;
    let qty = 0i64..8;
    prop_oneof![
        (sku.clone(), qty.clone()).prop_map(|(sku, qty)| Step::Create { sku, qty }),
        (any::<usize>(), any::<bool>(), qty.clone()).prop_map(|(pick, other, qty)| Step::Update {
            pick,
            other,
            qty
        }),
        (any::<usize>(), any::<bool>()).prop_map(|(pick, other)| Step::Delete { pick, other }),
        (any::<usize>(), any::<bool>()).prop_map(|(pick, other)| Step::Read { pick, other }),
        (qty.clone(), qty.clone()).prop_map(|(below, qty)| Step::BulkUpdateBelow { below, qty }),
        qty.clone()
            .prop_map(|above| Step::BulkDeleteAbove { above }),
        (sku, qty).prop_map(|(sku, qty)| Step::Upsert { sku, qty }),
        Just(Step::Check),
    ]
}

/// A tenant's `Item` rows as they must be: sku → (id, qty).
type Oracle = std::collections::BTreeMap<String, (Value, i64)>;

async fn check_items(c: &Channel, o: &Oracle, who: &str) {
    let page = c
        .call(
            "items",
            OpKind::List,
            &json!({"limit": 100, "order_by": ["sku"]}),
        )
        .await;
    let got: Oracle = page.result.expect("list")["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["sku"].as_str().unwrap().to_string(),
                (r["id"].clone(), r["qty"].as_i64().unwrap()),
            )
        })
        .collect();
    assert_eq!(&got, o, "{who}");
    let n = c.call("items", OpKind::Count, &json!({})).await;
    assert_eq!(n.result.expect("count")["count"], o.len(), "{who}");
}

/// Random interleavings of two tenants' operations, each step on a channel picked at random
/// (REST, `/nodes`, MCP), against a model of each tenant's rows: no answer ever shows, counts or
/// changes the other tenant's records.
#[test]
fn interleavings_through_the_channels() {
    use proptest::prelude::*;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = temp_dir();
    let (h, tenants) = rt.block_on(async {
        let url = common::fresh_shared_url(Backend::Sqlite).await.unwrap();
        let h = server(&url, &dir, false).await;
        let keys = h.api_keys().expect("key table");
        let mut tenants = Vec::new();
        for t in ["t-a", "t-b"] {
            let mut new = NewKey::new(t, ["editor"]);
            new.tenant = Some(t.to_string());
            let key = keys.create(new).await.expect("key").1;
            tenants.push(channels(&h, &dir, &key, None).await);
        }
        (h, tenants)
    });
    let config = ProptestConfig {
        cases: 12,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(steps in proptest::collection::vec((any::<bool>(), 0usize..3, step()), 1..30))| {
        rt.block_on(async {
            for t in &tenants {
                let r = t[0].1.call("items", OpKind::BulkDelete, &json!({"confirm_all": true})).await;
                assert!(r.result.is_ok(), "{:?}", r.result);
            }
            let mut oracles = [Oracle::new(), Oracle::new()];
            for (second, via, step) in steps {
                let (me, them) = if second { (1, 0) } else { (0, 1) };
                let (name, c) = &tenants[me][via];
                let pick_id = |o: &Oracle, pick: usize| -> Option<Value> {
                    (!o.is_empty()).then(|| o.values().nth(pick % o.len()).unwrap().0.clone())
                };
                let at = format!("{name} as tenant {me}: {step:?}");
                match step {
                    Step::Create { sku, qty } => {
                        let sku = format!("s{sku}");
                        let r = c.call("items", OpKind::Create, &json!({"name": "n", "sku": sku, "qty": qty})).await;
                        match (r.result, oracles[me].contains_key(&sku)) {
                            (Ok(rec), false) => { oracles[me].insert(sku, (rec["id"].clone(), qty)); }
                            (Err(e), true) => assert_eq!(e["code"], "conflict", "{at}"),
                            (r, exists) => panic!("{at}: {r:?}, exists {exists}"),
                        }
                    }
                    Step::Update { pick, other, qty } => {
                        let Some(id) = pick_id(&oracles[if other { them } else { me }], pick) else { continue };
                        let r = c.call("items", OpKind::Update, &json!({"id": id, "fields": {"qty": qty}})).await;
                        if other {
                            assert_eq!(r.result.unwrap_err()["code"], "not_found", "{at}");
                        } else {
                            assert!(r.result.is_ok(), "{at}: {:?}", r.result);
                            oracles[me].values_mut().find(|(i, _)| *i == id).unwrap().1 = qty;
                        }
                    }
                    Step::Delete { pick, other } => {
                        let Some(id) = pick_id(&oracles[if other { them } else { me }], pick) else { continue };
                        let r = c.call("items", OpKind::Delete, &json!({"id": id})).await;
                        assert_eq!(r.result.expect("delete")["deleted"], !other, "{at}");
                        if !other {
                            oracles[me].retain(|_, (i, _)| *i != id);
                        }
                    }
                    Step::Read { pick, other } => {
                        let Some(id) = pick_id(&oracles[if other { them } else { me }], pick) else { continue };
                        let r = c.call("items", OpKind::Read, &json!({"id": id})).await;
                        assert_eq!(r.result.is_ok(), !other, "{at}: {:?}", r.result);
                    }
                    Step::BulkUpdateBelow { below, qty } => {
                        let r = c.call("items", OpKind::BulkUpdate, &json!({"filter": {"qty": {"$lt": below}}, "fields": {"qty": qty}})).await;
                        let mut n = 0;
                        for row in oracles[me].values_mut().filter(|r| r.1 < below) {
                            row.1 = qty;
                            n += 1;
                        }
                        assert_eq!(r.result.expect("bulk update")["updated"], n, "{at}");
                    }
                    Step::BulkDeleteAbove { above } => {
                        let r = c.call("items", OpKind::BulkDelete, &json!({"filter": {"qty": {"$gt": above}}})).await;
                        let before = oracles[me].len();
                        oracles[me].retain(|_, r| r.1 <= above);
                        assert_eq!(r.result.expect("bulk delete")["deleted"], before - oracles[me].len(), "{at}");
                    }
                    Step::Upsert { sku, qty } => {
                        let sku = format!("s{sku}");
                        let r = c.call("items", OpKind::Upsert, &json!({"where": {"sku": sku}, "create": {"name": "n", "qty": qty}, "update": {"qty": qty}})).await;
                        let r = r.result.unwrap_or_else(|e| panic!("{at}: {e}"));
                        let created = !oracles[me].contains_key(&sku);
                        assert_eq!(r["action"], if created { "created" } else { "updated" }, "{at}");
                        oracles[me].insert(sku, (r["record"]["id"].clone(), qty));
                    }
                    Step::Check => {
                        for (t, o) in tenants.iter().zip(&oracles) {
                            check_items(&t[via].1, o, &at).await;
                        }
                    }
                }
            }
            for (t, o) in tenants.iter().zip(&oracles) {
                check_items(&t[0].1, o, "at the end").await;
            }
        });
    });
    rt.block_on(async {
        for list in tenants {
            for (_, c) in list {
                c.close().await;
            }
        }
        h.shutdown().await;
    });
    let _ = std::fs::remove_dir_all(&dir);
}
