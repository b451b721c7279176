//! Test helpers for operator checkpoints: what a restore at another parallelism gives a
//! subtask, and routing input rows by key group as a hash exchange does.

use std::sync::Arc;

use arrow::array::{ArrayRef, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::record_batch::RecordBatch;
use std::sync::atomic::{AtomicI64, Ordering};
use weir_runtime::partition::key_groups;

use datafusion::common::ScalarValue;
use weir_runtime::{Operator, Output, StateSnapshot};
use weir_types::keygroup::subtask_of_key_group;
use weir_types::{Message, Watermark};

/// Max parallelism used by the checkpoint tests.
pub(crate) const MAX_PARALLELISM: usize = 128;

/// Both state backends; RocksDB with a cache of two keys, so most keys are read back
/// from the store.
pub(crate) fn backends() -> Vec<weir_runtime::StateBackend> {
    vec![
        weir_runtime::StateBackend::HashMap,
        weir_runtime::StateBackend::RocksDb(weir_runtime::RocksConfig {
            cache_keys: 2,
            incremental: true,
            ..weir_runtime::RocksConfig::default()
        }),
    ]
}

/// The state subtask `subtask` of `parallelism` receives from `old` on restore (the
/// runtime's own redistribution of tables; native RocksDB state as a restore from
/// storage gives it: a copy of the files of every old store whose key groups overlap).
pub(crate) fn redistribute(
    old: &[StateSnapshot],
    subtask: usize,
    parallelism: usize,
) -> StateSnapshot {
    let mut state = weir_runtime::redistribute(old, subtask, parallelism, MAX_PARALLELISM)
        .expect("snapshots redistribute");
    let range = weir_types::keygroup::key_group_range(subtask, MAX_PARALLELISM, parallelism);
    for native in old.iter().flat_map(|s| s.native()) {
        let [lo, hi] = native.key_groups;
        if (lo as usize) >= range.end || (hi as usize) < range.start {
            continue;
        }
        let copy = tempfile::tempdir().expect("tempdir").keep();
        for file in &native.files {
            std::fs::copy(native.dir.path().join(&file.name), copy.join(&file.name))
                .expect("copy a native file");
        }
        state.add_native(weir_state::NativeState {
            dir: Arc::new(weir_state::native::LocalDir::new(copy)),
            uploaded: None,
            ..native.clone()
        });
    }
    state
}

/// Splits `batch` over `parallelism` subtasks by the key group of `keys` (all rows to
/// subtask 0 without keys), as a hash exchange does.
pub(crate) fn route(batch: &RecordBatch, keys: &[usize], parallelism: usize) -> Vec<RecordBatch> {
    if keys.is_empty() {
        let mut parts = vec![batch.slice(0, 0); parallelism];
        parts[0] = batch.clone();
        return parts;
    }
    let columns: Vec<ArrayRef> = keys.iter().map(|&k| Arc::clone(batch.column(k))).collect();
    let groups = key_groups(&columns, MAX_PARALLELISM).unwrap();
    (0..parallelism)
        .map(|subtask| {
            let rows: UInt32Array = (0..groups.len())
                .filter(|&r| {
                    subtask_of_key_group(groups.value(r) as usize, MAX_PARALLELISM, parallelism)
                        == subtask
                })
                .map(|r| r as u32)
                .collect();
            take_record_batch(batch, &rows).unwrap()
        })
        .collect()
}

/// One input event of a checkpoint scenario.
#[derive(Clone)]
pub(crate) enum Step {
    /// A batch, routed by the scenario's keys.
    Batch(RecordBatch),
    /// A watermark, sent to every subtask.
    Watermark(i64),
}

/// Creates subtask `subtask` of `parallelism`, reading processing time from `now`.
pub(crate) type Make<'a> = &'a dyn Fn(usize, usize, Arc<AtomicI64>) -> Box<dyn Operator>;

/// Every row of the batches in `out`, rendered, sorted.
pub(crate) fn lines(out: &mut Output) -> Vec<String> {
    let mut lines = Vec::new();
    for message in out.drain() {
        if let Message::Batch(batch) = message {
            for row in 0..batch.num_rows() {
                let values: Vec<String> = batch
                    .columns()
                    .iter()
                    .map(|c| ScalarValue::try_from_array(c, row).unwrap().to_string())
                    .collect();
                lines.push(values.join("|"));
            }
        }
    }
    lines.sort();
    lines
}

/// Subtasks of one run of a scenario.
struct Run {
    operators: Vec<Box<dyn Operator>>,
    now: Arc<AtomicI64>,
}

impl Run {
    fn new(make: Make<'_>, parallelism: usize) -> Run {
        let now = Arc::new(AtomicI64::new(0));
        let operators = (0..parallelism)
            .map(|s| make(s, parallelism, Arc::clone(&now)))
            .collect();
        Run { operators, now }
    }

    /// Runs step `index`; returns the sorted rows all subtasks emitted.
    fn step(&mut self, index: usize, step: &Step, keys: &[usize]) -> Vec<String> {
        self.now.store(index as i64 * 100, Ordering::SeqCst);
        let mut out = Output::default();
        match step {
            Step::Batch(batch) => {
                let parts = route(batch, keys, self.operators.len());
                for (operator, part) in self.operators.iter_mut().zip(parts) {
                    if part.num_rows() > 0 {
                        operator.process_batch(0, part, &mut out).unwrap();
                    }
                }
            }
            Step::Watermark(w) => {
                for operator in &mut self.operators {
                    operator.process_watermark(Watermark(*w), &mut out).unwrap();
                }
            }
        }
        lines(&mut out)
    }

    fn finish(&mut self) -> Vec<String> {
        let mut out = Output::default();
        for operator in &mut self.operators {
            operator.finish(&mut out).unwrap();
        }
        lines(&mut out)
    }

    /// Flushes ahead of the barrier (returning what that emits) and snapshots.
    fn checkpoint(&mut self, id: u64) -> (Vec<String>, Vec<StateSnapshot>) {
        let mut out = Output::default();
        let mut snapshots = Vec::new();
        for operator in &mut self.operators {
            operator.prepare_snapshot_pre_barrier(id, &mut out).unwrap();
            snapshots.push(operator.snapshot_state(id).unwrap());
        }
        (lines(&mut out), snapshots)
    }

    fn restore(make: Make<'_>, parallelism: usize, old: &[StateSnapshot]) -> Run {
        let mut run = Run::new(make, parallelism);
        for (subtask, operator) in run.operators.iter_mut().enumerate() {
            let state = redistribute(old, subtask, parallelism);
            if !state.is_empty() {
                operator.restore_state(state).unwrap();
            }
        }
        run
    }
}

/// Checks that a snapshot after any prefix of `steps`, restored at parallelism 1, 2 and
/// 3 from 1 and 2 subtasks, continues exactly as the uninterrupted run (the rows emitted
/// for each later step, and at the end), that the snapshot after the end is inert, and
/// returns the uninterrupted run's output per step (the end last).
pub(crate) fn check_checkpoints(
    make: Make<'_>,
    keys: &[usize],
    steps: &[Step],
) -> Vec<Vec<String>> {
    let mut reference = Run::new(make, 1);
    let mut expected: Vec<Vec<String>> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| reference.step(i, s, keys))
        .collect();
    expected.push(reference.finish());
    for (old_parallelism, new_parallelism) in [(1, 1), (2, 1), (2, 3), (1, 2)] {
        for k in 0..=steps.len() {
            let mut run = Run::new(make, old_parallelism);
            for (i, step) in steps[..k].iter().enumerate() {
                assert_eq!(
                    run.step(i, step, keys),
                    expected[i],
                    "step {i} before a snapshot"
                );
            }
            let (flushed, snapshots) = run.checkpoint(k as u64 + 1);
            assert!(flushed.is_empty(), "nothing is held back: {flushed:?}");
            let mut restored = Run::restore(make, new_parallelism, &snapshots);
            for (i, step) in steps.iter().enumerate().skip(k) {
                assert_eq!(
                    restored.step(i, step, keys),
                    expected[i],
                    "step {i} after a snapshot after {k} steps, {old_parallelism} -> {new_parallelism} subtasks"
                );
            }
            assert_eq!(
                restored.finish(),
                expected[steps.len()],
                "end after a snapshot after {k} steps, {old_parallelism} -> {new_parallelism}"
            );
            if new_parallelism == 1 {
                // Snapshots copy: the snapshotted subtasks go on as if nothing happened.
                for (i, step) in steps.iter().enumerate().skip(k) {
                    assert_eq!(
                        run.step(i, step, keys),
                        expected[i],
                        "step {i}, snapshotted at {k}"
                    );
                }
                assert_eq!(
                    run.finish(),
                    expected[steps.len()],
                    "end, snapshotted at {k}"
                );
            }
        }
    }
    // The state after the end is inert.
    let (_, finished) = reference.checkpoint(u64::MAX);
    for parallelism in [1, 3] {
        let mut restored = Run::restore(make, parallelism, &finished);
        let mut out = Output::default();
        for operator in &mut restored.operators {
            operator
                .process_watermark(Watermark::MAX, &mut out)
                .unwrap();
            operator.finish(&mut out).unwrap();
        }
        assert!(
            lines(&mut out).is_empty(),
            "a finished state emits nothing more"
        );
    }
    expected
}
