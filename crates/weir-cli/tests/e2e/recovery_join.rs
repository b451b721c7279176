//! Exactly-once recovery of a regular join: a FULL OUTER join of two views of one
//! generated stream, its changelog (padded rows emitted and retracted) written by a
//! debezium-json filesystem sink. Killed at random moments and resumed each time, or
//! stopped with a savepoint and restored at another parallelism, the job must commit a
//! changelog whose final table equals an uninterrupted run's, with every retraction
//! finding its row; on both state backends (RocksDB with a cache of 8 keys, so the
//! join's rows are read back from the store all the time).

use std::collections::BTreeMap;
use std::time::Duration;

use super::recovery::{
    committed_lines, final_table, latest_completed_checkpoint, start_at, stop_after, Seeded,
};

const JOB: &str = "\
SET 'execution.checkpointing.interval' = '100 ms';
SET 'execution.checkpointing.num-retained' = '2';
SET 'restart-strategy.type' = 'none';
CREATE TABLE events (id BIGINT) WITH (
  'connector' = 'datagen', 'rows-per-second' = '3000', 'number-of-rows' = '12000',
  'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '12000'
);
CREATE VIEW l AS SELECT id % 40 AS k, id AS lid FROM events WHERE id % 3 = 0;
CREATE VIEW r AS SELECT id % 50 AS k, id AS rid FROM events WHERE id % 97 = 0;
CREATE TABLE pairs (k BIGINT, lid BIGINT, rid BIGINT)
  WITH ('connector' = 'filesystem', 'path' = 'out/pairs', 'format' = 'debezium-json');
INSERT INTO pairs SELECT l.k, l.lid, r.rid FROM l FULL JOIN r ON l.k = r.k;
";

/// The final table of an uninterrupted run without checkpoints.
fn reference() -> BTreeMap<String, usize> {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("job.sql");
    let job = JOB
        .replace("SET 'execution.checkpointing.interval' = '100 ms';", "")
        .replace(
            "'rows-per-second' = '3000'",
            "'rows-per-second' = '1000000'",
        );
    std::fs::write(&script, job).unwrap();
    let out = start_at(&script, 2, &[]).wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = final_table(&committed_lines(&dir.path().join("out/pairs")));
    // Left keys 0..39 with right rows (ids 97, 194, ...) of keys 0..49: every left row
    // finds its matches, right rows of keys 40..49 stay padded.
    let padded_right = table
        .keys()
        .filter(|row| row.contains("\"lid\":null"))
        .count();
    assert!(
        padded_right > 0 && table.len() > 4000,
        "{} rows",
        table.len()
    );
    table
}

/// `--set` options putting the job's state in RocksDB under `work`.
fn rocksdb_options(work: &std::path::Path) -> Vec<String> {
    [
        "state.backend.type=rocksdb".to_string(),
        "execution.checkpointing.incremental=true".to_string(),
        "weir.state.rocksdb.cache-keys=8".to_string(),
        format!(
            "state.backend.rocksdb.localdir={}",
            work.join("rocksdb").display()
        ),
    ]
    .into_iter()
    .flat_map(|option| ["--set".to_string(), option])
    .collect()
}

#[test]
fn a_killed_and_resumed_join_commits_the_changelog_of_an_uninterrupted_run() {
    killed_and_resumed(false);
}

#[test]
fn with_rocksdb_a_killed_and_resumed_join_commits_the_changelog_of_an_uninterrupted_run() {
    killed_and_resumed(true);
}

fn killed_and_resumed(rocksdb: bool) {
    let seed = std::env::var("WEIR_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(11);
    let mut random = Seeded(seed);
    let expected = reference();
    let work = tempfile::tempdir().unwrap();
    let script = work.path().join("job.sql");
    std::fs::write(&script, JOB).unwrap();
    let options = if rocksdb {
        rocksdb_options(work.path())
    } else {
        Vec::new()
    };
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let checkpoints = work.path().join(".weir/checkpoints/job");
    let (mut kills, mut resumed) = (0, 0);
    loop {
        let completed_before = latest_completed_checkpoint(&checkpoints);
        let mut child = start_at(&script, 2, &options);
        if kills < 8 {
            if kills > 0 {
                // Killed at a random moment after completing a checkpoint, so that the
                // runs after the second resume from one however slow the machine is.
                let waited = std::time::Instant::now();
                while latest_completed_checkpoint(&checkpoints) <= completed_before
                    && child.try_wait().unwrap().is_none()
                    && waited.elapsed() < std::time::Duration::from_secs(20)
                {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                std::thread::sleep(random.millis(0, 400));
            } else {
                std::thread::sleep(random.millis(150, 600));
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
    assert_eq!(kills, 8, "the job ended before 8 kills (seed {seed})");
    assert!(resumed >= 4, "runs resume from checkpoints: {resumed}");
    let table = final_table(&committed_lines(&work.path().join("out/pairs")));
    assert_eq!(table, expected, "final table (seed {seed})");
}

/// Savepoints taken on RocksDB restore on the in-memory backend, and the other way.
#[test]
fn a_join_savepoint_at_parallelism_2_restores_at_1_and_4() {
    let expected = reference();
    for (parallelism, rocksdb_before) in [(1, true), (4, false)] {
        let work = tempfile::tempdir().unwrap();
        let script = work.path().join("job.sql");
        std::fs::write(&script, JOB).unwrap();
        let rocksdb = rocksdb_options(work.path());
        let savepoints = work.path().join("sp");
        let sp = savepoints.to_string_lossy().into_owned();
        let mut before: Vec<&str> = vec!["--savepoint-dir", &sp];
        let mut after: Vec<&str> = Vec::new();
        let backend: Vec<&str> = rocksdb.iter().map(String::as_str).collect();
        if rocksdb_before {
            before.extend(&backend);
        } else {
            after.extend(&backend);
        }
        let text = stop_after(start_at(&script, 2, &before), Duration::from_millis(1500));
        assert!(text.contains("savepoint written to"), "{text}");
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
        after.extend(["--from-savepoint", from.as_str()]);
        let out = start_at(&script, parallelism, &after)
            .wait_with_output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "restore at {parallelism}: {text}");
        assert!(text.contains("resuming from savepoint"), "{text}");
        let table = final_table(&committed_lines(&work.path().join("out/pairs")));
        assert_eq!(table, expected, "final table at parallelism {parallelism}");
    }
}
