//! Real Redis, PostgreSQL, Kafka-protocol (tansu, `kafka.rs`) and S3-compatible (moto,
//! `s3.rs`) servers for tests (feature `test-support`, and this crate's own tests): each test starts its own server on a free port of 127.0.0.1, in a
//! temporary folder, and stops it when the handle is dropped. Nothing is mocked.
//!
//! The binaries are looked up in `PATH` and, for PostgreSQL, in
//! `/usr/lib/postgresql/<version>/bin`. A missing binary fails the test with a message
//! saying to run `scripts/setup.sh`, which installs the Debian packages `redis-server`
//! and `postgresql`. PostgreSQL refuses to run as root: as root, `initdb` and `postgres`
//! run as the `postgres` user (or `nobody`), which owns the temporary folder.
//!
//! Helpers run `redis-cli` and `psql` for test set-up and checks, so tests need no async
//! client of their own.

mod kafka;
mod s3;

pub use kafka::{KafkaBroker, ReadRecord, TestRecord};
pub use s3::{S3Server, MOTO_VERSION};

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A free TCP port on 127.0.0.1 (free when asked; the server binds it right after).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

/// Finds `binary` in `PATH` or in `extra` folders (tried in order).
fn find_binary(binary: &str, extra: &[PathBuf]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra.iter().cloned())
        .map(|dir| dir.join(binary))
        .find(|p| p.is_file())
}

fn require_binary(binary: &str, extra: &[PathBuf], package: &str) -> PathBuf {
    find_binary(binary, extra).unwrap_or_else(|| {
        panic!(
            "{binary} is not installed (not in PATH{}): run scripts/setup.sh, which installs \
             the Debian package '{package}'",
            if extra.is_empty() {
                ""
            } else {
                " nor in /usr/lib/postgresql/*/bin"
            }
        )
    })
}

/// A fresh temporary folder.
fn temp_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "{prefix}-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).expect("create a temporary folder");
    dir
}

/// Sends SIGINT (or SIGKILL) to `pid` and waits up to 10 s for `child` to exit.
fn stop_child(child: &mut Child, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A `redis-server` of this test.
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts `redis-server --port <free port> --bind 127.0.0.1 --save '' --appendonly no`
    /// and waits until it answers `PING`.
    pub fn start() -> RedisServer {
        let mut server = RedisServer {
            port: free_port(),
            dir: temp_dir("weir-redis"),
            child: None,
        };
        server.restart();
        server
    }

    /// `redis://127.0.0.1:<port>/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (kills the process this handle started).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, "-KILL");
        }
    }

    /// Starts the server again on the same port (empty: it saves nothing).
    pub fn restart(&mut self) {
        self.stop();
        let binary = require_binary("redis-server", &[], "redis-server");
        let child = Command::new(binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if self.ping() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer within {START_TIMEOUT:?}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn ping(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut answer = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut answer).is_ok()
            && &answer == b"+PONG\r\n"
    }

    /// Runs `redis-cli -p <port> <args>` and returns its output (trimmed); panics if it fails.
    pub fn cli(&self, args: &[&str]) -> String {
        let binary = require_binary("redis-cli", &[], "redis-tools");
        let output = Command::new(binary)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("run redis-cli");
        assert!(
            output.status.success(),
            "redis-cli {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A PostgreSQL cluster of this test: `initdb` in a temporary folder, then `postgres -k
/// <folder> -h 127.0.0.1 -p <free port>`, user `weir` with trust authentication.
pub struct PostgresServer {
    port: u16,
    dir: PathBuf,
    bin: PathBuf,
    child: Option<Child>,
}

/// The PostgreSQL user tests connect as (any password is accepted).
pub const POSTGRES_USER: &str = "weir";

impl PostgresServer {
    /// Creates and starts a cluster, waiting until it accepts connections.
    pub fn start() -> PostgresServer {
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .map(|dirs| dirs.flatten().map(|d| d.path().join("bin")).collect())
            .unwrap_or_default();
        versions.sort();
        versions.reverse();
        let initdb = require_binary("initdb", &versions, "postgresql");
        // Through symlinks (/usr/local/bin/initdb): postgres and psql sit beside the real one.
        let initdb = std::fs::canonicalize(&initdb).unwrap_or(initdb);
        let bin = initdb
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/usr/bin"));
        let dir = temp_dir("weir-postgres");
        let user = unprivileged_user();
        if let Some((uid, _)) = user {
            let status = Command::new("chown")
                .args(["-R", &uid.to_string()])
                .arg(&dir)
                .status()
                .expect("run chown");
            assert!(status.success(), "chown {} failed", dir.display());
        }
        let mut init = Command::new(&initdb);
        init.arg("-D")
            .arg(dir.join("data"))
            .args([
                "-U",
                POSTGRES_USER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ])
            .stdout(Stdio::null());
        as_user(&mut init, user);
        let output = init.output().expect("run initdb");
        assert!(
            output.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut server = PostgresServer {
            port: free_port(),
            dir,
            bin,
            child: None,
        };
        server.restart();
        server
    }

    /// Starts the server again (after [`PostgresServer::stop`]), on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let postgres = self.bin.join("postgres");
        let mut command = Command::new(&postgres);
        command
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-k")
            .arg(&self.dir)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-c", "fsync=off", "-c", "max_connections=30"])
            .args(["-c", "shared_buffers=16MB"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        as_user(&mut command, unprivileged_user());
        self.child = Some(command.spawn().expect("start postgres"));
        let deadline = Instant::now() + START_TIMEOUT;
        let pid_file = self.dir.join("data").join("postmaster.pid");
        loop {
            let ready = std::fs::read_to_string(&pid_file)
                .map(|s| s.lines().any(|l| l.trim() == "ready"))
                .unwrap_or(false);
            if ready && TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("postgres exited at start ({status}); port {}", self.port);
            }
            assert!(
                Instant::now() < deadline,
                "postgres on port {} did not accept connections within {START_TIMEOUT:?}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (SIGINT, PostgreSQL's fast shutdown, to the process started here).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, "-INT");
        }
    }

    /// `jdbc:postgresql://127.0.0.1:<port>/postgres`.
    pub fn jdbc_url(&self) -> String {
        format!("jdbc:postgresql://127.0.0.1:{}/postgres", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs SQL with `psql` (stops at the first error) and returns its unaligned output:
    /// one line per row, columns separated by `|`.
    pub fn psql(&self, sql: &str) -> String {
        let beside = self.bin.join("psql");
        let psql = if beside.is_file() {
            beside
        } else {
            require_binary("psql", &[], "postgresql-client")
        };
        let output = Command::new(psql)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args([
                "-U",
                POSTGRES_USER,
                "-d",
                "postgres",
                "-X",
                "-q",
                "-A",
                "-t",
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .expect("run psql");
        assert!(
            output.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// As root, the uid and gid of a user PostgreSQL may run as (`postgres`, else `nobody`).
fn unprivileged_user() -> Option<(u32, u32)> {
    let id = |args: &[&str]| -> Option<u32> {
        let output = Command::new("id").args(args).output().ok()?;
        if !output.status.success() {
            return None;
        }
        String::from_utf8_lossy(&output.stdout).trim().parse().ok()
    };
    if id(&["-u"])? != 0 {
        return None;
    }
    ["postgres", "nobody"]
        .iter()
        .find_map(|user| Some((id(&["-u", user])?, id(&["-g", user])?)))
}

fn as_user(command: &mut Command, user: Option<(u32, u32)>) {
    if let Some((uid, gid)) = user {
        command.gid(gid).uid(uid);
    }
}
