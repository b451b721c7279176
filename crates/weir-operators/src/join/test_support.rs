//! Checkpoint scenarios of two-input operators: the rows of each input routed by that
//! input's keys, a snapshot after any prefix of the steps, restored at other
//! parallelisms, must continue exactly as the uninterrupted run.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use weir_runtime::{Operator, Output, StateSnapshot};
use weir_types::Watermark;

use crate::group_agg::test_support::{lines, redistribute, route};

/// One input event of a two-input scenario.
#[derive(Clone)]
pub(crate) enum Step {
    /// A batch of input 0 or 1, routed by that input's keys.
    Batch(usize, RecordBatch),
    /// A watermark, sent to every subtask.
    Watermark(i64),
}

/// Creates subtask `subtask` of `parallelism`, reading processing time from `now`.
pub(crate) type Make<'a> = &'a dyn Fn(usize, usize, Arc<AtomicI64>) -> Box<dyn Operator>;

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

    /// Runs step `index` (processing time `index * 100`); the sorted rows emitted.
    fn step(&mut self, index: usize, step: &Step, keys: &[Vec<usize>; 2]) -> Vec<String> {
        self.now.store(index as i64 * 100, Ordering::SeqCst);
        let mut out = Output::default();
        match step {
            Step::Batch(input, batch) => {
                let parts = route(batch, &keys[*input], self.operators.len());
                for (operator, part) in self.operators.iter_mut().zip(parts) {
                    if part.num_rows() > 0 {
                        operator.process_batch(*input, part, &mut out).unwrap();
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

    fn checkpoint(&mut self, id: u64) -> Vec<StateSnapshot> {
        self.operators
            .iter_mut()
            .map(|operator| operator.snapshot_state(id).unwrap())
            .collect()
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

/// Checks that a snapshot after any prefix of `steps`, taken at parallelism 1 or 2 and
/// restored at 1, 2 or 3, continues exactly as the uninterrupted run at parallelism 1
/// (the rows of every later step and of the end), and that the snapshotted subtasks go
/// on unchanged; returns the uninterrupted run's output per step (the end last).
pub(crate) fn check_checkpoints(
    make: Make<'_>,
    keys: &[Vec<usize>; 2],
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
            let snapshots = run.checkpoint(k as u64 + 1);
            let mut restored = Run::restore(make, new_parallelism, &snapshots);
            for (i, step) in steps.iter().enumerate().skip(k) {
                assert_eq!(
                    restored.step(i, step, keys),
                    expected[i],
                    "step {i} after a snapshot after {k} steps, \
                     {old_parallelism} -> {new_parallelism} subtasks"
                );
            }
            assert_eq!(
                restored.finish(),
                expected[steps.len()],
                "end after snapshot at {k}"
            );
            for (i, step) in steps.iter().enumerate().skip(k) {
                assert_eq!(
                    run.step(i, step, keys),
                    expected[i],
                    "step {i}, snapshotted at {k}"
                );
            }
        }
    }
    expected
}
