//! Incremental checkpoints of the in-memory backend (`hashmap` with
//! `execution.checkpointing.incremental`), through real checkpoint storage: a job
//! checkpointed after every batch (a base, then deltas with updated, emptied and
//! TTL-expired keys) and restored from any of those checkpoints, at parallelism 1, 2
//! and 3, continues exactly as the uninterrupted run.

use std::sync::atomic::{AtomicI64, Ordering};

use datafusion::functions_aggregate::count::count_udaf;
use weir_runtime::StateBackend;
use weir_state::{CheckpointMetadata, CheckpointStorage, CompletedCheckpoint};

use super::test_support::{lines, route, Step, MAX_PARALLELISM};
use super::tests_checkpoint::{
    batch, definition, maker_in, random_changelog, retracting_functions, schema, Row,
};
use super::*;

type Maker = dyn Fn(usize, usize, Arc<AtomicI64>) -> Box<dyn Operator>;

/// Subtasks of `def` on `backend` in a job that takes checkpoints.
fn maker_on(
    def: GroupAggregate,
    backend: StateBackend,
) -> impl Fn(usize, usize, Arc<AtomicI64>) -> Box<dyn Operator> {
    maker_in(def, backend, true)
}

/// Runs step `i` on the subtasks (rows routed by `keys`), returning its sorted output.
fn step(
    operators: &mut [Box<dyn Operator>],
    keys: &[usize],
    now: &AtomicI64,
    i: usize,
    s: &Step,
) -> Vec<String> {
    now.store(i as i64 * 100, Ordering::SeqCst);
    let mut out = Output::default();
    match s {
        Step::Batch(b) => {
            let parts = route(b, keys, operators.len());
            for (operator, part) in operators.iter_mut().zip(parts) {
                if part.num_rows() > 0 {
                    operator.process_batch(0, part, &mut out).unwrap();
                }
            }
        }
        Step::Watermark(w) => {
            for operator in operators.iter_mut() {
                operator
                    .process_watermark(weir_types::Watermark(*w), &mut out)
                    .unwrap();
            }
        }
    }
    lines(&mut out)
}

fn finish(operators: &mut [Box<dyn Operator>]) -> Vec<String> {
    let mut out = Output::default();
    for operator in operators.iter_mut() {
        operator.finish(&mut out).unwrap();
    }
    lines(&mut out)
}

/// Checkpoint `id` of every subtask, written, completed and confirmed; returns it and
/// how many of its subtasks stored a delta.
async fn checkpoint(
    storage: &CheckpointStorage,
    operators: &mut [Box<dyn Operator>],
    id: u64,
) -> (CompletedCheckpoint, usize) {
    let writer = storage.checkpoint(id);
    let mut handles = Vec::new();
    let mut out = Output::default();
    for (subtask, operator) in operators.iter_mut().enumerate() {
        operator.prepare_snapshot_pre_barrier(id, &mut out).unwrap();
        let snapshot = operator.snapshot_state(id).unwrap();
        assert!(snapshot.changelog().is_some(), "an incremental snapshot");
        handles.push(
            writer
                .write_snapshot("agg", subtask, &snapshot)
                .await
                .unwrap(),
        );
    }
    assert!(lines(&mut out).is_empty(), "nothing held back");
    let deltas = handles
        .iter()
        .filter(|h| {
            h.changelog
                .as_ref()
                .is_some_and(|c| c.files.iter().any(|f| !f.full))
        })
        .count();
    let mut metadata = CheckpointMetadata::new(id, 0, MAX_PARALLELISM, serde_json::json!({}));
    metadata
        .add_operator("agg", operators.len(), handles)
        .unwrap();
    let completed = writer.complete(metadata).await.unwrap();
    for operator in operators.iter_mut() {
        operator.notify_checkpoint_complete(id).unwrap();
    }
    (completed, deltas)
}

/// Checkpoints a run at parallelism 2 after every step; restores from each checkpoint
/// at 1, 2 and 3 and checks the rest of the run. Returns how many subtask snapshots
/// were deltas.
async fn check_chain(make: &Maker, keys: &[usize], steps: &[Step]) -> usize {
    let now = Arc::new(AtomicI64::new(0));
    let mut reference: Vec<_> = (0..1).map(|s| make(s, 1, Arc::clone(&now))).collect();
    let mut expected: Vec<Vec<String>> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| step(&mut reference, keys, &now, i, s))
        .collect();
    expected.push(finish(&mut reference));

    let dir = tempfile::tempdir().unwrap();
    let storage = CheckpointStorage::open(dir.path().to_str().unwrap())
        .await
        .unwrap();
    let clock = Arc::new(AtomicI64::new(0));
    let mut run: Vec<_> = (0..2).map(|s| make(s, 2, Arc::clone(&clock))).collect();
    let mut deltas = 0;
    for (k, s) in steps.iter().enumerate() {
        assert_eq!(step(&mut run, keys, &clock, k, s), expected[k], "step {k}");
        let (completed, d) = checkpoint(&storage, &mut run, k as u64 + 1).await;
        deltas += d;
        for parallelism in [1, 2, 3] {
            let restored_clock = Arc::new(AtomicI64::new(0));
            let mut restored: Vec<_> = (0..parallelism)
                .map(|s| make(s, parallelism, Arc::clone(&restored_clock)))
                .collect();
            for (subtask, operator) in restored.iter_mut().enumerate() {
                let state = completed
                    .restore("agg", subtask, parallelism)
                    .await
                    .unwrap();
                if !state.is_empty() {
                    operator.restore_state(state).unwrap();
                }
            }
            for (i, s) in steps.iter().enumerate().skip(k + 1) {
                assert_eq!(
                    step(&mut restored, keys, &restored_clock, i, s),
                    expected[i],
                    "step {i} after checkpoint {} restored at {parallelism}",
                    k + 1
                );
            }
            assert_eq!(finish(&mut restored), expected[steps.len()]);
        }
    }
    deltas
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

#[test]
fn a_delta_chain_restores_exactly_with_retractions_emptied_keys_and_ttl_expiry() {
    let backend = StateBackend::IncrementalHashMap;
    let mut deltas = 0;
    for seed in 0..3 {
        let make = maker_on(
            definition(true, true, &retracting_functions(), None),
            backend.clone(),
        );
        deltas += block_on(check_chain(&make, &[0], &random_changelog(seed, 8, true)));
    }
    // Without checkpoints, nothing is tracked.
    let mut ctx = SubtaskContext::single("agg");
    ctx.state_backend = backend.clone();
    let def = Arc::new(definition(true, true, &retracting_functions(), None));
    let plain = GroupAggregateOperator::new(def, &ctx, super::system_clock()).unwrap();
    assert!(plain.changelog.is_none() && !plain.state.track_changes);
    // Steps are 100 ms apart: keys idle for 3 steps expire and are removed in a delta.
    for seed in 30..33 {
        let make = maker_on(
            definition(true, true, &retracting_functions(), Some(300)),
            backend.clone(),
        );
        deltas += block_on(check_chain(&make, &[0], &random_changelog(seed, 10, true)));
    }
    let make = maker_on(
        definition(true, false, &retracting_functions(), None),
        backend.clone(),
    );
    deltas += block_on(check_chain(&make, &[], &random_changelog(21, 7, true)));
    assert!(deltas > 50, "most checkpoints are deltas: {deltas}");
}

/// A checkpoint after 1 % of the keys changed stores about 1 % of the state.
#[test]
fn a_checkpoint_after_few_changes_stores_only_them() {
    let make = maker_on(
        definition(false, true, &[(count_udaf(), "v", false)], None),
        StateBackend::IncrementalHashMap,
    );
    let now = Arc::new(AtomicI64::new(0));
    let mut operators = vec![make(0, 1, now)];
    let schema = schema(false);
    let rows: Vec<Row> = (0..5000)
        .map(|i| {
            let key: &'static str = Box::leak(format!("key-{i}").into_boxed_str());
            (RowKind::Insert, key, Some(1), None)
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    block_on(async {
        let storage = CheckpointStorage::open(dir.path().to_str().unwrap())
            .await
            .unwrap();
        let mut out = Output::default();
        operators[0]
            .process_batch(0, batch(&schema, &rows), &mut out)
            .unwrap();
        let (first, deltas) = checkpoint(&storage, &mut operators, 1).await;
        assert_eq!(deltas, 0, "the first checkpoint is a base");
        operators[0]
            .process_batch(0, batch(&schema, &rows[..50]), &mut out)
            .unwrap();
        let (second, deltas) = checkpoint(&storage, &mut operators, 2).await;
        assert_eq!(deltas, 1);
        let base = first.metadata().total_size();
        let delta = second.metadata().total_size();
        assert!(
            delta * 30 < base,
            "{delta} bytes after 1 % changed, base {base}"
        );
        assert!(second.metadata().full_size() > base);
        // A savepoint is full, and leaves the chain alone.
        let savepoint = operators[0].snapshot_savepoint(3).unwrap();
        assert!(savepoint.changelog().is_none());
        assert_eq!(savepoint.num_rows(), 5000);
        let (_, deltas) = checkpoint(&storage, &mut operators, 4).await;
        assert_eq!(deltas, 1, "still a delta after the savepoint");
    });
}
