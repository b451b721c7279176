//! `weir savepoint JOB.sql`: asks the running `weir run JOB.sql` for a savepoint and
//! waits until it is written.
//!
//! A running job with checkpoints keeps a control folder `.weir/run/<script name>/`
//! beside its script, holding its process id (`pid`, removed when it exits). The
//! command writes a request (`savepoint-request`: a random id and the folder to write
//! into), sends the process SIGUSR1, and waits for `savepoint-reply` with that id: the
//! savepoint's folder, or why it failed. A bare `kill -USR1 <pid>` (no request) writes
//! into the job's own savepoint folder.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

const PID_FILE: &str = "pid";
const REQUEST_FILE: &str = "savepoint-request";
const REPLY_FILE: &str = "savepoint-reply";

/// The control folder of a script's running job.
#[derive(Debug, Clone)]
pub struct ControlDir {
    dir: PathBuf,
}

/// A savepoint request: its id, and where to write (`None`: the job's own folder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub id: String,
    pub dir: Option<String>,
}

/// Removes the job's `pid` file when the run ends.
pub struct Registration {
    pid_file: PathBuf,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.pid_file);
    }
}

impl ControlDir {
    /// `.weir/run/<script name>` beside `script`.
    pub fn of(script: &Path) -> ControlDir {
        let stem = script
            .file_stem()
            .map_or_else(|| "job".into(), |s| s.to_string_lossy().into_owned());
        ControlDir {
            dir: crate::script_dir(script)
                .join(".weir")
                .join("run")
                .join(stem),
        }
    }

    /// Records this process as the script's running job.
    pub fn register(&self) -> Result<Registration> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        let pid_file = self.dir.join(PID_FILE);
        std::fs::write(&pid_file, std::process::id().to_string())
            .with_context(|| format!("cannot write {}", pid_file.display()))?;
        let _ = std::fs::remove_file(self.dir.join(REQUEST_FILE));
        Ok(Registration { pid_file })
    }

    /// Takes the pending request, if `weir savepoint` left one.
    pub fn take_request(&self) -> Option<Request> {
        let path = self.dir.join(REQUEST_FILE);
        let text = std::fs::read_to_string(&path).ok()?;
        let _ = std::fs::remove_file(&path);
        let mut lines = text.lines();
        let id = lines.next()?.trim().to_string();
        let dir = lines
            .next()
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_string);
        Some(Request { id, dir })
    }

    /// Answers request `id`: the savepoint's folder, or why it failed.
    pub fn reply(&self, id: &str, result: &Result<String, String>) {
        let (status, text) = match result {
            Ok(folder) => ("ok", folder.as_str()),
            Err(reason) => ("error", reason.as_str()),
        };
        let temporary = self.dir.join(format!("{REPLY_FILE}.tmp"));
        // Written aside and renamed, so the waiting command never reads half a reply.
        if std::fs::write(&temporary, format!("{id}\n{status}\n{text}\n")).is_ok() {
            let _ = std::fs::rename(&temporary, self.dir.join(REPLY_FILE));
        }
    }

    /// The running job's process id, or why there is none.
    fn running_pid(&self, script: &Path) -> Result<u32> {
        let pid_file = self.dir.join(PID_FILE);
        let Ok(text) = std::fs::read_to_string(&pid_file) else {
            bail!(
                "no running job of {}: {} does not exist. Start it with `weir run {}` \
                 (with 'execution.checkpointing.interval' set: savepoints need checkpoints)",
                script.display(),
                pid_file.display(),
                script.display()
            );
        };
        let pid: u32 = text
            .trim()
            .parse()
            .with_context(|| format!("{} does not hold a process id", pid_file.display()))?;
        if Path::new("/proc/self").exists() && !Path::new("/proc").join(pid.to_string()).exists() {
            bail!(
                "the job of {} (process {pid}) is not running any more; it did not remove {}",
                script.display(),
                pid_file.display()
            );
        }
        Ok(pid)
    }
}

/// Asks the running job of `script` for a savepoint into `dir` (the job's own
/// savepoint folder when `None`); returns the savepoint's folder.
pub fn trigger(script: &Path, dir: Option<&Path>, timeout: Duration) -> Result<String> {
    let control = ControlDir::of(script);
    let pid = control.running_pid(script)?;
    let id = format!("{:016x}", rand::random::<u64>());
    let dir = match dir {
        Some(d) => {
            std::fs::create_dir_all(d)
                .with_context(|| format!("cannot create the savepoint folder {}", d.display()))?;
            std::fs::canonicalize(d)
                .with_context(|| format!("cannot resolve {}", d.display()))?
                .to_string_lossy()
                .into_owned()
        }
        None => String::new(),
    };
    std::fs::write(control.dir.join(REQUEST_FILE), format!("{id}\n{dir}\n"))
        .context("cannot write the savepoint request")?;
    let status = std::process::Command::new("kill")
        .args(["-USR1", &pid.to_string()])
        .status()
        .context("cannot run `kill` to signal the job")?;
    if !status.success() {
        bail!("cannot signal the job's process {pid}");
    }
    let started = Instant::now();
    let reply_file = control.dir.join(REPLY_FILE);
    while started.elapsed() < timeout {
        if let Ok(text) = std::fs::read_to_string(&reply_file) {
            let mut lines = text.lines();
            if lines.next() == Some(id.as_str()) {
                let _ = std::fs::remove_file(&reply_file);
                let status = lines.next().unwrap_or_default();
                let rest: Vec<&str> = lines.collect();
                let text = rest.join("\n");
                if status == "ok" {
                    return Ok(text);
                }
                bail!("the savepoint failed: {text}");
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!(
        "no savepoint after {:.0?}: the job (process {pid}) may still be taking it; \
         see its output",
        timeout
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_taken_once_and_answered() {
        let folder = tempfile::tempdir().unwrap();
        let control = ControlDir::of(&folder.path().join("job.sql"));
        let registration = control.register().unwrap();
        assert_eq!(
            control.running_pid(Path::new("job.sql")).unwrap(),
            std::process::id()
        );
        assert_eq!(control.take_request(), None);
        std::fs::write(control.dir.join(REQUEST_FILE), "abc\n/tmp/sp\n").unwrap();
        assert_eq!(
            control.take_request(),
            Some(Request {
                id: "abc".into(),
                dir: Some("/tmp/sp".into())
            })
        );
        assert_eq!(control.take_request(), None);
        control.reply("abc", &Ok("/tmp/sp/savepoint-3-00000001".into()));
        let reply = std::fs::read_to_string(control.dir.join(REPLY_FILE)).unwrap();
        assert_eq!(reply, "abc\nok\n/tmp/sp/savepoint-3-00000001\n");
        drop(registration);
        let error = control.running_pid(Path::new("job.sql")).unwrap_err();
        assert!(error.to_string().contains("no running job"), "{error}");
    }
}
