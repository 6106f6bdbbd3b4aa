//! `flowgate mcp --stdio` as a desktop MCP client runs it: a child process speaking MCP on its
//! standard input and output, driven by rmcp's child-process client. On SQLite: the handshake,
//! the tool list, one tool call, then the end of the session ends the process.
//!
//! No timing assertions: waits are bounded and fail after [`WAIT`].
#![allow(missing_docs)]

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const WAIT: Duration = Duration::from_secs(20);

const SCHEMA: &str = r#"
[models.Task]
description = "A unit of work"
fields.title = { type = "string", max_length = 200 }
fields.state = { type = "enum", values = ["open", "done"], default = "open" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_session_lists_and_calls_tools() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let dir = std::env::temp_dir()
        .join("flowgate-tests")
        .join(format!("stdio_{}_{nanos:x}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let schema = dir.join("models.toml");
    std::fs::write(&schema, SCHEMA).unwrap();
    let url = format!("sqlite://{}", dir.join("x.db").display());

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowgate"));
    cmd.args(["mcp", "--stdio", "--models"])
        .arg(&schema)
        .args(["--database-url", &url])
        .current_dir(&dir)
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "info")
        .kill_on_drop(true);
    for (name, _) in std::env::vars() {
        if name.starts_with("FLOWGATE_") {
            cmd.env_remove(name);
        }
    }
    let (transport, stderr) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn flowgate mcp --stdio");
    // Logs go to stderr (stdout carries only MCP); keep them for failure messages.
    let log = Arc::new(Mutex::new(String::new()));
    let stderr = stderr.expect("piped stderr");
    let drain = tokio::spawn({
        let log = log.clone();
        async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        }
    });
    let logs = || log.lock().unwrap().clone();

    let client = match tokio::time::timeout(WAIT, ().serve(transport)).await {
        Ok(Ok(client)) => client,
        Ok(Err(e)) => panic!("initialize: {e}\n{}", logs()),
        Err(_) => panic!("no handshake within {WAIT:?}: {}", logs()),
    };
    let info = client.peer_info().expect("server info");
    assert_eq!(
        info.server_info.as_ref().map(|i| i.name.as_str()),
        Some("flowgate")
    );

    // The model comes up in the background: poll the tool list until it is served.
    let deadline = tokio::time::Instant::now() + WAIT;
    let tools = loop {
        let tools = client.list_all_tools().await.expect("tools/list");
        if !tools.is_empty() {
            break tools;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no tools within {WAIT:?}: {}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "tasks_bulk_create",
            "tasks_bulk_delete",
            "tasks_bulk_update",
            "tasks_bulk_upsert",
            "tasks_count",
            "tasks_create",
            "tasks_delete",
            "tasks_list",
            "tasks_read",
            "tasks_update",
            "tasks_upsert",
        ]
    );

    let args = json!({"title": "Write tests"});
    let result = client
        .call_tool(
            CallToolRequestParams::new("tasks_create")
                .with_arguments(args.as_object().cloned().unwrap_or_default()),
        )
        .await
        .expect("tools/call");
    assert_eq!(result.is_error, Some(false), "{result:?}");
    let record = result
        .structured_content
        .clone()
        .expect("structuredContent");
    assert_eq!(record["title"], "Write tests");
    assert_eq!(record["state"], "open");
    let text = result.content[0]
        .as_text()
        .expect("a text copy")
        .text
        .clone();
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), record);

    // Ending the session (closing stdin) ends the server, which shuts down by itself.
    tokio::time::timeout(WAIT, client.cancel())
        .await
        .unwrap_or_else(|_| panic!("the session did not close within {WAIT:?}"))
        .expect("cancel");
    tokio::time::timeout(WAIT, drain)
        .await
        .unwrap_or_else(|_| panic!("stderr did not end within {WAIT:?}: {}", logs()))
        .expect("drain");
    let logs = logs();
    assert!(
        logs.contains("flowgate listening http="),
        "the listening line on stderr: {logs}"
    );
    assert!(
        logs.contains("the MCP client closed standard input"),
        "the server saw the session end: {logs}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
