//! A private PostgreSQL server for tests that stop and restart their database (the machine's
//! shared server must never be stopped by a test).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The install hint printed when the PostgreSQL server binaries are missing.
const PG_SERVER_HINT: &str = "apt-get install -y postgresql";

/// A PostgreSQL server of its own: a fresh cluster in a temp directory, on a free port of
/// 127.0.0.1, trust authentication, user `postgres`. Stoppable and restartable on the same
/// port with the same data; stopped (immediately) when dropped.
///
/// PostgreSQL refuses to run as root: when the test runs as root, the server runs as the
/// `postgres` user (`runuser -u postgres --`), which must then exist.
#[derive(Debug)]
pub struct PgServer {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    as_postgres: bool,
    running: bool,
    _dir: tempfile::TempDir,
}

impl PgServer {
    /// Creates the cluster and starts the server. Panics with the install command if the
    /// binaries (`initdb`, `pg_ctl`) are missing.
    pub fn start() -> Self {
        let bin = find_bin().unwrap_or_else(|| {
            panic!("PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin or $PATH; install them with: {PG_SERVER_HINT}")
        });
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create temp dir: {e}"));
        let data = dir.path().join("data");
        let as_postgres = running_as_root();
        if as_postgres {
            // The server's user must own its directory (the temp dir is root's, mode 0700).
            run(Command::new("chown").arg("postgres:").arg(dir.path()), "chown the PostgreSQL temp dir");
        }
        let port = free_port();
        let mut server = Self { bin, data, port, as_postgres, running: false, _dir: dir };
        let data = server.data.clone();
        let mut initdb = server.command("initdb");
        initdb.args(["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "-D"]).arg(&data);
        run(&mut initdb, "initdb");
        server.restart();
        server
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server again (same port, same data) and waits until it accepts connections.
    pub fn restart(&mut self) {
        let log = self.data.with_file_name("postgres.log");
        let options = format!(
            "-p {} -h 127.0.0.1 -k {} -c fsync=off -c full_page_writes=off",
            self.port,
            self.socket_dir().display()
        );
        // On a loaded machine the first start right after a stop (or a port taken for a moment
        // by another test's client) can fail: a few tries, then the server's own log in the
        // panic, so that a failure says why.
        for attempt in 1..=3 {
            let mut start = self.command("pg_ctl");
            start
                .arg("start")
                .arg("-w")
                .arg("-D")
                .arg(&self.data)
                .arg("-l")
                .arg(&log)
                .arg("-o")
                .arg(&options);
            let out = start.output().unwrap_or_else(|e| panic!("pg_ctl start: cannot run {start:?}: {e}"));
            if out.status.success() {
                self.running = true;
                return;
            }
            if attempt == 3 {
                let server_log = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = server_log.lines().rev().take(20).collect();
                panic!(
                    "pg_ctl start failed ({}): {start:?}\n{}\n{}\nserver log (last lines, newest first):\n{}",
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr),
                    tail.join("\n")
                );
            }
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }

    /// Stops the server (`fast`: connections are closed with `57P01 admin_shutdown`).
    pub fn stop(&mut self) {
        self.pg_ctl_stop("fast");
    }

    fn pg_ctl_stop(&mut self, mode: &str) {
        if !self.running {
            return;
        }
        let mut stop = self.command("pg_ctl");
        stop.arg("stop").arg("-w").arg("-m").arg(mode).arg("-D").arg(&self.data);
        run(&mut stop, "pg_ctl stop");
        self.running = false;
    }

    fn socket_dir(&self) -> &Path {
        self.data.parent().unwrap_or(&self.data)
    }

    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.running {
            let mut stop = self.command("pg_ctl");
            stop.arg("stop").arg("-m").arg("immediate").arg("-D").arg(&self.data);
            let _ = stop.output();
        }
    }
}

/// Runs `cmd`, panicking with its output if it fails or cannot start.
fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{what} failed ({}): {cmd:?}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` holding `initdb`, else the directory of
/// `initdb` on `$PATH`.
fn find_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(PathBuf::from)
        .find(|d| d.join("initdb").exists() && d.join("pg_ctl").exists())
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the effective user of this process.
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

fn free_port() -> u16 {
    let l =
        std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("cannot bind a free port: {e}"));
    l.local_addr().unwrap_or_else(|e| panic!("local_addr: {e}")).port()
}
