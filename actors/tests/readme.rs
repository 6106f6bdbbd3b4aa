//! README.md runs as written (issue 10 item 14).
//!
//! Every ```` ```sh ```` block of README.md carries a marker on the line before it:
//! - `<!-- readme: server -->`: one `flowgate serve ...` line, started by this test as the
//!   server the other blocks talk to (`--http-port 8000` becomes `--http-port 0 --mcp-port 0`,
//!   on a fresh SQLite file of the test's own);
//! - `<!-- readme: run -->`: run as a bash script, in README order, in one temporary directory
//!   (with `examples/` linked into it), `flowgate` being this build's binary and
//!   `localhost:8000` the test's server; each command must succeed (`set -euo pipefail`, and
//!   `curl` fails on an HTTP error status);
//! - `<!-- readme: not run (why) -->`: left alone, with the reason in the README itself.
//!
//! A block without a marker fails the test, so no command is skipped silently. The workflow
//! file README shows must equal the shipped `examples/app/signup.yaml`.
#![allow(missing_docs)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// A bound on a hang (a slow machine), not a measure of speed.
const WAIT: Duration = Duration::from_secs(120);

const README: &str = include_str!("../../README.md");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// A fenced block of README.md.
struct Block {
    /// The line of its opening fence (1-based).
    line: usize,
    /// The language of the fence (`sh`, `yaml`, ...).
    lang: String,
    /// The marker of the line before (`run`, `server`, `not run (...)`), if any.
    marker: Option<String>,
    body: String,
}

fn blocks() -> Vec<Block> {
    let lines: Vec<&str> = README.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(lang) = lines[i].strip_prefix("```") else {
            i += 1;
            continue;
        };
        let marker = lines[..i]
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .and_then(|l| l.trim().strip_prefix("<!-- readme:"))
            .and_then(|l| l.strip_suffix("-->"))
            .map(|m| m.trim().to_string());
        let start = i;
        let mut body = String::new();
        i += 1;
        while i < lines.len() && !lines[i].starts_with("```") {
            body.push_str(lines[i]);
            body.push('\n');
            i += 1;
        }
        assert!(
            i < lines.len(),
            "README.md line {}: an unclosed fence",
            start + 1
        );
        out.push(Block {
            line: start + 1,
            lang: lang.trim().to_string(),
            marker,
            body,
        });
        i += 1;
    }
    out
}

/// A command with the environment of a fresh shell: this build's `flowgate` first on the
/// `PATH`, no `DATABASE_URL` and no `FLOWGATE_*` variables of the caller.
fn command(program: &str, dir: &Path, bin: &Path) -> Command {
    let mut cmd = Command::new(program);
    support::clean(&mut cmd, dir);
    cmd.env("NO_COLOR", "1");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![bin.to_path_buf()];
    paths.extend(std::env::split_paths(&path));
    cmd.env("PATH", std::env::join_paths(paths).expect("PATH"));
    cmd
}

/// Starts README's server command; gives the child and its HTTP address.
async fn start_server(line: &str, dir: &Path, bin: &Path) -> (tokio::process::Child, String) {
    let command_line = line.split('#').next().unwrap_or_default().trim();
    assert!(
        command_line.starts_with("flowgate serve ") && command_line.contains("--http-port 8000"),
        "README's server block is one `flowgate serve ... --http-port 8000` line: {line}"
    );
    let command_line = command_line.replace("--http-port 8000", "--http-port 0 --mcp-port 0");
    let mut child = command("bash", dir, bin)
        .arg("-c")
        .arg(format!("exec {command_line}"))
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("server.db").display()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn README's server");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut log = String::new();
    let addr = tokio::time::timeout(WAIT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            log.push_str(&line);
            log.push('\n');
            if let Some(rest) = line.split("flowgate listening http=").nth(1) {
                return rest.split_whitespace().next().map(str::to_string);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .unwrap_or_else(|| panic!("README's server did not say where it listens: {log}"));
    // Keep reading its log, so that it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

/// Waits until the server's board is ready (the README's first command expects a 200).
async fn wait_ready(addr: &str) {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let url = format!("http://{addr}/health/ready");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let body = match client.get(&url).send().await {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(e) => e.to_string(),
        };
        assert!(
            tokio::time::Instant::now() < deadline,
            "README's server is not ready within {WAIT:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_commands_run_as_written() {
    let blocks = blocks();
    for b in blocks.iter().filter(|b| b.lang == "sh") {
        let marker = b.marker.as_deref().unwrap_or_else(|| {
            panic!(
                "README.md line {}: a sh block without a `<!-- readme: run | server | not run (why) -->` marker",
                b.line
            )
        });
        assert!(
            marker == "run" || marker == "server" || marker.starts_with("not run ("),
            "README.md line {}: unknown marker `{marker}`",
            b.line
        );
    }
    let runs: Vec<&Block> = blocks
        .iter()
        .filter(|b| b.lang == "sh" && b.marker.as_deref() == Some("run"))
        .collect();
    let servers: Vec<&Block> = blocks
        .iter()
        .filter(|b| b.lang == "sh" && b.marker.as_deref() == Some("server"))
        .collect();
    assert_eq!(servers.len(), 1, "one server block");
    assert!(!runs.is_empty(), "blocks to run");
    for b in blocks.iter().filter(|b| {
        b.marker
            .as_deref()
            .is_some_and(|m| m.starts_with("not run"))
    }) {
        eprintln!(
            "README.md line {}: {}",
            b.line,
            b.marker.as_deref().unwrap_or_default()
        );
    }

    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let dir = std::env::temp_dir()
        .join("flowgate-tests")
        .join(format!("readme_{}_{nanos:x}", std::process::id()));
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("temp dir");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_flowgate"), bin.join("flowgate"))
        .expect("link flowgate");
    std::os::unix::fs::symlink(repo().join("examples"), dir.join("examples"))
        .expect("link examples");

    let server_line = servers[0]
        .body
        .lines()
        .find(|l| !l.trim().is_empty() && !l.trim().starts_with('#'))
        .expect("a server command");
    let (mut server, addr) = start_server(server_line, &dir, &bin).await;
    wait_ready(&addr).await;

    for b in &runs {
        let body = b.body.replace("localhost:8000", &addr);
        let script = format!(
            "set -euo pipefail\n\
             curl() {{ command curl --fail-with-body --show-error \"$@\"; echo; }}\n\
             set -x\n{body}"
        );
        let out = tokio::time::timeout(
            WAIT,
            command("bash", &dir, &bin)
                .arg("-c")
                .arg(&script)
                .stdin(Stdio::null())
                .output(),
        )
        .await
        .unwrap_or_else(|_| panic!("README.md line {}: the block hung", b.line))
        .expect("run bash");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "README.md line {}: a command failed ({}); the trace ends with the failing one:\n{stderr}\nstdout:\n{stdout}",
            b.line,
            out.status
        );
    }

    let _ = server.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The workflow file README shows is the one shipped (and served by the example server).
#[test]
fn readme_workflow_is_the_shipped_file() {
    let yaml = blocks()
        .into_iter()
        .find(|b| b.lang == "yaml")
        .expect("README shows a workflow file");
    let (first, rest) = yaml.body.split_once('\n').expect("lines");
    assert_eq!(first, "# examples/app/signup.yaml");
    let file = std::fs::read_to_string(repo().join("examples/app/signup.yaml")).expect("file");
    let file: String = file
        .lines()
        .skip_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(rest, file);
}

/// Every configuration README shows (a TOML block without models) is a valid `flowgate.toml`:
/// its keys exist, its roles and rate limits parse.
#[test]
fn readme_configurations_are_valid() {
    let configs: Vec<Block> = blocks()
        .into_iter()
        .filter(|b| b.lang == "toml" && !b.body.contains("[models."))
        .collect();
    assert!(!configs.is_empty(), "README shows a configuration");
    for b in configs {
        let layer = flowgate_actors::Config::from_toml(&b.body, "README.md")
            .unwrap_or_else(|e| panic!("README.md line {}: {e}", b.line));
        let c = flowgate_actors::Config::from_layers(&[layer])
            .unwrap_or_else(|e| panic!("README.md line {}: {e}", b.line));
        flowgate_actors::auth::Policy::new(&c.auth.roles, false)
            .unwrap_or_else(|e| panic!("README.md line {}: {e}", b.line));
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(flowgate_actors::rate_limit::RateLimiter::new(&c.rate_limit))
            .unwrap_or_else(|e| panic!("README.md line {}: {e}", b.line));
    }
}

/// The schema file README shows reads, and its models are the shipped ones (so that the CLI
/// commands' flags, `--estimate` say, are fields of the models they name).
#[test]
fn readme_schema_is_the_shipped_models() {
    let toml = blocks()
        .into_iter()
        .find(|b| b.lang == "toml" && b.body.contains("[models."))
        .expect("README shows a schema file");
    let shown = flowgate::model::parse_toml(&toml.body, "README.md").expect("README's schema");
    let shipped =
        flowgate::model::read_schema_file(&repo().join("examples/app/models.toml")).expect("file");
    assert!(!shown.is_empty());
    for def in &shown {
        let same = shipped.iter().find(|d| d.name == def.name);
        assert_eq!(
            same.map(|d| flowgate::model::to_json(std::slice::from_ref(d))),
            Some(flowgate::model::to_json(std::slice::from_ref(def))),
            "README's {} is examples/app/models.toml's",
            def.name
        );
    }
}
