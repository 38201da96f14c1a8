//! The service binaries as child processes, as a user (or an orchestrator) runs them: the
//! binary cargo built, configured by `NEWSWIRE_*` variables alone, on free admin ports. Used by
//! `binaries.rs` (configuration, signals) and `faults.rs` (kill -9 of a stage is a real
//! SIGKILL of its process).

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use newswire_testkit::try_http_get;
use tokio::process::{Child, Command};

/// `target/<profile>/<name>`: `cargo test --workspace` builds every binary of the workspace.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} not built; run `cargo build --workspace --bins` or `cargo test --workspace`",
        path.display()
    );
    path
}

/// A free port on 127.0.0.1, as `127.0.0.1:<port>`.
pub fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// The binary `name` with exactly `env` (and `PATH`), its output piped, killed if dropped.
pub fn service(name: &str, env: &[(&str, String)]) -> Command {
    let mut c = Command::new(binary(name));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

/// SIGTERM, then the exit status (at most 15 s later).
pub async fn terminate(mut child: Child) -> ExitStatus {
    let pid = child.id().unwrap();
    let status = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(status.success());
    tokio::time::timeout(Duration::from_secs(15), child.wait()).await.expect("exit after SIGTERM").unwrap()
}

/// A service binary running in the background with its admin endpoints on `admin`. Its
/// output goes to a log file rather than a pipe: nobody reads a long-running service's pipe,
/// and a full one would block the service on its next log line.
pub struct Running {
    pub name: &'static str,
    pub admin: String,
    pub log: PathBuf,
    child: Child,
}

impl Running {
    /// Starts `name` with `env`, logging to `log` (appended to, so that a restarted service
    /// keeps one log).
    pub fn spawn(name: &'static str, env: &[(&str, String)], admin: String, log: &Path) -> Self {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("service log file");
        let mut cmd = service(name, env);
        cmd.stdout(file.try_clone().expect("log file handle")).stderr(file);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self { name, admin, log: log.to_owned(), child }
    }

    /// `http://<admin>/metrics`.
    pub fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.admin)
    }

    /// The status `/readyz` answers, `None` while nothing listens on the admin port.
    pub async fn readyz(&self) -> Option<u16> {
        try_http_get(&format!("http://{}/readyz", self.admin)).await.ok().map(|(status, _)| status)
    }

    /// Fails the test if the process has exited (a stage must not die of a fault it should
    /// ride out).
    pub fn assert_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited with {status}; its log:\n{}", self.name, log_tail(&self.log, 40));
        }
    }

    /// kill -9: SIGKILL, no clean shutdown, whatever it was doing; returns once it is gone.
    pub async fn kill9(mut self) {
        use std::os::unix::process::ExitStatusExt;
        self.child.start_kill().unwrap_or_else(|e| panic!("kill -9 {}: {e}", self.name));
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("{} still running 10 s after SIGKILL", self.name))
            .unwrap();
        assert_eq!(status.signal(), Some(9), "{} ended by SIGKILL", self.name);
    }
}

/// The last `lines` lines of a log file (for failure messages).
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
