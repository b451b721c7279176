//! Checkpoints in S3-compatible storage (`'execution.checkpointing.dir' =
//! 's3://bucket/path'`), end to end: a `weir run` job (a windowed and an unbounded
//! aggregation into filesystem sinks) checkpoints into a local S3 server (moto, started
//! by the test; the endpoint and credentials reach `weir` through the `AWS_*`
//! environment variables), is killed (`kill -9`) three times, each time after a new
//! checkpoint appeared in the bucket, and resumed from it by running the same command
//! again. Its committed output must be exactly what an uninterrupted run without
//! checkpoints commits, and the finished job leaves no checkpoint in the bucket. Once
//! with the default state backend, once with RocksDB incremental checkpoints, whose SST
//! files are shared between checkpoints under `shared/`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use weir_connectors::test_servers::S3Server;

use super::cases::weir;
use super::recovery::{committed_lines, final_table};

const BUCKET: &str = "weir-checkpoints";
/// The folder of the job's checkpoints in the bucket.
const PREFIX: &str = "jobs/counts";
const KILLS: usize = 3;

/// 20,000 rows at 4,000 a second: 5 s of input, 200 one-second windows of 13 keys.
const JOB: &str = "\
SET 'execution.checkpointing.interval' = '300 ms';
SET 'execution.checkpointing.dir' = 's3://weir-checkpoints/jobs/counts';
SET 'restart-strategy.type' = 'none';
CREATE TABLE events (
  id BIGINT,
  ts AS TO_TIMESTAMP_LTZ(id * 10, 3),
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH (
  'connector' = 'datagen', 'rows-per-second' = '4000', 'number-of-rows' = '20000',
  'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '20000'
);
CREATE VIEW keyed AS SELECT id % 13 AS k, id * 7 % 101 AS v, ts FROM events;
CREATE TABLE windows (k BIGINT, window_start TIMESTAMP(3), n BIGINT, total BIGINT)
  WITH ('connector' = 'filesystem', 'path' = 'out/windows', 'format' = 'csv');
CREATE TABLE totals (k BIGINT, n BIGINT, total BIGINT)
  WITH ('connector' = 'filesystem', 'path' = 'out/totals', 'format' = 'debezium-json');
EXECUTE STATEMENT SET BEGIN
INSERT INTO windows
  SELECT k, window_start, COUNT(*), SUM(v)
  FROM TABLE(TUMBLE(TABLE keyed, DESCRIPTOR(ts), INTERVAL '1' SECOND))
  GROUP BY k, window_start, window_end;
INSERT INTO totals SELECT k, COUNT(*), SUM(v) FROM keyed GROUP BY k;
END;
";

/// Starts `weir run` on `script` with the S3 server's environment.
fn start(s3: &S3Server, script: &Path, extra: &[&str]) -> Child {
    let mut command = weir();
    s3.apply_env(&mut command);
    command
        .arg("run")
        .arg(script)
        .arg("--quiet")
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("weir starts")
}

/// The completed checkpoints in the bucket: their `chk-<id>` folder names.
fn completed(s3: &S3Server) -> Vec<String> {
    s3.list(BUCKET, &format!("{PREFIX}/"))
        .iter()
        .filter_map(|key| key.strip_suffix("/_metadata"))
        .filter_map(|folder| folder.rsplit('/').next())
        .map(str::to_string)
        .collect()
}

/// What an uninterrupted run without checkpoints commits: window lines, final totals.
fn reference_output() -> (Vec<String>, BTreeMap<String, usize>) {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("job.sql");
    let job = JOB
        .replace("SET 'execution.checkpointing.interval' = '300 ms';", "")
        .replace(
            "'rows-per-second' = '4000'",
            "'rows-per-second' = '1000000'",
        );
    std::fs::write(&script, job).unwrap();
    let out = weir()
        .arg("run")
        .arg(&script)
        .arg("--quiet")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let windows = committed_lines(&dir.path().join("out/windows"));
    assert_eq!(windows.len(), 2601, "200 windows of 13 keys, and one of 1");
    let totals = final_table(&committed_lines(&dir.path().join("out/totals")));
    assert_eq!(totals.len(), 13);
    (windows, totals)
}

/// Runs the job with `extra` arguments, killed [`KILLS`] times; returns every object
/// key the bucket held at the kills.
fn killed_and_resumed_from_s3(extra: &[&str]) -> Vec<String> {
    let (expected_windows, expected_totals) = reference_output();
    let s3 = S3Server::start();
    s3.create_bucket(BUCKET);
    let work = tempfile::tempdir().unwrap();
    let script = work.path().join("job.sql");
    std::fs::write(&script, JOB).unwrap();

    let started = Instant::now();
    let mut resumed = Vec::new();
    let mut seen: Option<String> = None;
    let mut keys = Vec::new();
    for run in 0..=KILLS {
        let mut child = start(&s3, &script, extra);
        if run == KILLS {
            let out = child.wait_with_output().unwrap();
            let text = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(out.status.success(), "the last run failed: {text}");
            resumed.push(text);
            break;
        }
        // Kill it once a checkpoint newer than the last one seen is in the bucket.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let newest = completed(&s3).into_iter().max_by_key(|c| checkpoint_id(c));
            if newest.is_some() && newest != seen {
                seen = newest;
                break;
            }
            if let Some(status) = child.try_wait().unwrap() {
                let out = child.wait_with_output().unwrap();
                panic!(
                    "run {run} ended ({status}) before a new checkpoint was in the bucket: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            assert!(
                Instant::now() < deadline,
                "no new checkpoint in s3://{BUCKET}/{PREFIX} within 60 s (run {run})"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        child.kill().unwrap();
        let out = child.wait_with_output().unwrap();
        keys.extend(s3.list(BUCKET, ""));
        println!(
            "{:.1?}: run {run} killed after {} was in the bucket",
            started.elapsed(),
            seen.as_deref().unwrap_or_default()
        );
        resumed.push(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    // Every run after the first resumed from a checkpoint in the bucket.
    for (run, text) in resumed.iter().enumerate().skip(1) {
        assert!(
            text.lines()
                .any(|l| l.starts_with("resuming from checkpoint")
                    && l.contains(&format!(" at s3://{BUCKET}/{PREFIX}/chk-"))),
            "run {run} did not resume from a checkpoint in S3: {text}"
        );
    }

    let windows = committed_lines(&work.path().join("out/windows"));
    assert_eq!(windows.len(), expected_windows.len(), "window rows");
    assert!(windows == expected_windows, "window rows differ");
    let totals = final_table(&committed_lines(&work.path().join("out/totals")));
    assert_eq!(totals, expected_totals, "final totals");
    let left = s3.list(BUCKET, &format!("{PREFIX}/"));
    assert!(
        left.is_empty(),
        "a finished job leaves no checkpoint: {left:?}"
    );
    keys
}

/// The id of a `chk-<id>` folder name.
fn checkpoint_id(folder: &str) -> u64 {
    folder
        .trim_start_matches("chk-")
        .parse()
        .unwrap_or_default()
}

#[test]
fn checkpoints_in_s3_resume_a_killed_job_with_exactly_its_output() {
    let keys = killed_and_resumed_from_s3(&[]);
    assert!(
        keys.iter().any(|k| k.ends_with(".arrow")),
        "operator snapshots in the bucket: {keys:?}"
    );
}

#[test]
fn rocksdb_incremental_checkpoints_in_s3_resume_a_killed_job_with_exactly_its_output() {
    let local = tempfile::tempdir().unwrap();
    let local_option = format!("state.backend.rocksdb.localdir={}", local.path().display());
    let keys = killed_and_resumed_from_s3(&[
        "--set",
        "state.backend.type=rocksdb",
        "--set",
        "execution.checkpointing.incremental=true",
        "--set",
        &local_option,
    ]);
    assert!(
        keys.iter()
            .any(|k| k.starts_with(&format!("{PREFIX}/shared/")) && k.ends_with(".sst")),
        "RocksDB files shared by the checkpoints in the bucket: {keys:?}"
    );
}
