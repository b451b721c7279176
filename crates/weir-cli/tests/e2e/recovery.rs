//! Exactly-once recovery of `weir run` after `kill -9`: a windowed aggregation and an
//! unbounded aggregation, written by filesystem sinks, killed at 20 random moments and
//! restarted each time (the same command resumes from the latest checkpoint), must
//! commit exactly what an uninterrupted run commits: no row lost, none twice.
//!
//! The kill moments come from a seed printed by the test; `WEIR_KILL_SEED=<n>` replays
//! a failing run. The first run is killed at a random moment after its start, the
//! others at a random moment after they completed a checkpoint, so that runs resume
//! from checkpoints however loaded the machine is.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::cases::weir;

const JOB: &str = "\
SET 'execution.checkpointing.interval' = '100 ms';
SET 'execution.checkpointing.num-retained' = '2';
SET 'restart-strategy.type' = 'none';
CREATE TABLE events (
  id BIGINT,
  ts AS TO_TIMESTAMP_LTZ(id * 10, 3),
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH (
  'connector' = 'datagen', 'rows-per-second' = '4000', 'number-of-rows' = '60000',
  'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '60000'
);
CREATE VIEW keyed AS SELECT id % 13 AS k, id * 7 % 101 AS v, ts FROM events;
CREATE TABLE windows (k BIGINT, window_start TIMESTAMP(3), window_end TIMESTAMP(3), n BIGINT, total BIGINT)
  WITH ('connector' = 'filesystem', 'path' = 'out/windows', 'format' = 'csv');
CREATE TABLE totals (k BIGINT, n BIGINT, total BIGINT)
  WITH ('connector' = 'filesystem', 'path' = 'out/totals', 'format' = 'debezium-json');
EXECUTE STATEMENT SET BEGIN
INSERT INTO windows
  SELECT k, window_start, window_end, COUNT(*), SUM(v)
  FROM TABLE(TUMBLE(TABLE keyed, DESCRIPTOR(ts), INTERVAL '1' SECOND))
  GROUP BY k, window_start, window_end;
INSERT INTO totals SELECT k, COUNT(*), SUM(v) FROM keyed GROUP BY k;
END;
";

/// A small deterministic generator (SplitMix64), so the test needs no dependency.
pub(super) struct Seeded(pub(super) u64);

impl Seeded {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(super) fn millis(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(low + self.next() % (high - low))
    }
}

/// Starts `weir run` on `script` at `parallelism`.
pub(super) fn start_at(script: &Path, parallelism: usize, extra: &[&str]) -> Child {
    weir()
        .arg("run")
        .arg(script)
        .arg("--quiet")
        .arg("--set")
        .arg(format!("parallelism.default={parallelism}"))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("weir starts")
}

fn start(script: &Path, extra: &[&str]) -> Child {
    start_at(script, 2, extra)
}

/// What an uninterrupted run without checkpoints commits: window lines, final totals.
fn reference_output() -> (Vec<String>, BTreeMap<String, usize>) {
    let reference = tempfile::tempdir().unwrap();
    let script = reference.path().join("job.sql");
    let without_checkpoints = JOB
        .replace("SET 'execution.checkpointing.interval' = '100 ms';", "")
        .replace(
            "'rows-per-second' = '4000'",
            "'rows-per-second' = '1000000'",
        );
    std::fs::write(&script, without_checkpoints).unwrap();
    let out = start(&script, &[]).wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let windows = committed_lines(&reference.path().join("out/windows"));
    let totals = final_table(&committed_lines(&reference.path().join("out/totals")));
    assert_eq!(windows.len(), 7801, "600 windows of 13 keys, and one of 1");
    assert_eq!(totals.len(), 13);
    (windows, totals)
}

/// Stops a running job gracefully (as Ctrl-C does) after `after`; returns its stderr.
pub(super) fn stop_after(child: Child, after: Duration) -> String {
    std::thread::sleep(after);
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "the stopped job failed: {text}");
    text
}

/// Lines of the committed files of `folder` (files named `part-*`); fails on anything
/// a crash may have left behind.
pub(super) fn committed_lines(folder: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    let Ok(entries) = std::fs::read_dir(folder) else {
        return lines;
    };
    for entry in entries {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(
            name.starts_with("part-") && !name.contains("inprogress"),
            "{} holds {name}, which is not a committed part file",
            folder.display()
        );
        let text = std::fs::read_to_string(entry.path()).unwrap();
        lines.extend(text.lines().map(str::to_string));
    }
    lines.sort();
    lines
}

/// The lines missing from `actual` and the lines it has in excess, as multisets (a few
/// of each), for an assertion message.
pub(super) fn line_difference(expected: &[String], actual: &[String]) -> String {
    let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
    for line in expected {
        *counts.entry(line).or_default() += 1;
    }
    for line in actual {
        *counts.entry(line).or_default() -= 1;
    }
    let missing: Vec<&str> = counts
        .iter()
        .filter(|(_, &n)| n > 0)
        .map(|(l, _)| *l)
        .collect();
    let extra: Vec<&str> = counts
        .iter()
        .filter(|(_, &n)| n < 0)
        .map(|(l, _)| *l)
        .collect();
    format!(
        "{} lines expected, {} committed; {} missing (first: {:?}), {} in excess (first: {:?})",
        expected.len(),
        actual.len(),
        missing.len(),
        &missing[..missing.len().min(5)],
        extra.len(),
        &extra[..extra.len().min(5)]
    )
}

/// Applies a debezium-json changelog strictly: a retraction must find its row, so a
/// duplicated or lost change shows as an error or a different table.
pub(super) fn final_table(changes: &[String]) -> BTreeMap<String, usize> {
    let mut table: BTreeMap<String, usize> = BTreeMap::new();
    let row = |value: &serde_json::Value| value.to_string();
    for line in changes {
        let change: serde_json::Value = serde_json::from_str(line).unwrap();
        let before = &change["before"];
        let after = &change["after"];
        if !before.is_null() {
            let key = row(before);
            let count = table.get_mut(&key).unwrap_or_else(|| {
                panic!("retraction of {key}, which is not in the table: duplicated or lost change")
            });
            *count -= 1;
            if *count == 0 {
                table.remove(&key);
            }
        }
        if !after.is_null() {
            *table.entry(row(after)).or_default() += 1;
        }
    }
    table
}

#[test]
fn killed_twenty_times_the_job_commits_exactly_what_an_uninterrupted_run_does() {
    killed_twenty_times(false, false);
}

/// The same with incremental checkpoints of the in-memory backend (a base, then the
/// keys changed and removed since the previous checkpoint).
#[test]
fn with_incremental_hashmap_killed_twenty_times_the_job_commits_exactly_what_an_uninterrupted_run_does(
) {
    killed_twenty_times(false, true);
}

/// The same with the RocksDB backend and incremental checkpoints (the GROUP BY keeps
/// its keys in RocksDB, a cache of 4 keys in memory); the local folders a kill leaves
/// behind are removed by the next run.
#[test]
fn with_rocksdb_killed_twenty_times_the_job_commits_exactly_what_an_uninterrupted_run_does() {
    killed_twenty_times(true, true);
}

fn killed_twenty_times(rocksdb: bool, incremental: bool) {
    let seed = std::env::var("WEIR_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(7, |d| d.as_nanos() as u64)
        });
    println!("kill moments from WEIR_KILL_SEED={seed}");
    let mut random = Seeded(seed);

    let (expected_windows, expected_totals) = reference_output();

    let work = tempfile::tempdir().unwrap();
    let script = work.path().join("job.sql");
    std::fs::write(&script, JOB).unwrap();
    let local = work.path().join("rocksdb");
    let local_option = format!("state.backend.rocksdb.localdir={}", local.display());
    let extra: Vec<&str> = if rocksdb {
        vec![
            "--set",
            "state.backend.type=rocksdb",
            "--set",
            "execution.checkpointing.incremental=true",
            "--set",
            "weir.state.rocksdb.cache-keys=4",
            "--set",
            &local_option,
        ]
    } else if incremental {
        vec!["--set", "execution.checkpointing.incremental=true"]
    } else {
        Vec::new()
    };
    let checkpoints = work.path().join(".weir/checkpoints/job");
    let mut kills = 0;
    let mut resumed = 0;
    let started = Instant::now();
    loop {
        let completed_before = latest_completed_checkpoint(&checkpoints);
        let mut child = start(&script, &extra);
        if kills < 20 {
            if kills > 0 {
                // Runs after the first are killed at a random moment after they completed
                // a checkpoint (the next one may be in upload or commit), so that every
                // run after the second resumes from one however slow the machine is.
                let waited = Instant::now();
                while latest_completed_checkpoint(&checkpoints) <= completed_before
                    && child.try_wait().unwrap().is_none()
                    && waited.elapsed() < Duration::from_secs(20)
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
                std::thread::sleep(random.millis(0, 400));
            } else {
                std::thread::sleep(random.millis(100, 700));
            }
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap();
                let out = child.wait_with_output().unwrap();
                let text = String::from_utf8_lossy(&out.stderr);
                resumed += usize::from(text.contains("resuming from checkpoint"));
                kills += 1;
                continue;
            }
        }
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "the last run failed (seed {seed}): {text}"
        );
        break;
    }
    println!(
        "{kills} kills, {resumed} of them after resuming, in {:.1?}",
        started.elapsed()
    );
    assert_eq!(kills, 20, "the job ended before 20 kills (seed {seed})");
    assert!(
        resumed >= 10,
        "most runs resume from a checkpoint (seed {seed}): {resumed}"
    );

    let windows = committed_lines(&work.path().join("out/windows"));
    assert_eq!(
        windows.len(),
        expected_windows.len(),
        "window rows (seed {seed})"
    );
    assert!(
        windows == expected_windows,
        "window rows differ (seed {seed})"
    );
    let totals = final_table(&committed_lines(&work.path().join("out/totals")));
    assert_eq!(totals, expected_totals, "final totals (seed {seed})");
    let left: Vec<_> = std::fs::read_dir(&checkpoints)
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "a finished job leaves no checkpoint: {left:?}"
    );
    if rocksdb {
        let left: Vec<_> = std::fs::read_dir(&local)
            .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "RocksDB folders left behind: {left:?}");
    }
}

/// The id of the newest checkpoint of `folder` with its `_metadata` (complete), 0 when
/// there is none.
pub(super) fn latest_completed_checkpoint(folder: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.path().join("_metadata").exists())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("chk-"))
                .and_then(|id| id.parse().ok())
        })
        .max()
        .unwrap_or(0)
}

/// Savepoints are Arrow tables whatever the state backend: they also move a job from
/// one backend to the other.
#[test]
fn a_savepoint_at_parallelism_2_restores_at_1_and_4_with_the_same_output() {
    let (expected_windows, expected_totals) = reference_output();
    let rocksdb = ["--set", "state.backend.type=rocksdb"];
    for (parallelism, before, after) in [
        (1, &[][..], &[][..]),
        (4, &[][..], &[][..]),
        (1, &rocksdb[..], &[][..]),
        (3, &[][..], &rocksdb[..]),
    ] {
        let work = tempfile::tempdir().unwrap();
        let script = work.path().join("job.sql");
        std::fs::write(&script, JOB).unwrap();
        let savepoints = work.path().join("sp");
        let sp = savepoints.to_string_lossy().into_owned();
        let mut first = vec!["--savepoint-dir", sp.as_str()];
        first.extend_from_slice(before);
        let text_first = stop_after(start(&script, &first), Duration::from_millis(1500));
        assert!(text_first.contains("savepoint written to"), "{text_first}");
        let savepoint = std::fs::read_dir(&savepoints)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("savepoint-"))
            })
            .expect("a savepoint folder");
        let from = savepoint.to_string_lossy().into_owned();
        let mut second = vec!["--from-savepoint", from.as_str()];
        second.extend_from_slice(after);
        let out = start_at(&script, parallelism, &second)
            .wait_with_output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "restore at {parallelism}: {text}");
        assert!(text.contains("resuming from savepoint"), "{text}");
        let windows = committed_lines(&work.path().join("out/windows"));
        assert!(
            windows == expected_windows,
            "window rows at parallelism {parallelism} (after {before:?}, restored with {after:?}): {}\nfirst run: {text_first}\nsecond run: {text}",
            line_difference(&expected_windows, &windows)
        );
        let totals = final_table(&committed_lines(&work.path().join("out/totals")));
        assert_eq!(
            totals, expected_totals,
            "final totals at parallelism {parallelism}"
        );
    }
}

/// `weir savepoint` asks the running job for a savepoint and prints its folder; after
/// the job is killed, resuming from that savepoint commits exactly the rest. (No other
/// checkpoint runs in between: one that completed after the savepoint would commit
/// output that a resume from the older savepoint writes again.)
#[test]
fn weir_savepoint_writes_a_savepoint_of_the_running_job() {
    let (expected_windows, expected_totals) = reference_output();
    let work = tempfile::tempdir().unwrap();
    let script = work.path().join("job.sql");
    std::fs::write(&script, JOB).unwrap();
    let options = [
        "--set",
        "state.backend.type=rocksdb",
        "--set",
        "execution.checkpointing.interval=1h",
    ];
    let mut child = start(&script, &options);
    std::thread::sleep(Duration::from_millis(1500));
    let out = weir()
        .arg("savepoint")
        .arg(&script)
        .arg("--savepoint-dir")
        .arg(work.path().join("sp"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let folder = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        Path::new(&folder).join("_metadata").is_file(),
        "no savepoint at {folder:?}"
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "the job goes on running"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let out = start(&script, &["--from-savepoint", &folder])
        .wait_with_output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    let windows = committed_lines(&work.path().join("out/windows"));
    assert!(windows == expected_windows, "window rows");
    let totals = final_table(&committed_lines(&work.path().join("out/totals")));
    assert_eq!(totals, expected_totals);
    // Without a running job, the command says so.
    let out = weir().arg("savepoint").arg(&script).output().unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("no running job"), "{text}");
}

#[test]
fn a_corrupt_or_truncated_latest_checkpoint_is_reported_and_the_previous_one_used() {
    let work = tempfile::tempdir().unwrap();
    let script = work.path().join("job.sql");
    std::fs::write(&script, JOB).unwrap();
    let checkpoints = work.path().join(".weir/checkpoints/job");
    for damage in ["corrupt", "truncated"] {
        stop_after(start(&script, &[]), Duration::from_millis(800));
        let mut ids: Vec<u64> = std::fs::read_dir(&checkpoints)
            .unwrap()
            .filter_map(Result::ok)
            .filter_map(|e| {
                e.file_name()
                    .to_string_lossy()
                    .strip_prefix("chk-")?
                    .parse()
                    .ok()
            })
            .collect();
        ids.sort_unstable();
        assert!(ids.len() >= 2, "two checkpoints retained: {ids:?}");
        let newest = ids[ids.len() - 1];
        let previous = ids[ids.len() - 2];
        let file = arrow_files(&checkpoints.join(format!("chk-{newest}")))
            .into_iter()
            .next()
            .expect("the newest checkpoint has a state file");
        let mut bytes = std::fs::read(&file).unwrap();
        if damage == "corrupt" {
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0xff;
        } else {
            bytes.truncate(bytes.len() / 2);
        }
        std::fs::write(&file, bytes).unwrap();
        let text = stop_after(start(&script, &[]), Duration::from_millis(300));
        let says = if damage == "corrupt" {
            "checksum"
        } else {
            "truncated"
        };
        assert!(
            text.contains(&format!("skipped checkpoint {newest} at")) && text.contains(says),
            "{damage}: {text}"
        );
        assert!(
            text.contains(&format!("resuming from checkpoint {previous} at")),
            "{damage}: {text}"
        );
    }
}

/// The `.arrow` state files under a checkpoint folder.
fn arrow_files(folder: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(folder).unwrap().filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            found.extend(arrow_files(&path));
        } else if path.extension().is_some_and(|e| e == "arrow") {
            found.push(path);
        }
    }
    found.sort();
    found
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().filter_map(Result::ok) {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The savepoint kept in `tests/fixtures/savepoint-v1` (written by an earlier version;
/// see its `regenerate.sh`) must keep restoring: the output it had committed plus what
/// the restored job commits equals an uninterrupted run's output. A change to a state
/// table's layout fails here until it ships a migration.
#[test]
fn the_committed_savepoint_fixture_still_restores() {
    let fixture = super::cases::repo_root().join("tests/fixtures/savepoint-v1");
    let job = std::fs::read_to_string(fixture.join("job.sql")).unwrap();

    let reference = tempfile::tempdir().unwrap();
    let uninterrupted = job
        .replace("SET 'execution.checkpointing.interval' = '200 ms';", "")
        .replace(
            "'rows-per-second' = '1000'",
            "'rows-per-second' = '1000000'",
        );
    std::fs::write(reference.path().join("job.sql"), uninterrupted).unwrap();
    let out = weir()
        .current_dir(reference.path())
        .args(["run", "--quiet", "job.sql"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let work = tempfile::tempdir().unwrap();
    std::fs::copy(fixture.join("job.sql"), work.path().join("job.sql")).unwrap();
    copy_dir(&fixture.join("out"), &work.path().join("out"));
    copy_dir(&fixture.join("savepoint"), &work.path().join("savepoint"));
    let out = weir()
        .current_dir(work.path())
        .args(["run", "--quiet", "job.sql", "--from-savepoint", "savepoint"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the fixture does not restore: {text}");
    assert!(text.contains("resuming from savepoint"), "{text}");
    assert!(
        committed_lines(&work.path().join("out/windows"))
            == committed_lines(&reference.path().join("out/windows")),
        "window rows differ from an uninterrupted run"
    );
    for table in ["totals", "firsts"] {
        assert_eq!(
            final_table(&committed_lines(&work.path().join("out").join(table))),
            final_table(&committed_lines(&reference.path().join("out").join(table))),
            "{table} differs from an uninterrupted run"
        );
    }
}
