//! Tests of the `filesystem` sink's two-phase commit: files become visible only when
//! the checkpoint that staged them completes, and a restore commits what a checkpoint
//! staged and removes what a crashed run left, at any parallelism.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use weir_runtime::{Operator, Output, StateSnapshot, SubtaskContext};
use weir_types::ChangelogKind;

use super::state::union_of;
use crate::create_sink;
use crate::descriptor::TableDescriptor;

fn table(base: &Path, extra: &[(&str, &str)]) -> TableDescriptor {
    let mut options = vec![
        ("connector", "filesystem"),
        ("path", "out"),
        ("format", "csv"),
    ];
    options.extend_from_slice(extra);
    TableDescriptor {
        name: "t".into(),
        schema: Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, true),
            Field::new("name", DataType::Utf8, true),
        ])),
        metadata: vec![],
        primary_key: vec![],
        options: options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        base_dir: base.to_path_buf(),
    }
}

/// The sink subtasks of one run of a job (a new `create_sink`, as a new process does).
fn run(base: &Path, extra: &[(&str, &str)], parallelism: usize) -> Vec<Box<dyn Operator>> {
    let binding = create_sink(&table(base, extra), ChangelogKind::AppendOnly).unwrap();
    (0..parallelism)
        .map(|subtask| {
            let ctx = SubtaskContext {
                subtask,
                parallelism,
                checkpointing: true,
                state_backend: Default::default(),
                ..SubtaskContext::single("sink")
            };
            binding.factory.create(&ctx).unwrap()
        })
        .collect()
}

fn rows(ids: std::ops::Range<i32>) -> RecordBatch {
    let names: Vec<String> = ids.clone().map(|i| format!("n{i}")).collect();
    RecordBatch::try_from_iter(vec![
        (
            "id",
            Arc::new(Int32Array::from_iter_values(ids)) as ArrayRef,
        ),
        ("name", Arc::new(StringArray::from(names)) as ArrayRef),
    ])
    .unwrap()
}

fn write(sink: &mut dyn Operator, ids: std::ops::Range<i32>) {
    sink.process_batch(0, rows(ids), &mut Output::default())
        .unwrap();
}

/// Visible (committed) files and hidden ones, by name.
fn files(base: &Path) -> (Vec<String>, Vec<String>) {
    let mut names: Vec<String> = fs::read_dir(base.join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.into_iter().partition(|n| !n.starts_with('.'))
}

/// The ids in the committed files, sorted.
fn committed_ids(base: &Path) -> Vec<i32> {
    let mut ids: Vec<i32> = files(base)
        .0
        .iter()
        .flat_map(|name| {
            let text = fs::read_to_string(base.join("out").join(name)).unwrap();
            text.lines()
                .map(|l| l.split(',').next().unwrap().parse::<i32>().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    ids.sort_unstable();
    ids
}

/// A process that dies: no destructor runs.
fn crash(sinks: Vec<Box<dyn Operator>>) {
    std::mem::forget(sinks);
}

#[test]
fn files_are_committed_only_when_their_checkpoint_completes() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let mut sink = run(base, &[], 1).pop().unwrap();
    write(sink.as_mut(), 0..3);
    let first = sink.snapshot_state(1).unwrap();
    assert_eq!(first.table("pending_files").unwrap().num_rows(), 1);
    assert_eq!(first.table("writers").unwrap().num_rows(), 1);
    write(sink.as_mut(), 3..5);
    let (visible, hidden) = files(base);
    assert!(visible.is_empty(), "{visible:?}");
    assert_eq!(hidden.len(), 2, "{hidden:?}");
    sink.notify_checkpoint_complete(1).unwrap();
    assert_eq!(committed_ids(base), vec![0, 1, 2]);
    // The end of input stages; the final checkpoint's completion commits.
    sink.finish(&mut Output::default()).unwrap();
    assert_eq!(committed_ids(base), vec![0, 1, 2]);
    let last = sink.snapshot_state(2).unwrap();
    assert_eq!(last.table("pending_files").unwrap().num_rows(), 1);
    assert_eq!(committed_ids(base), vec![0, 1, 2]);
    sink.notify_checkpoint_complete(2).unwrap();
    assert_eq!(committed_ids(base), vec![0, 1, 2, 3, 4]);
    assert!(files(base).1.is_empty());
    // A checkpoint with nothing new still records the writer, and commits nothing.
    let empty = sink.snapshot_state(3).unwrap();
    assert_eq!(empty.table("pending_files").map_or(0, |t| t.num_rows()), 0);
    assert_eq!(empty.table("writers").unwrap().num_rows(), 1);
    sink.notify_checkpoint_complete(3).unwrap();
    drop(sink);
    assert_eq!(files(base).0.len(), 2);
}

#[test]
fn rolled_files_wait_for_the_checkpoint_and_a_late_notification_commits_earlier_ones() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let roll = [("sink.rolling-policy.file-size", "1b")];
    let mut sink = run(base, &roll, 1).pop().unwrap();
    write(sink.as_mut(), 0..2);
    write(sink.as_mut(), 2..4);
    assert!(files(base).0.is_empty());
    sink.snapshot_state(1).unwrap();
    write(sink.as_mut(), 4..6);
    let second = sink.snapshot_state(2).unwrap();
    // Checkpoint 1's notification was missed: its files are still pending.
    assert_eq!(second.table("pending_files").unwrap().num_rows(), 3);
    sink.notify_checkpoint_complete(2).unwrap();
    assert_eq!(committed_ids(base), (0..6).collect::<Vec<_>>());
    assert_eq!(files(base).0.len(), 3);
    sink.notify_checkpoint_complete(1).unwrap();
}

#[test]
fn a_crash_after_the_snapshot_is_committed_by_the_restore() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let mut sinks = run(base, &[], 1);
    write(sinks[0].as_mut(), 0..4);
    let snapshot = sinks[0].snapshot_state(7).unwrap();
    crash(sinks);
    assert!(files(base).0.is_empty());
    let mut restored = run(base, &[], 1).pop().unwrap();
    restored.restore_state(snapshot.clone()).unwrap();
    assert_eq!(committed_ids(base), vec![0, 1, 2, 3]);
    assert!(files(base).1.is_empty());
    // Restoring the same checkpoint again (a second crash) commits nothing twice.
    crash(vec![restored]);
    let mut again = run(base, &[], 1).pop().unwrap();
    again.restore_state(snapshot).unwrap();
    write(again.as_mut(), 4..6);
    again.finish(&mut Output::default()).unwrap();
    again.snapshot_state(8).unwrap();
    again.notify_checkpoint_complete(8).unwrap();
    assert_eq!(committed_ids(base), (0..6).collect::<Vec<_>>());
}

#[test]
fn a_crash_before_the_snapshot_leaves_strays_the_restore_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let roll = [("sink.rolling-policy.file-size", "20b")];
    let mut sinks = run(base, &roll, 1);
    write(sinks[0].as_mut(), 0..3);
    let snapshot = sinks[0].snapshot_state(1).unwrap();
    sinks[0].notify_checkpoint_complete(1).unwrap();
    // Rows after the checkpoint: a rolled (staged) file and one being written.
    write(sinks[0].as_mut(), 3..7);
    write(sinks[0].as_mut(), 7..8);
    assert_eq!(files(base).1.len(), 2);
    crash(sinks);
    // Another job's in-progress file and a committed file that looks like ours stay.
    let foreign = ".part-0f0e0d0c-0b0a-4908-8706-050403020100-0-0.inprogress.other";
    fs::write(base.join("out").join(foreign), "9,x\n").unwrap();

    let mut restored = run(base, &roll, 1).pop().unwrap();
    restored.restore_state(snapshot).unwrap();
    assert_eq!(files(base).1, vec![foreign.to_string()]);
    assert_eq!(committed_ids(base), vec![0, 1, 2]);
    // The replay writes the rows after the checkpoint again: they appear once.
    write(restored.as_mut(), 3..7);
    write(restored.as_mut(), 7..8);
    restored.finish(&mut Output::default()).unwrap();
    restored.snapshot_state(2).unwrap();
    restored.notify_checkpoint_complete(2).unwrap();
    assert_eq!(committed_ids(base), (0..8).collect::<Vec<_>>());
    // New names never reuse the old run's.
    let names = files(base).0;
    let distinct: std::collections::BTreeSet<_> = names.iter().collect();
    assert_eq!(distinct.len(), names.len());
}

/// A run killed before its first checkpoint leaves in-progress files no checkpoint
/// names; the next run, starting without one, deletes them before its first file (and
/// leaves another job's alone).
#[test]
fn a_crash_before_the_first_checkpoint_leaves_strays_the_next_fresh_run_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let roll = [("sink.rolling-policy.file-size", "20b")];
    let mut first = run(base, &roll, 2);
    write(first[0].as_mut(), 0..4);
    write(first[1].as_mut(), 4..5);
    assert_eq!(
        files(base).1.len(),
        2,
        "one file per subtask: {:?}",
        files(base)
    );
    crash(first);
    let foreign = ".part-0f0e0d0c-0b0a-4908-8706-050403020100-0-0.inprogress.other";
    fs::write(base.join("out").join(foreign), "9,x\n").unwrap();

    let mut fresh = run(base, &roll, 1).pop().unwrap();
    write(fresh.as_mut(), 10..11);
    let hidden = files(base).1;
    assert_eq!(
        hidden.len(),
        2,
        "the new run's file and the foreign one: {hidden:?}"
    );
    assert!(hidden.contains(&foreign.to_string()));
    fresh.finish(&mut Output::default()).unwrap();
    fresh.snapshot_state(1).unwrap();
    fresh.notify_checkpoint_complete(1).unwrap();
    assert_eq!(committed_ids(base), vec![10]);
    assert_eq!(files(base).1, vec![foreign.to_string()]);
}

/// Old subtasks each stage rows and crash; a run at `new` subtasks restores.
fn rescale(old: usize, new: usize) {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let mut sinks = run(base, &[], old);
    let mut snapshots = Vec::new();
    for (i, sink) in sinks.iter_mut().enumerate() {
        let first = i as i32 * 10;
        write(sink.as_mut(), first..first + 3);
        snapshots.push(sink.snapshot_state(4).unwrap());
        // Rows after the checkpoint: strays.
        write(sink.as_mut(), 100..101);
    }
    crash(sinks);
    let restored = union_of(&snapshots);
    let mut new_sinks = run(base, &[], new);
    let mut expected = Vec::new();
    for (i, sink) in new_sinks.iter_mut().enumerate() {
        sink.restore_state(restored.clone()).unwrap();
        // Subtask i committed the files of old subtasks j with j % new == i.
        for j in (0..old).filter(|j| j % new == i) {
            let first = j as i32 * 10;
            expected.extend(first..first + 3);
        }
        expected.sort_unstable();
        assert_eq!(committed_ids(base), expected, "{old} -> {new}, subtask {i}");
    }
    assert!(files(base).1.is_empty(), "{:?}", files(base).1);
    for sink in &mut new_sinks {
        sink.finish(&mut Output::default()).unwrap();
        sink.snapshot_state(5).unwrap();
        sink.notify_checkpoint_complete(5).unwrap();
    }
    assert_eq!(committed_ids(base).len(), old * 3);
}

#[test]
fn a_restore_at_another_parallelism_commits_every_staged_file_once() {
    for (old, new) in [(1, 1), (2, 1), (2, 3), (4, 2), (3, 3)] {
        rescale(old, new);
    }
}

#[test]
fn a_restore_refuses_another_operators_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = run(dir.path(), &[], 1).pop().unwrap();
    let mut other = StateSnapshot::new();
    let batch =
        RecordBatch::try_from_iter(vec![("x", Arc::new(Int32Array::from(vec![1])) as ArrayRef)])
            .unwrap();
    other.add_union("accumulators", batch).unwrap();
    let err = sink.restore_state(other).unwrap_err().to_string();
    assert!(
        err.contains("table 't': the checkpoint holds a table \"accumulators\""),
        "{err}"
    );
}

#[test]
fn dropping_a_sink_keeps_the_files_a_checkpoint_staged() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let mut sink = run(base, &[], 1).pop().unwrap();
    write(sink.as_mut(), 0..2);
    let snapshot = sink.snapshot_state(1).unwrap();
    write(sink.as_mut(), 2..4);
    drop(sink);
    assert_eq!(
        files(base).1.len(),
        1,
        "the staged file stays, the other is removed"
    );
    run(base, &[], 1)[0].restore_state(snapshot).unwrap();
    assert_eq!(committed_ids(base), vec![0, 1]);
}

#[test]
fn a_restore_refuses_a_checkpoint_of_a_sink_with_another_path_or_format() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let mut sink = run(base, &[], 1).pop().unwrap();
    write(sink.as_mut(), 0..2);
    let snapshot = sink.snapshot_state(1).unwrap();
    let json = [("format", "json")];
    let err = run(base, &json, 1)[0]
        .restore_state(snapshot.clone())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the checkpoint's sink has 'format' = 'csv', the table has 'json'"),
        "{err}"
    );
    let elsewhere = [("path", "other")];
    let err = run(base, &elsewhere, 1)[0]
        .restore_state(snapshot)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("table 't': the checkpoint's sink has 'path' = 'out', the table has 'other'"),
        "{err}"
    );
}

/// A job writing rows `0..ROWS` through sinks that checkpoint, lose notifications, and
/// crash at random points, restarting at random parallelism from the last completed
/// checkpoint and replaying the input from its position: the committed output holds
/// every row exactly once.
fn simulate(seed: u64) {
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    const ROWS: i32 = 150;
    let mut rng = SmallRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let roll = [("sink.rolling-policy.file-size", "40b")];
    // The last completed checkpoint: id, the sinks' snapshots, the input position.
    let mut completed: Option<(u64, Vec<StateSnapshot>, i32)> = None;
    let mut next_id = 1u64;
    let mut crashes = 0;
    'job: loop {
        let parallelism = rng.random_range(1..=4);
        let mut sinks = run(base, &roll, parallelism);
        let mut position = 0;
        if let Some((_, snapshots, at)) = &completed {
            let restored = union_of(snapshots);
            for sink in &mut sinks {
                sink.restore_state(restored.clone()).unwrap();
            }
            position = *at;
        }
        loop {
            let action = rng.random_range(0..10);
            if position == ROWS {
                // End of input: stage, final checkpoint, commit (unless a crash).
                for sink in &mut sinks {
                    sink.finish(&mut Output::default()).unwrap();
                }
                let id = next_id;
                next_id += 1;
                let snapshots: Vec<_> = sinks
                    .iter_mut()
                    .map(|s| s.snapshot_state(id).unwrap())
                    .collect();
                completed = Some((id, snapshots, position));
                if crashes < 6 && action < 3 {
                    crashes += 1;
                    crash(sinks);
                    continue 'job;
                }
                for sink in &mut sinks {
                    sink.notify_checkpoint_complete(id).unwrap();
                }
                break 'job;
            }
            match action {
                0..=5 => {
                    let end = (position + rng.random_range(1..8)).min(ROWS);
                    for id in position..end {
                        let subtask = id as usize % parallelism;
                        write(sinks[subtask].as_mut(), id..id + 1);
                    }
                    position = end;
                }
                6..=8 => {
                    let id = next_id;
                    next_id += 1;
                    let snapshots: Vec<_> = sinks
                        .iter_mut()
                        .map(|s| s.snapshot_state(id).unwrap())
                        .collect();
                    if rng.random_bool(0.8) {
                        completed = Some((id, snapshots, position));
                        for sink in &mut sinks {
                            if rng.random_bool(0.7) {
                                sink.notify_checkpoint_complete(id).unwrap();
                            }
                        }
                    }
                }
                _ if crashes < 6 => {
                    crashes += 1;
                    crash(sinks);
                    continue 'job;
                }
                _ => {}
            }
        }
    }
    if completed.is_none() {
        return;
    }
    assert_eq!(
        committed_ids(base),
        (0..ROWS).collect::<Vec<_>>(),
        "seed {seed}"
    );
}

#[test]
fn random_crashes_and_lost_notifications_commit_every_row_once() {
    for seed in 0..40 {
        simulate(seed);
    }
}
