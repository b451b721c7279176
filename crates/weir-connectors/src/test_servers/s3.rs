//! A real S3-compatible object store for tests: moto's server (`moto_server`, from the
//! PyPI package `moto[server]`), in memory, on a free port of 127.0.0.1, stopped when
//! the handle is dropped. It is what tansu stores topics in for the broker restart test
//! (`KafkaBroker::start_on_s3`) and where the S3 checkpoint test writes checkpoints.
//!
//! moto implements the conditional puts that tansu and `object_store` rely on
//! (`If-None-Match: *` to create, `If-Match: <etag>` to update). It accepts any
//! credentials; clients sign with [`S3Server::env`]'s fixed test keys.
//!
//! The binary is `$WEIR_MOTO_SERVER`, else `~/.cache/weir-tools/venv/bin/moto_server`,
//! else `moto_server` in `PATH`; `scripts/setup.sh` installs it (a Python venv in
//! `~/.cache/weir-tools/venv` with `pip install 'moto[server]'`, about 30 s, once).
//! Set-up and checks use plain HTTP requests (moto takes unsigned ones), so tests need
//! no S3 client of their own.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{find_binary, free_port, stop_child, START_TIMEOUT};

/// The version of `moto[server]` that `scripts/setup.sh` installs.
pub const MOTO_VERSION: &str = "5.2.5";

/// An S3-compatible server (moto) of this test, holding its buckets in memory.
pub struct S3Server {
    port: u16,
    child: Option<Child>,
}

/// The `moto_server` binary.
fn moto_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("WEIR_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let cached = home.join(".cache/weir-tools/venv/bin/moto_server");
    if cached.is_file() {
        return cached;
    }
    find_binary("moto_server", &[]).unwrap_or_else(|| {
        panic!(
            "moto_server (a local S3-compatible server) is not installed: run scripts/setup.sh, \
             which runs `python3 -m venv ~/.cache/weir-tools/venv` and \
             `~/.cache/weir-tools/venv/bin/pip install 'moto[server]=={MOTO_VERSION}'`, \
             or set WEIR_MOTO_SERVER to a moto_server binary"
        )
    })
}

impl S3Server {
    /// Starts `moto_server -H 127.0.0.1 -p <free port>` and waits until it answers.
    pub fn start() -> S3Server {
        let port = free_port();
        let binary = moto_binary();
        let child = Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({e}): run scripts/setup.sh, which installs \
                     moto[server] {MOTO_VERSION} into ~/.cache/weir-tools/venv",
                    binary.display()
                )
            });
        let mut server = S3Server {
            port,
            child: Some(child),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if matches!(server.request("GET", "/"), Ok((200, _))) {
                return server;
            }
            if let Some(Ok(Some(status))) = server.child.as_mut().map(Child::try_wait) {
                panic!("moto_server exited at start ({status}); port {port}");
            }
            assert!(
                Instant::now() < deadline,
                "moto_server on port {port} did not answer within {START_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment an `object_store` S3 client (`AmazonS3Builder::from_env`, as
    /// tansu and Weir's checkpoint storage use) needs to reach this server: endpoint,
    /// test credentials, region, plain HTTP.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", "weir-test".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "weir-test-secret".to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_ALLOW_HTTP", "true".to_string()),
        ]
    }

    /// Gives `command` [`S3Server::env`], in place of any `AWS_*` variable of this
    /// process (a developer's own profile or region must not send it elsewhere).
    pub fn apply_env(&self, command: &mut Command) {
        apply_env(command, &self.env());
    }

    /// Creates bucket `name` (empty).
    pub fn create_bucket(&self, name: &str) {
        match self.request("PUT", &format!("/{name}")) {
            Ok((200, _)) => {}
            other => panic!("create bucket {name} on {}: {other:?}", self.endpoint()),
        }
    }

    /// The keys of the objects in `bucket` whose names start with `prefix`, sorted.
    pub fn list(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut path = format!("/{bucket}?list-type=2&prefix={}", encode(prefix));
            if let Some(token) = &token {
                path.push_str(&format!("&continuation-token={}", encode(token)));
            }
            let body = match self.request("GET", &path) {
                Ok((200, body)) => body,
                other => panic!("list {bucket}/{prefix} on {}: {other:?}", self.endpoint()),
            };
            keys.extend(elements(&body, "Key"));
            token = elements(&body, "NextContinuationToken").into_iter().next();
            if token.is_none() {
                break;
            }
        }
        keys.sort();
        keys
    }

    /// The content of object `key` of `bucket` as text, `None` if there is none. Reads
    /// with boto3 (signed: moto refuses anonymous reads of objects others wrote), run by
    /// the Python beside `moto_server` in its venv.
    pub fn get(&self, bucket: &str, key: &str) -> Option<String> {
        let binary = moto_binary();
        let python = binary
            .parent()
            .map(|dir| dir.join("python"))
            .filter(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from("python3"));
        let script = "import sys, boto3, botocore\n\
            s3 = boto3.client('s3', endpoint_url=sys.argv[1], aws_access_key_id='weir-test', \
            aws_secret_access_key='weir-test-secret', region_name='us-east-1')\n\
            try:\n    sys.stdout.write(s3.get_object(Bucket=sys.argv[2], Key=sys.argv[3])\
            ['Body'].read().decode('utf-8'))\n\
            except s3.exceptions.NoSuchKey:\n    sys.exit(3)\n";
        let output = Command::new(&python)
            .args(["-c", script, &self.endpoint(), bucket, key])
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", python.display()));
        match output.status.code() {
            Some(0) => Some(String::from_utf8_lossy(&output.stdout).into_owned()),
            Some(3) => None,
            _ => panic!(
                "get {bucket}/{key} on {}: {}",
                self.endpoint(),
                String::from_utf8_lossy(&output.stderr)
            ),
        }
    }

    /// One HTTP/1.1 request without a body: the status and the body.
    fn request(&self, method: &str, path: &str) -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\n\
             Connection: close\r\n\r\n",
            self.port
        )?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response)?;
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, text.clone()))?;
        let body = text
            .split_once("\r\n\r\n")
            .map_or(String::new(), |(_, body)| body.to_string());
        Ok((status, body))
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, "-KILL");
        }
    }
}

/// Sets `env` on `command` after removing the `AWS_*` variables it would inherit.
pub(super) fn apply_env(command: &mut Command, env: &[(&'static str, String)]) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AWS_") {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().map(|(k, v)| (k, v)));
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The texts of every `<name>...</name>` element of an XML body (S3 keys are plain
/// text there, with `&amp;`-style escapes undone).
fn elements(xml: &str, name: &str) -> Vec<String> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else {
            break;
        };
        found.push(
            after[..end]
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&"),
        );
        rest = &after[end + close.len()..];
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_created_and_listed() {
        let s3 = S3Server::start();
        s3.create_bucket("weir-a");
        assert_eq!(s3.list("weir-a", ""), Vec::<String>::new());
        let (status, _) = s3.request("PUT", "/weir-a/x/1.txt").unwrap();
        assert_eq!(status, 200);
        s3.request("PUT", "/weir-a/y.txt").unwrap();
        assert_eq!(s3.list("weir-a", ""), vec!["x/1.txt", "y.txt"]);
        assert_eq!(s3.list("weir-a", "x/"), vec!["x/1.txt"]);
    }

    #[test]
    fn elements_reads_xml_texts() {
        assert_eq!(
            elements("<a><Key>p&amp;q</Key><Key>r</Key></a>", "Key"),
            vec!["p&q", "r"]
        );
    }
}
