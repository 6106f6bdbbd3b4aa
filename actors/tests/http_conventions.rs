//! The HTTP conventions end to end, on the `flowgate` binary over real sockets (SQLite file):
//! compression negotiated, `ETag` and 304, the access log line of each request on both ports
//! (stderr captured), `log_format = "json"` from the environment and from a configuration
//! file, no ANSI colours on a pipe, and an unknown `FLOWGATE_*` variable refused.
//!
//! No timing assertions: waits are bounded loops that fail after [`WAIT`].
#![allow(missing_docs)]

mod support;

use serde_json::{Value, json};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const WAIT: Duration = Duration::from_secs(10);

const SCHEMA: &str = r#"
[models.Task]
fields.title = { type = "string", max_length = 200 }
fields.done  = { type = "boolean", default = false }
"#;

fn temp_dir() -> PathBuf {
    let dir = support::temp_dir("hht_conv");
    std::fs::write(dir.join("models.toml"), SCHEMA).unwrap();
    dir
}

/// The binary with a clean environment (no `DATABASE_URL` or `FLOWGATE_*` from outside), the
/// access log on.
fn flowgate(dir: &Path) -> Command {
    support::flowgate(dir, "warn,flowgate::access=info")
}

/// A running `flowgate serve`: its HTTP and MCP addresses and every stderr line so far.
struct Served {
    child: Child,
    http: String,
    mcp: String,
    lines: Arc<Mutex<Vec<String>>>,
}

async fn serve(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Served {
    let url = format!("sqlite://{}", dir.join("x.db").display());
    let mut cmd = flowgate(dir);
    cmd.args([
        "serve",
        "--models",
        "models.toml",
        "--database-url",
        &url,
        "--http-port",
        "0",
        "--mcp-port",
        "0",
    ])
    .args(extra)
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn flowgate serve");
    let mut reader = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (http, mcp) = tokio::time::timeout(WAIT, async {
        while let Some(line) = reader.next_line().await.expect("read stderr") {
            if let Some(rest) = line.strip_prefix("flowgate listening http=") {
                let (http, mcp) = rest.split_once(" mcp=").expect("http=ADDR mcp=ADDR");
                return (http.to_string(), mcp.to_string());
            }
            lines.lock().unwrap().push(line);
        }
        panic!(
            "flowgate serve exited before it listened: {:#?}",
            lines.lock().unwrap()
        );
    })
    .await
    .expect("the listening line within the wait");
    let sink = lines.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = reader.next_line().await {
            sink.lock().unwrap().push(line);
        }
    });
    let s = Served {
        child,
        http,
        mcp,
        lines,
    };
    s.wait_ready().await;
    s
}

impl Served {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    async fn wait_ready(&self) {
        let http = client();
        let deadline = Instant::now() + WAIT;
        loop {
            let r = http
                .get(self.url("/health/ready"))
                .send()
                .await
                .expect("ready");
            if r.status() == 200 {
                return;
            }
            assert!(Instant::now() < deadline, "not ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The first stderr line with `needle`, waiting for it up to [`WAIT`].
    async fn line_with(&self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(l) = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(needle))
            {
                return l.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no line with {needle:?} in {:#?}",
                self.lines.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn stop(mut self) {
        let pid = self.child.id().expect("running").to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        let _ = tokio::time::timeout(WAIT, self.child.wait()).await;
    }
}

/// A client that does not decode compressed answers (reqwest's `gzip`/`brotli` features are
/// off), so the test sees the bytes on the wire.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_etag_and_the_access_log_over_sockets() {
    let dir = temp_dir();
    let s = serve(&dir, &[], &[]).await;
    let http = client();
    let rows: Vec<Value> = (0..30)
        .map(|i| json!({"title": format!("Task number {i}")}))
        .collect();
    let r = http
        .post(s.url("/api/tasks/bulk"))
        .json(&json!({ "data": rows }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Plain, then gzip: the same JSON, fewer bytes, a tag naming the coding.
    let r = http.get(s.url("/api/tasks?limit=30")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("content-encoding").is_none());
    let tag = r.headers()["etag"].to_str().unwrap().to_string();
    let plain = r.bytes().await.unwrap();
    let r = http
        .get(s.url("/api/tasks?limit=30"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let gz_tag = r.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(gz_tag, format!("{}-gzip\"", tag.trim_end_matches('"')));
    let gz = r.bytes().await.unwrap();
    assert!(gz.len() < plain.len());
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, plain);

    // The tag held: 304 and no body.
    let r = http
        .get(s.url("/api/tasks?limit=30"))
        .header("if-none-match", &tag)
        .header("x-request-id", "hht-e2e-304")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert!(r.bytes().await.unwrap().is_empty());

    // A line per request, with the request id the client sent; no ANSI colours on a pipe.
    let line = s.line_with("hht-e2e-304").await;
    for part in [
        "flowgate::access",
        "method=GET",
        "path=/api/tasks",
        "status=304",
        "duration_us=",
        "request_id=hht-e2e-304",
    ] {
        assert!(line.contains(part), "{part} in {line}");
    }
    assert!(!line.contains('\x1b'), "no ANSI escapes: {line:?}");
    // A request id the server made is logged too.
    let r = http.get(s.url("/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let line = s.line_with(&format!("request_id={id}")).await;
    assert!(
        line.contains("status=404") && line.contains("path=/nope"),
        "{line}"
    );

    // The MCP port logs its requests as well.
    let r = http
        .get(format!("http://{}/mcp", s.mcp))
        .header("x-request-id", "hht-e2e-mcp")
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let line = s.line_with("hht-e2e-mcp").await;
    assert!(
        line.contains("path=/mcp") && line.contains(&format!("status={status}")),
        "{line}"
    );
    s.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The access log line as JSON: from `FLOWGATE_LOG_FORMAT`, and from the configuration file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_format_json_from_the_environment_and_the_file() {
    let dir = temp_dir();
    std::fs::write(dir.join("flowgate.toml"), "log_format = \"json\"\n").unwrap();
    for (extra, env) in [
        (vec![], vec![("FLOWGATE_LOG_FORMAT", "json")]),
        (vec!["--config", "flowgate.toml"], vec![]),
    ] {
        let s = serve(&dir, &extra, &env).await;
        let r = client()
            .get(s.url("/health/live"))
            .header("x-request-id", "hht-e2e-json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let line = s.line_with("hht-e2e-json").await;
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(v["target"], "flowgate::access", "{v}");
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["fields"]["method"], "GET");
        assert_eq!(v["fields"]["path"], "/health/live");
        assert_eq!(v["fields"]["status"], 200);
        assert_eq!(v["fields"]["request_id"], "hht-e2e-json");
        assert!(v["fields"]["duration_us"].is_u64(), "{v}");
        s.stop().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// An unknown `FLOWGATE_*` variable, or an unknown log format, stops `serve` before it listens,
/// naming the variable or the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_variables_and_formats_are_refused() {
    let dir = temp_dir();
    let url = format!("sqlite://{}", dir.join("x.db").display());
    for ((k, v), named) in [
        (("FLOWGATE_HTTP_PROT", "0"), "FLOWGATE_HTTP_PROT"),
        (("FLOWGATE_LOG_FORMAT", "xml"), "log_format"),
    ] {
        let out = tokio::time::timeout(
            WAIT,
            flowgate(&dir)
                .args(["serve", "--models", "models.toml", "--database-url", &url])
                .args(["--http-port", "0", "--mcp-port", "0"])
                .env(k, v)
                .output(),
        )
        .await
        .expect("exits")
        .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains(named), "{named} in {stderr}");
        assert!(!stderr.contains("flowgate listening"), "{stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
