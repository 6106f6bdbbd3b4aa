//! Who may do what, on every channel (DESIGN 13.1–13.3): one table of principals × operations
//! (anonymous, reader, editor, admin, an expired and a revoked key, an editor JWT, tokens
//! signed with another key, with `alg: none`, expired, and garbage) runs through the REST
//! model routes, `POST /nodes/...`, workflow runs, MCP over streamable HTTP (rmcp's client,
//! sending the credential with every request) and the CLI in remote mode (`--token`). Every
//! channel must give the same result or error object for the same principal and step.
//!
//! Rate limits: a burst gets exactly the configured number of calls through on each channel,
//! then `rate_limited` (429 with `Retry-After` and `RateLimit-*`, an MCP tool error, CLI exit
//! code 8); an override limits its own operation; two servers on one Redis share one bucket
//! (`FLOWGATE_TEST_REDIS_URL`). A property test checks the policy stage against an oracle.
#![allow(missing_docs)]

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "channels/drivers.rs"]
#[allow(dead_code)]
mod drivers;
#[path = "channels/scenarios.rs"]
#[allow(dead_code)]
mod scenarios;

use base64::Engine as _;
use common::Backend;
use drivers::{Answer, Channel, Cli, Http, WAIT};
use flowgate::OpKind;
use flowgate::keys::NewKey;
use flowgate_actors::Handle;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

const JWT_SECRET: &str = "a-test-secret-of-at-least-32-bytes!";
const ISSUER: &str = "flowgate-tests";

fn temp_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join("flowgate-tests")
        .join(common::unique_name(prefix));
    std::fs::create_dir_all(dir.join("discover")).expect("temp dir");
    std::fs::write(dir.join("models.toml"), scenarios::SCHEMA).expect("schema file");
    for (name, text) in scenarios::WORKFLOWS {
        std::fs::write(dir.join("discover").join(name), text).expect("workflow file");
    }
    dir
}

async fn server(url: &str, dir: &Path, settings: &[(&str, Value)]) -> Handle {
    let mut b = common::server_builder(url)
        .set(
            "discover",
            json!([dir.join("discover").display().to_string()]),
        )
        .model_file(dir.join("models.toml"));
    for (k, v) in settings {
        b = b.set(k, v.clone());
    }
    let handle = b.start().await.expect("server starts");
    assert!(
        handle.wait_ready(WAIT).await,
        "not ready: {:#}",
        handle.board().to_json()
    );
    handle
}

fn jwt(claims: Value, secret: &str) -> String {
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("encode")
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// `{"alg":"none"}` and the claims, unsigned.
fn unsigned(claims: &Value) -> String {
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(claims)
    )
}

/// A step of the table.
#[derive(Clone, Copy, Debug)]
enum Step {
    Op(&'static str, OpKind),
    Workflow(&'static str),
}

const STEPS: [Step; 6] = [
    Step::Op("books", OpKind::List),
    Step::Op("books", OpKind::Create),
    Step::Op("books", OpKind::BulkDelete),
    Step::Op("authors", OpKind::Count),
    Step::Op("authors", OpKind::Create),
    Step::Workflow("add_book"),
];

static UNIQUE: AtomicU32 = AtomicU32::new(0);

fn params(step: Step) -> Value {
    let n = UNIQUE.fetch_add(1, Ordering::Relaxed);
    match step {
        Step::Op("books", OpKind::List) => json!({"limit": 1}),
        Step::Op("books", OpKind::Create) => json!({"title": format!("Title {n}")}),
        Step::Op("books", OpKind::BulkDelete) => json!({"filter": {"title": "no such title"}}),
        Step::Op("authors", OpKind::Count) => json!({}),
        Step::Op("authors", OpKind::Create) => json!({"name": format!("Author {n}")}),
        Step::Workflow(_) => json!({"author": format!("Writer {n}"), "title": "First"}),
        Step::Op(..) => unreachable!(),
    }
}

/// What a role may do, by the configuration of [`auth_settings`]: `None` when the step runs,
/// else the permission it misses.
fn missing_permission(role: &str, step: Step) -> Option<&'static str> {
    let (perm, reader, editor) = match step {
        Step::Op("books", OpKind::List) => ("Book:list", true, true),
        Step::Op("books", OpKind::Create) => ("Book:create", false, true),
        Step::Op("books", OpKind::BulkDelete) => ("Book:bulk_delete", false, false),
        Step::Op("authors", OpKind::Count) => ("Author:count", true, false),
        Step::Op("authors", OpKind::Create) => ("Author:create", false, false),
        // The editor may run the workflow, but not its first node's operation.
        Step::Workflow(_) => ("workflow:add_book", false, false),
        Step::Op(..) => unreachable!(),
    };
    let allowed = match role {
        "admin" => true,
        "reader" => reader,
        "editor" => editor,
        _ => false,
    };
    if allowed {
        None
    } else if role == "editor" && matches!(step, Step::Workflow(_)) {
        Some("Author:create")
    } else {
        Some(perm)
    }
}

fn auth_settings() -> Vec<(&'static str, Value)> {
    vec![(
        "auth",
        json!({
            "required": true,
            "jwt_secret": JWT_SECRET,
            "jwt_issuer": ISSUER,
            "roles": {
                "editor": {
                    "allow": ["Book:*", "Author:read", "Author:list", "workflow:add_book"],
                    "deny": ["Book:bulk_delete"],
                }
            }
        }),
    )]
}

/// A principal of the table: its name, its token, and the role it acts as (`None`: every
/// step is refused as `unauthorized`).
struct Who {
    name: &'static str,
    token: Option<String>,
    role: Option<&'static str>,
}

async fn principals(h: &Handle) -> Vec<Who> {
    let keys = h.api_keys().expect("the key table is open once ready");
    let key = |name: &'static str, role: &'static str| {
        let keys = keys.clone();
        async move {
            keys.create(NewKey::new(name, [role]))
                .await
                .expect("create key")
                .1
        }
    };
    let mut short = NewKey::new("expired", ["admin"]);
    short.expires_in = Some(Duration::from_secs(1));
    let (_, expired) = keys.create(short).await.unwrap();
    let revoked = key("revoked", "admin").await;
    // Used once, so that the server has it cached when it is revoked.
    let used = Http::new(h.http_addr()).with_token(&revoked);
    assert!(
        Channel::Rest(used)
            .call("books", OpKind::Count, &json!({}))
            .await
            .result
            .is_ok()
    );
    h.revoke_key("revoked").await.unwrap();
    let claims = |roles: &[&str], exp: i64| json!({"sub": "user-7", "iss": ISSUER, "exp": exp, "roles": roles});
    let who = vec![
        Who {
            name: "anonymous",
            token: None,
            role: None,
        },
        Who {
            name: "reader key",
            token: Some(key("reader", "reader").await),
            role: Some("reader"),
        },
        Who {
            name: "editor key",
            token: Some(key("editor", "editor").await),
            role: Some("editor"),
        },
        Who {
            name: "admin key",
            token: Some(key("admin", "admin").await),
            role: Some("admin"),
        },
        Who {
            name: "editor JWT",
            token: Some(jwt(claims(&["editor"], now() + 600), JWT_SECRET)),
            role: Some("editor"),
        },
        Who {
            name: "expired key",
            token: Some(expired),
            role: None,
        },
        Who {
            name: "revoked key",
            token: Some(revoked),
            role: None,
        },
        Who {
            name: "unknown key",
            token: Some(flowgate::keys::generate_secret()),
            role: None,
        },
        Who {
            name: "JWT of another key",
            token: Some(jwt(
                claims(&["admin"], now() + 600),
                "another-secret-of-at-least-32-bytes",
            )),
            role: None,
        },
        Who {
            name: "JWT alg none",
            token: Some(unsigned(&claims(&["admin"], now() + 600))),
            role: None,
        },
        Who {
            name: "expired JWT",
            token: Some(jwt(claims(&["admin"], now() - 600), JWT_SECRET)),
            role: None,
        },
        Who {
            name: "JWT without exp",
            token: Some(jwt(
                json!({"sub": "x", "iss": ISSUER, "roles": ["admin"]}),
                JWT_SECRET,
            )),
            role: None,
        },
        Who {
            name: "garbage",
            token: Some("not-a-token".into()),
            role: None,
        },
    ];
    // The short key has expired by the time the table runs.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    who
}

fn expected(who: &Who, step: Step) -> Result<(), (&'static str, String)> {
    let Some(role) = who.role else {
        let message = if who.token.is_none() {
            "a credential is required"
        } else {
            "invalid credential"
        };
        return Err(("unauthorized", message.to_string()));
    };
    match missing_permission(role, step) {
        None => Ok(()),
        Some(p) => Err(("forbidden", format!("missing permission `{p}`"))),
    }
}

async fn run_step(channel: &Channel, step: Step) -> Answer {
    match step {
        Step::Op(table, op) => channel.call(table, op, &params(step)).await,
        Step::Workflow(name) => channel.run(name, &params(step)).await,
    }
}

/// Checks one answer against the table; the mismatch in words.
fn check(channel: &str, who: &Who, step: Step, answer: &Answer) -> Option<String> {
    let want = expected(who, step);
    let problem = answer.problem.as_ref().map(|p| format!(" ({p})"));
    let ok = match (&want, &answer.result) {
        (Ok(()), Ok(_)) => true,
        (Err((code, message)), Err(e)) => e["code"] == *code && e["message"] == *message,
        _ => false,
    };
    (!ok || problem.is_some()).then(|| {
        format!(
            "{channel} as {}: {step:?}: expected {want:?}, got {:?}{}",
            who.name,
            answer.result,
            problem.unwrap_or_default()
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_channel_gives_each_principal_the_same_answer() {
    let url = common::fresh_shared_url(Backend::Sqlite).await.unwrap();
    let dir = temp_dir("auth_table");
    let h = server(&url, &dir, &auth_settings()).await;
    let who = principals(&h).await;
    let mut failures = Vec::new();
    for w in &who {
        let token = w.token.as_deref();
        let http = || {
            let c = Http::new(h.http_addr());
            match token {
                Some(t) => c.with_token(t),
                None => c,
            }
        };
        let mut channels = vec![
            ("REST", Some(Channel::Rest(http()))),
            ("/nodes", Some(Channel::Nodes(http()))),
            (
                "CLI remote",
                Some(Channel::Cli(Cli::remote_as(&dir, h.http_addr(), token))),
            ),
        ];
        // MCP: a refused credential fails `initialize` with HTTP 401 (before any tool call).
        match drivers::mcp_session_as(h.mcp_addr(), token).await {
            Ok(session) => {
                if w.role.is_none() {
                    failures.push(format!("MCP as {}: initialize succeeded", w.name));
                }
                check_tool_list(&session, w, &mut failures).await;
                channels.push(("MCP", Some(Channel::Mcp(session))));
            }
            Err(e) => {
                if w.role.is_some() || !(e.contains("401") || e.contains("Auth")) {
                    failures.push(format!("MCP as {}: initialize failed: {e}", w.name));
                }
            }
        }
        for (name, channel) in &channels {
            let channel = channel.as_ref().unwrap();
            for step in STEPS {
                let answer = run_step(channel, step).await;
                failures.extend(check(name, w, step, &answer));
            }
        }
        for (_, c) in channels {
            if let Some(c) = c {
                c.close().await;
            }
        }
    }
    h.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `tools/list` shows exactly the tools the principal may call.
async fn check_tool_list(
    s: &rmcp::service::RunningService<rmcp::RoleClient, ()>,
    who: &Who,
    failures: &mut Vec<String>,
) {
    let tools = match s.list_all_tools().await {
        Ok(t) => t,
        Err(e) => {
            failures.push(format!("MCP as {}: tools/list failed: {e}", who.name));
            return;
        }
    };
    let mut names: Vec<String> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    fn all_ops(table: &'static str) -> impl Iterator<Item = String> {
        OpKind::ALL.iter().map(move |op| op.tool_name(table))
    }
    let mut want: Vec<String> = match who.role {
        Some("admin") => all_ops("authors")
            .chain(all_ops("books"))
            .chain(all_ops("items"))
            .chain(all_ops("settings"))
            .chain(["add_book", "add_book_tx", "titles_of", "audit_list"].map(String::from))
            .collect(),
        Some("reader") => ["authors", "books", "items", "settings"]
            .iter()
            .flat_map(|t| [OpKind::Read, OpKind::List, OpKind::Count].map(|op| op.tool_name(t)))
            .collect(),
        Some("editor") => all_ops("books")
            .filter(|n| n != "books_bulk_delete")
            .chain([
                "authors_read".into(),
                "authors_list".into(),
                "add_book".into(),
            ])
            .collect(),
        _ => Vec::new(),
    };
    want.sort();
    if names != want {
        failures.push(format!(
            "MCP as {}: tools/list gave {names:?}, expected {want:?}",
            who.name
        ));
    }
}

/// Malformed `Authorization` headers and admin areas, over plain HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_credentials_and_admin_areas() {
    let url = common::fresh_shared_url(Backend::Sqlite).await.unwrap();
    let dir = temp_dir("auth_admin");
    let h = server(&url, &dir, &auth_settings()).await;
    let keys = h.api_keys().unwrap();
    let (_, admin) = keys.create(NewKey::new("root", ["admin"])).await.unwrap();
    let (_, reader) = keys.create(NewKey::new("look", ["reader"])).await.unwrap();
    let c = common::http_client();
    let base = format!("http://{}", h.http_addr());
    let mcp = format!("http://{}/mcp", h.mcp_addr());

    for value in [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer ",
        "Bearer a b",
        "bearer\u{7f}",
    ] {
        for target in [format!("{base}/api/books"), mcp.clone()] {
            let req = match reqwest::header::HeaderValue::from_str(value) {
                Ok(v) => c.get(&target).header("authorization", v),
                Err(_) => continue,
            };
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 401, "{value:?} on {target}");
            assert_eq!(resp.headers()["www-authenticate"], "Bearer");
            // Logged under the request id the answer carries.
            assert!(resp.headers().contains_key("x-request-id"), "{target}");
            let body: Value = resp.json().await.unwrap();
            assert_eq!(body["error"]["code"], "unauthorized", "{body}");
            assert_eq!(body["error"]["message"], "invalid credential", "{body}");
        }
    }
    // Both headers at once, differing: refused rather than guessed.
    let resp = c
        .get(format!("{base}/api/books"))
        .bearer_auth(&admin)
        .header("x-api-key", &reader)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // The key table over REST: admin:keys only; the key shown once, never listed.
    let resp = c
        .get(format!("{base}/admin/keys"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["error"]["message"], "missing permission `admin:keys`",
        "{body}"
    );
    let resp = c
        .post(format!("{base}/admin/keys"))
        .header("x-api-key", &admin)
        .json(&json!({"name": "ci", "roles": ["editor"], "expires_in": "30d"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.unwrap();
    let secret = created["key"].as_str().unwrap().to_string();
    assert!(flowgate::keys::looks_like_key(&secret));
    assert_eq!(created["status"], "active");
    let listed = c
        .get(format!("{base}/admin/keys"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !listed.contains(&secret) && listed.contains("\"ci\""),
        "{listed}"
    );
    for (body, field) in [
        (json!({"name": "x", "roles": ["nobody"]}), "roles"),
        (json!({"name": "x"}), "roles"),
        (
            json!({"name": "x", "roles": ["reader"], "expires_in": "soon"}),
            "expires_in",
        ),
        (
            json!({"name": "x", "roles": ["reader"], "owner": "me"}),
            "owner",
        ),
    ] {
        let resp = c
            .post(format!("{base}/admin/keys"))
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{body}");
        let e: Value = resp.json().await.unwrap();
        assert_eq!(e["error"]["field"], field, "{e}");
    }
    // The new key works until it is revoked, then stops at once.
    let ok = c
        .get(format!("{base}/api/books"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let resp = c
        .delete(format!("{base}/admin/keys/ci"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let revoked: Value = resp.json().await.unwrap();
    assert_eq!(revoked["status"], "revoked");
    let gone = c
        .get(format!("{base}/api/books"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 401);

    // Registering a workflow is admin:workflows; the readiness details are for admins.
    let resp = c
        .post(format!("{base}/workflows"))
        .bearer_auth(&reader)
        .json(&json!({"name": "w", "nodes": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let ready: Value = c
        .get(format!("{base}/health/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready, json!({"ready": true}));
    let ready: Value = c
        .get(format!("{base}/health/ready"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["features"]["auth"]["state"], "ready", "{ready}");

    h.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A local server without credentials: a page on another origin cannot drive either port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_server_refuses_other_origins_on_both_ports() {
    let url = common::fresh_shared_url(Backend::Sqlite).await.unwrap();
    let dir = temp_dir("auth_origin");
    let h = server(&url, &dir, &[]).await;
    let c = common::http_client();
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "page", "version": "1"}}});
    let mcp = format!("http://{}/mcp", h.mcp_addr());
    let rest = format!("http://{}/api/books", h.http_addr());
    for (target, body) in [(&mcp, init.clone()), (&rest, json!({"title": "x"}))] {
        let resp = c
            .post(target)
            .header("origin", "https://evil.example")
            .header("accept", "application/json, text/event-stream")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "{target}");
        let e: Value = resp.json().await.unwrap();
        assert_eq!(e["error"]["code"], "forbidden", "{target}: {e}");
    }
    // The server's own origin is not foreign.
    let resp = c
        .post(&mcp)
        .header("origin", format!("http://{}", h.mcp_addr()))
        .header("accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    h.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Listening beyond loopback without credentials is refused unless said on purpose.
#[tokio::test]
async fn an_open_server_beyond_loopback_needs_allow_anonymous() {
    let url = common::fresh_shared_url(Backend::Sqlite).await.unwrap();
    let start = |extra: Value| {
        let url = url.clone();
        async move {
            flowgate_actors::Supervisor::builder()
                .database_url(&url)
                .http_port(0)
                .mcp_port(0)
                .set("host", "0.0.0.0")
                .set("auth", extra)
                .start()
                .await
        }
    };
    let err = start(json!({"required": false}))
        .await
        .err()
        .expect("refused");
    let text = err.to_string();
    assert!(text.contains("allow_anonymous"), "{text}");
    let h = start(json!({"required": false, "allow_anonymous": true}))
        .await
        .expect("starts when anonymous access is on purpose");
    h.shutdown().await;
    // Required by default beyond loopback: anonymous calls are refused.
    let h = start(json!({})).await.expect("starts");
    let port = h.http_addr().port();
    let resp = common::http_client()
        .get(format!("http://127.0.0.1:{port}/models"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    h.shutdown().await;
}

/// A burst of `n` through `channel`, then one more: the answers' codes (`ok` for a result).
async fn burst(channel: &Channel, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..=n {
        let a = channel.call("books", OpKind::Count, &json!({})).await;
        assert!(a.problem.is_none(), "{:?}", a.problem);
        out.push(match a.result {
            Ok(_) => "ok".to_string(),
            Err(e) => e["code"].as_str().unwrap_or_default().to_string(),
        });
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_gets_exactly_the_limit_through_on_every_channel() {
    let url = common::fresh_shared_url(Backend::Sqlite).await.unwrap();
    let dir = temp_dir("rate_limit");
    let settings = vec![(
        "rate_limit",
        json!({"default": "1/h burst 3", "overrides": {"books_bulk_delete": "1/h"}}),
    )];
    let h = server(&url, &dir, &settings).await;
    let keys = h.api_keys().unwrap();
    let token = |name: &'static str| {
        let keys = keys.clone();
        async move { keys.create(NewKey::new(name, ["admin"])).await.unwrap().1 }
    };
    let want = ["ok", "ok", "ok", "rate_limited"];
    // Each channel with a key of its own, so a bucket of its own.
    let t = token("rest").await;
    let rest = Channel::Rest(Http::new(h.http_addr()).with_token(&t));
    assert_eq!(burst(&rest, 3).await, want, "REST");
    let t = token("nodes").await;
    assert_eq!(
        burst(&Channel::Nodes(Http::new(h.http_addr()).with_token(&t)), 3).await,
        want,
        "/nodes"
    );
    let t = token("cli").await;
    assert_eq!(
        burst(
            &Channel::Cli(Cli::remote_as(&dir, h.http_addr(), Some(&t))),
            3
        )
        .await,
        want,
        "CLI remote"
    );
    let t = token("mcp").await;
    let mcp = Channel::Mcp(
        drivers::mcp_session_as(h.mcp_addr(), Some(&t))
            .await
            .unwrap(),
    );
    assert_eq!(burst(&mcp, 3).await, want, "MCP");
    mcp.close().await;

    // The 429 itself: Retry-After and the RateLimit fields.
    let c = common::http_client();
    let t = token("headers").await;
    let url_count = format!("http://{}/api/books/count", h.http_addr());
    for _ in 0..3 {
        let r = c.get(&url_count).bearer_auth(&t).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = c.get(&url_count).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 429);
    let header = |n: &str| r.headers()[n].to_str().unwrap().parse::<u64>().unwrap();
    assert_eq!(header("ratelimit-limit"), 3);
    assert_eq!(header("ratelimit-remaining"), 0);
    assert!(header("retry-after") > 3000, "one call back per 20 minutes");
    assert!(header("ratelimit-reset") >= header("retry-after"));
    let body: Value = r.json().await.unwrap();
    assert!(body["error"]["details"]["retry_after_ms"].as_u64().unwrap() > 3_000_000);

    // An override is its own bucket: one bulk delete, then 429, while counts still pass.
    let t = token("override").await;
    let rest = Channel::Rest(Http::new(h.http_addr()).with_token(&t));
    let bulk = json!({"filter": {"title": "none"}});
    let first = rest.call("books", OpKind::BulkDelete, &bulk).await;
    assert!(first.result.is_ok(), "{:?}", first.result);
    let second = rest.call("books", OpKind::BulkDelete, &bulk).await;
    assert_eq!(second.result.unwrap_err()["code"], "rate_limited");
    assert!(
        rest.call("books", OpKind::Count, &json!({}))
            .await
            .result
            .is_ok()
    );

    // Anonymous callers share their address's bucket.
    let anon = Channel::Rest(Http::new(h.http_addr()));
    assert_eq!(burst(&anon, 3).await, want, "anonymous");
    assert_eq!(
        h.board().to_json()["features"]["rate_limit"]["state"],
        "ready"
    );
    h.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

fn redis_url() -> Option<String> {
    match std::env::var("FLOWGATE_TEST_REDIS_URL") {
        Ok(u) => Some(u),
        Err(_) if std::env::var_os("FLOWGATE_TEST_REQUIRE_ALL").is_some() => {
            panic!("FLOWGATE_TEST_REDIS_URL is not set but FLOWGATE_TEST_REQUIRE_ALL is")
        }
        Err(_) => {
            eprintln!("note: FLOWGATE_TEST_REDIS_URL is not set; skipping the Redis rate limit");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_redis_share_one_bucket() {
    let Some(redis) = redis_url() else { return };
    let prefix = format!("{}:", common::unique_name("fgt_rl"));
    let dir = temp_dir("rate_limit_redis");
    let settings = vec![(
        "rate_limit",
        json!({"default": "1/h burst 4", "backend": "redis", "redis_url": redis, "key_prefix": prefix}),
    )];
    let a = server(
        &common::fresh_shared_url(Backend::Sqlite).await.unwrap(),
        &dir,
        &settings,
    )
    .await;
    let b = server(
        &common::fresh_shared_url(Backend::Sqlite).await.unwrap(),
        &dir,
        &settings,
    )
    .await;
    let (ca, cb) = (
        Channel::Rest(Http::new(a.http_addr())),
        Channel::Rest(Http::new(b.http_addr())),
    );
    let mut codes = Vec::new();
    for i in 0..8 {
        let c = if i % 2 == 0 { &ca } else { &cb };
        let answer = c.call("books", OpKind::Count, &json!({})).await;
        codes.push(match answer.result {
            Ok(_) => "ok".to_string(),
            Err(e) => e["code"].as_str().unwrap().to_string(),
        });
    }
    assert_eq!(
        codes,
        [
            "ok",
            "ok",
            "ok",
            "ok",
            "rate_limited",
            "rate_limited",
            "rate_limited",
            "rate_limited"
        ]
    );
    a.shutdown().await;
    b.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_unreachable_redis_fails_closed() {
    let dir = temp_dir("rate_limit_down");
    // A port nothing listens on.
    let settings = [(
        "rate_limit",
        json!({"default": "100/s", "backend": "redis", "redis_url": "redis://:hunter2@127.0.0.1:1"}),
    )];
    let url = common::fresh_shared_url(Backend::Sqlite).await.unwrap();
    let h = common::server_builder(&url)
        .model_file(dir.join("models.toml"))
        .set(settings[0].0, settings[0].1.clone())
        .start()
        .await
        .expect("the ports are bound whatever Redis does");
    let c = common::http_client();
    let base = format!("http://{}", h.http_addr());
    // Books become ready; the rate limit feature does not.
    let mut answer = None;
    for _ in 0..100 {
        let r = c
            .get(format!("{base}/api/books/count"))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        if body["error"]["code"] == "unavailable" {
            answer = Some((status, body));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, body) = answer.expect("an unavailable answer");
    assert_eq!(status, 503, "{body}");
    assert!(!body.to_string().contains("hunter2"), "{body}");
    let board = h.board().to_json();
    assert_eq!(
        board["features"]["rate_limit"]["state"], "failed",
        "{board}"
    );
    assert!(!board.to_string().contains("hunter2"), "{board}");
    h.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

mod policy_property {
    use flowgate::OpKind;
    use flowgate_actors::auth::{Permission, Policy, RoleConfig};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    const MODELS: [&str; 3] = ["Book", "Author", "Item"];
    const WORKFLOWS: [&str; 2] = ["signup", "import"];

    /// A pattern: a permission with `*` for either part.
    fn pattern() -> impl Strategy<Value = String> {
        let left = prop_oneof![
            Just("*".to_string()),
            proptest::sample::select(MODELS.to_vec()).prop_map(String::from),
            Just("workflow".to_string()),
        ];
        let right = prop_oneof![
            Just("*".to_string()),
            proptest::sample::select(OpKind::ALL.to_vec()).prop_map(|o| o.as_str().to_string()),
            proptest::sample::select(WORKFLOWS.to_vec()).prop_map(String::from),
        ];
        let pair = (left, right).prop_filter_map("a valid pattern", |(l, r)| {
            let is_op = OpKind::ALL.iter().any(|o| o.as_str() == r);
            let is_wf = WORKFLOWS.contains(&r.as_str());
            match (l.as_str(), is_op, is_wf) {
                ("workflow", true, _) => None,
                ("workflow", _, _) => Some(format!("workflow:{r}")),
                (_, _, true) => None,
                _ => Some(format!("{l}:{r}")),
            }
        });
        prop_oneof![1 => Just("*".to_string()), 9 => pair]
    }

    fn role() -> impl Strategy<Value = RoleConfig> {
        (
            proptest::collection::vec(pattern(), 0..4),
            proptest::collection::vec(pattern(), 0..3),
        )
            .prop_map(|(allow, deny)| RoleConfig { allow, deny })
    }

    #[derive(Debug, Clone)]
    enum Perm {
        Op(&'static str, OpKind),
        Workflow(&'static str),
    }

    fn perm() -> impl Strategy<Value = Perm> {
        prop_oneof![
            (
                proptest::sample::select(MODELS.to_vec()),
                proptest::sample::select(OpKind::ALL.to_vec())
            )
                .prop_map(|(m, o)| Perm::Op(m, o)),
            proptest::sample::select(WORKFLOWS.to_vec()).prop_map(Perm::Workflow),
        ]
    }

    /// The oracle: a pattern matches when each side is `*` or equal; a role grants when one
    /// allow matches and no deny does; roles add up.
    fn oracle(roles: &BTreeMap<String, RoleConfig>, held: &[String], p: &Perm) -> bool {
        let (l, r) = match p {
            Perm::Op(m, o) => (m.to_string(), o.as_str().to_string()),
            Perm::Workflow(w) => ("workflow".to_string(), w.to_string()),
        };
        let matches = |pat: &String| {
            if pat == "*" {
                return true;
            }
            let (pl, pr) = pat.split_once(':').unwrap();
            let left = pl == l || (pl == "*" && l != "workflow");
            left && (pr == "*" || pr == r)
        };
        held.iter().any(|name| {
            let builtin;
            let role = match (roles.get(name), name.as_str()) {
                (Some(r), _) => r,
                (None, "admin") => return true,
                (None, "reader") => {
                    builtin = RoleConfig {
                        allow: vec!["*:read".into(), "*:list".into(), "*:count".into()],
                        deny: vec![],
                    };
                    &builtin
                }
                _ => return false,
            };
            role.allow.iter().any(matches) && !role.deny.iter().any(matches)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn an_operation_is_allowed_iff_a_role_grants_it(
            configured in proptest::collection::btree_map(
                proptest::sample::select(vec!["editor", "ops", "reader"]).prop_map(String::from),
                role(),
                0..3,
            ),
            held in proptest::collection::vec(
                proptest::sample::select(vec!["editor", "ops", "reader", "admin", "ghost"])
                    .prop_map(String::from),
                0..3,
            ),
            p in perm(),
        ) {
            let policy = Policy::new(&configured, false).expect("valid roles");
            let permission = match &p {
                Perm::Op(m, o) => Permission::Op { model: m, op: *o },
                Perm::Workflow(w) => Permission::Workflow(w),
            };
            prop_assert_eq!(
                policy.allows(&held, permission),
                oracle(&configured, &held, &p),
                "roles {:?} held {:?} {:?}", configured, held, p
            );
        }
    }
}

/// `expand` reads another model's records: a caller that may list books but not authors gets
/// books, and 403 for `expand=author` (on REST and MCP alike); one that may list authors gets
/// them inside the books.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expand_needs_list_on_the_related_model() {
    let url = common::fresh_shared_url(Backend::Sqlite).await.unwrap();
    let dir = temp_dir("auth_expand");
    let mut settings = auth_settings();
    settings[0].1["roles"]["shelf"] = json!({"allow": ["Book:read", "Book:list"]});
    let h = server(&url, &dir, &settings).await;
    let keys = h.api_keys().unwrap();
    let (_, shelf) = keys.create(NewKey::new("shelf", ["shelf"])).await.unwrap();
    let (_, editor) = keys.create(NewKey::new("ed", ["editor"])).await.unwrap();
    let (_, admin) = keys.create(NewKey::new("root", ["admin"])).await.unwrap();
    let c = common::http_client();
    let base = format!("http://{}", h.http_addr());
    let author: Value = c
        .post(format!("{base}/api/authors"))
        .bearer_auth(&admin)
        .json(&json!({"name": "Le Guin"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let created = c
        .post(format!("{base}/api/books"))
        .bearer_auth(&admin)
        .json(&json!({"title": "Lathe", "author_id": author["id"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let get = |key: String, query: &'static [(&'static str, &'static str)]| {
        let c = c.clone();
        let url = format!("{base}/api/books");
        async move {
            let r = c
                .get(url)
                .bearer_auth(key)
                .query(query)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, _) = get(shelf.clone(), &[]).await;
    assert_eq!(status, 200);
    let (status, body) = get(shelf.clone(), &[("expand", "author")]).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden", "{body}");
    assert!(body.to_string().contains("Author:list"), "{body}");
    let (status, body) = get(editor, &[("expand", "author")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["records"][0]["author"]["name"], "Le Guin", "{body}");
    // The same refusal as an MCP tool call.
    let mcp = Channel::Mcp(
        drivers::mcp_session_as(h.mcp_addr(), Some(&shelf))
            .await
            .unwrap(),
    );
    let answer = mcp
        .call("books", OpKind::List, &json!({"expand": ["author"]}))
        .await;
    let err = answer.result.expect_err("refused");
    assert_eq!(err["code"], "forbidden", "{err}");
    mcp.close().await;
    h.shutdown().await;
}
