//! What the tests that run the `flowgate` binary share: a fresh directory and a command with a
//! clean environment.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::process::Command;

/// A fresh, empty directory of this test's own under the system's temporary directory.
pub fn temp_dir(prefix: &str) -> PathBuf {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let dir = std::env::temp_dir().join("flowgate-tests").join(format!(
        "{prefix}_{}_{}_{nanos:x}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// `cmd` without what the caller's environment would add: no `DATABASE_URL`, no `FLOWGATE_*`
/// variables and no proxies; killed when dropped; run in `dir`.
pub fn clean(cmd: &mut Command, dir: &Path) {
    cmd.current_dir(dir).kill_on_drop(true);
    for (name, _) in std::env::vars() {
        let lower = name.to_ascii_lowercase();
        if name.starts_with("FLOWGATE_") || name == "DATABASE_URL" || lower.ends_with("_proxy") {
            cmd.env_remove(name);
        }
    }
}

/// This build's `flowgate` binary in `dir` with a clean environment and `RUST_LOG=rust_log`.
pub fn flowgate(dir: &Path, rust_log: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowgate"));
    clean(&mut cmd, dir);
    cmd.env("RUST_LOG", rust_log);
    cmd
}
