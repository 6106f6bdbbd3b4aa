//! `flowgate keys create|list|revoke` as a script would use them, on the real binary and a
//! SQLite file; and the CLI's local mode admitted by `auth.local_role`.
#![allow(missing_docs)]

mod support;

use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn flowgate(dir: &Path, args: &[&str]) -> Out {
    let mut cmd = support::flowgate(dir, "warn");
    cmd.args(args).stdin(std::process::Stdio::null());
    let out = tokio::time::timeout(WAIT, cmd.output())
        .await
        .expect("flowgate within the wait")
        .expect("flowgate runs");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[tokio::test]
async fn keys_are_printed_once_listed_without_the_key_and_revoked() {
    let dir = support::temp_dir("cli_keys");
    let db = "sqlite://keys.db";
    // Listing a database without keys creates nothing and lists nothing.
    let out = flowgate(&dir, &["keys", "list", "--database-url", db, "--json"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(json(&out.stdout)["keys"], serde_json::json!([]));

    let out = flowgate(
        &dir,
        &[
            "keys",
            "create",
            "--name",
            "ci",
            "--role",
            "reader",
            "--expires-in",
            "30d",
            "--database-url",
            db,
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    // The key alone on its line: what `KEY=$(flowgate keys create ...)` reads.
    let key = out.stdout.trim_end_matches('\n');
    assert!(
        flowgate::keys::looks_like_key(key) && !key.contains('\n'),
        "{:?}",
        out.stdout
    );
    assert!(out.stderr.contains("created key ci"), "{}", out.stderr);
    assert!(out.stderr.contains("shown this once"), "{}", out.stderr);

    let out = flowgate(&dir, &["keys", "list", "--database-url", db, "--json"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stdout.contains(key), "{}", out.stdout);
    let listed = json(&out.stdout);
    assert_eq!(listed["keys"][0]["name"], "ci");
    assert_eq!(listed["keys"][0]["roles"], serde_json::json!(["reader"]));
    assert_eq!(listed["keys"][0]["status"], "active");
    assert_eq!(listed["keys"][0]["prefix"], key[..10]);

    // --json gives the key inside the object.
    let out = flowgate(
        &dir,
        &[
            "keys",
            "create",
            "--name",
            "bot",
            "--role",
            "admin",
            "--database-url",
            db,
            "--json",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let created = json(&out.stdout);
    assert!(flowgate::keys::looks_like_key(
        created["key"].as_str().unwrap()
    ));

    // Refusals: the error object on stderr and the exit code of its code; nothing created.
    for (args, code, error) in [
        (vec!["--name", "ci", "--role", "reader"], 5, "conflict"),
        (vec!["--name", "x", "--role", "nobody"], 3, "validation"),
        (
            vec!["--name", "x", "--role", "reader", "--expires-in", "soon"],
            3,
            "validation",
        ),
        (
            vec!["--name", "bad name", "--role", "reader"],
            3,
            "validation",
        ),
    ] {
        let mut all = vec!["keys", "create"];
        all.extend(args);
        all.extend(["--database-url", db]);
        let out = flowgate(&dir, &all).await;
        assert_eq!(out.code, code, "{all:?}: {}", out.stderr);
        let last = out.stderr.lines().last().unwrap_or_default();
        assert_eq!(json(last)["error"]["code"], error, "{all:?}");
        assert!(out.stdout.is_empty(), "{all:?}: {}", out.stdout);
    }

    let out = flowgate(
        &dir,
        &["keys", "revoke", "ci", "--database-url", db, "--json"],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(json(&out.stdout)["status"], "revoked");
    let out = flowgate(&dir, &["keys", "revoke", "nobody", "--database-url", db]).await;
    assert_eq!(out.code, 4, "{}", out.stderr);
    let out = flowgate(&dir, &["keys", "list", "--database-url", db, "--json"]).await;
    assert_eq!(json(&out.stdout)["keys"].as_array().unwrap().len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn local_mode_is_admitted_by_the_local_role() {
    let dir = support::temp_dir("cli_local_role");
    std::fs::write(
        dir.join("models.toml"),
        "[models.Note]\nfields.text = { type = \"string\", max_length = 100 }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("flowgate.toml"),
        "database_url = \"sqlite://notes.db\"\nmodels = [\"models.toml\"]\n[auth]\nlocal_role = \"reader\"\n",
    )
    .unwrap();
    let out = flowgate(
        &dir,
        &["notes", "list", "--config", "flowgate.toml", "--json"],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = flowgate(
        &dir,
        &[
            "notes",
            "create",
            "--text",
            "hi",
            "--config",
            "flowgate.toml",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.code, 7, "{}", out.stderr);
    let last = out.stderr.lines().last().unwrap_or_default();
    assert_eq!(
        json(last)["error"]["message"],
        "missing permission `Note:create`"
    );
    // Without the setting, local mode is admin, as it always was.
    let out = flowgate(
        &dir,
        &[
            "notes",
            "create",
            "--text",
            "hi",
            "--database-url",
            "sqlite://notes.db",
            "--models",
            "models.toml",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let _ = std::fs::remove_dir_all(&dir);
}
