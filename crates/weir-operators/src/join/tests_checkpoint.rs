//! Checkpoint tests of the regular join: a snapshot after every step, restored at the
//! same and at other parallelisms, continues exactly as the uninterrupted run, for every
//! join kind, append-only and updating inputs, extra conditions and state TTL, on both
//! state backends (RocksDB with a cache of two keys, so most keys are read back from
//! the store); savepoints move state between the backends.

use std::sync::atomic::AtomicI64;

use datafusion::logical_expr::Operator as BinaryOp;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use weir_types::RowKind;

use super::test_support::{check_checkpoints, Step};
use super::tests::{batch, def};
use super::*;
use crate::group_agg::test_support::{backends, MAX_PARALLELISM};
use weir_runtime::StateBackend;

fn maker(def: Arc<RegularJoin>) -> impl Fn(usize, usize, Arc<AtomicI64>) -> Box<dyn Operator> {
    maker_on(def, StateBackend::HashMap)
}

fn maker_on(
    def: Arc<RegularJoin>,
    backend: StateBackend,
) -> impl Fn(usize, usize, Arc<AtomicI64>) -> Box<dyn Operator> {
    move |subtask, parallelism, now| {
        let mut ctx = SubtaskContext::single("join");
        ctx.subtask = subtask;
        ctx.parallelism = parallelism;
        ctx.max_parallelism = MAX_PARALLELISM;
        ctx.state_backend = backend.clone();
        let clock: Clock = Arc::new(move || now.load(std::sync::atomic::Ordering::SeqCst));
        Box::new(
            JoinOperator::with_clock(Arc::clone(&def), Arc::new(JobMetrics::default()), clock)
                .unwrap()
                .with_max_parallelism(MAX_PARALLELISM)
                .with_state_backend(&ctx)
                .unwrap(),
        )
    }
}

const VALUES: [&str; 5] = ["a", "b", "m", "y", "z"];

/// Random steps over keys 0..3 and NULL: inserts, and on updating inputs retractions
/// (`-D`, or `-U` followed by `+U`) of live rows; watermarks now and then.
fn random_steps(seed: u64, count: usize, def: &RegularJoin) -> Vec<Step> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut live: [Vec<(Option<i64>, &str)>; 2] = [Vec::new(), Vec::new()];
    let mut steps = Vec::new();
    for _ in 0..count {
        let input = rng.random_range(0..2);
        let updating = def.side(input).updating;
        let mut rows: Vec<(RowKind, Option<i64>, &str)> = Vec::new();
        for _ in 0..rng.random_range(1..5) {
            let side = &mut live[input];
            if updating && !side.is_empty() && rng.random_bool(0.35) {
                let (k, v) = side.swap_remove(rng.random_range(0..side.len()));
                if rng.random_bool(0.5) {
                    rows.push((RowKind::Delete, k, v));
                } else {
                    let new = VALUES[rng.random_range(0..VALUES.len())];
                    rows.push((RowKind::UpdateBefore, k, v));
                    rows.push((RowKind::UpdateAfter, k, new));
                    side.push((k, new));
                }
            } else {
                let k = rng.random_bool(0.9).then(|| rng.random_range(0..3));
                let v = VALUES[rng.random_range(0..VALUES.len())];
                rows.push((RowKind::Insert, k, v));
                side.push((k, v));
            }
        }
        steps.push(Step::Batch(input, batch(def, input, &rows)));
        if rng.random_bool(0.2) {
            steps.push(Step::Watermark(steps.len() as i64));
        }
    }
    steps
}

#[test]
fn every_join_kind_continues_exactly_after_restore_at_any_parallelism() {
    let kinds = [
        JoinKind::Inner,
        JoinKind::Left,
        JoinKind::Right,
        JoinKind::Full,
    ];
    for backend in backends() {
        let mut seed = 0;
        for kind in kinds {
            for (updating, filter) in [
                ([false, false], None),
                ([true, false], Some(BinaryOp::Lt)),
                ([true, true], None),
                ([false, true], Some(BinaryOp::NotEq)),
            ] {
                seed += 1;
                let join = Arc::new(def(kind, updating, filter, [None, None]));
                let steps = random_steps(seed, 12, &join);
                let make = maker_on(Arc::clone(&join), backend.clone());
                let out = check_checkpoints(&make, &[vec![0], vec![0]], &steps);
                assert!(
                    out.iter().flatten().count() > 3,
                    "{kind:?} {updating:?}: the scenario joins rows: {out:?}"
                );
            }
        }
    }
}

#[test]
fn state_ttl_continues_exactly_after_restore() {
    // Steps are 100 ms apart: rows idle for 3 (left) or 5 (right) steps expire.
    for (seed, kind) in [
        (40, JoinKind::Full),
        (41, JoinKind::Inner),
        (42, JoinKind::Left),
    ] {
        let join = Arc::new(def(kind, [true, true], None, [Some(300), Some(500)]));
        let steps = random_steps(seed, 14, &join);
        for backend in backends() {
            let make = maker_on(Arc::clone(&join), backend);
            check_checkpoints(&make, &[vec![0], vec![0]], &steps);
        }
    }
}

/// A savepoint is the `left_rows` / `right_rows` tables whatever the backend: one taken
/// on RocksDB (where most keys sit in the store, not in memory) restores on the
/// in-memory backend and the other way round, at another parallelism, and the join
/// continues exactly.
#[test]
fn savepoints_move_join_state_between_backends() {
    let join = Arc::new(def(JoinKind::Full, [true, false], None, [None, None]));
    let steps = random_steps(77, 16, &join);
    let keys = [vec![0], vec![0]];
    let reference = check_checkpoints(&maker(Arc::clone(&join)), &keys, &steps);
    let [hashmap, rocksdb] = <[StateBackend; 2]>::try_from(backends()).unwrap();
    for (from, to) in [(rocksdb.clone(), hashmap.clone()), (hashmap, rocksdb)] {
        let (old, new) = (
            maker_on(Arc::clone(&join), from),
            maker_on(Arc::clone(&join), to),
        );
        let split = steps.len() / 2;
        let mut first = old(0, 1, Arc::new(AtomicI64::new(0)));
        let mut out = Output::default();
        for (i, step) in steps[..split].iter().enumerate() {
            run_step(first.as_mut(), i, step, &mut out);
        }
        let savepoint = first.snapshot_savepoint(1).unwrap();
        assert!(
            savepoint.native().is_empty(),
            "a savepoint holds tables only"
        );
        let mut lines_after = Vec::new();
        for subtask in 0..2 {
            let state = crate::group_agg::test_support::redistribute(
                std::slice::from_ref(&savepoint),
                subtask,
                2,
            );
            let mut restored = new(subtask, 2, Arc::new(AtomicI64::new(0)));
            restored.restore_state(state).unwrap();
            let mut out = Output::default();
            for (i, step) in steps.iter().enumerate().skip(split) {
                if let Some(part) = routed(step, subtask) {
                    run_step(restored.as_mut(), i, &part, &mut out);
                }
            }
            lines_after.extend(crate::group_agg::test_support::lines(&mut out));
        }
        let mut expected: Vec<String> = reference[split..steps.len()].concat();
        expected.sort();
        lines_after.sort();
        assert_eq!(lines_after, expected);
    }
}

/// `step` as subtask `subtask` of 2 receives it (`None`: nothing for it).
fn routed(step: &Step, subtask: usize) -> Option<Step> {
    match step {
        Step::Batch(input, batch) => {
            let part = crate::group_agg::test_support::route(batch, &[0], 2).swap_remove(subtask);
            (part.num_rows() > 0).then_some(Step::Batch(*input, part))
        }
        Step::Watermark(w) => Some(Step::Watermark(*w)),
    }
}

fn run_step(op: &mut dyn Operator, _index: usize, step: &Step, out: &mut Output) {
    match step {
        Step::Batch(input, batch) => op.process_batch(*input, batch.clone(), out).unwrap(),
        Step::Watermark(w) => op
            .process_watermark(weir_types::Watermark(*w), out)
            .unwrap(),
    }
}

#[test]
fn snapshots_hold_both_sides_by_key_group() {
    let join = Arc::new(def(JoinKind::Left, [false, false], None, [None, None]));
    let mut op = maker(Arc::clone(&join))(0, 1, Arc::new(AtomicI64::new(0)));
    let mut out = Output::default();
    let rows = [
        (RowKind::Insert, Some(1), "x"),
        (RowKind::Insert, None, "n"),
    ];
    op.process_batch(0, batch(&join, 0, &rows), &mut out)
        .unwrap();
    op.process_batch(1, batch(&join, 1, &rows[..1]), &mut out)
        .unwrap();
    let snapshot = op.snapshot_state(1).unwrap();
    let names: Vec<&str> = snapshot.tables().iter().map(|t| t.name()).collect();
    assert_eq!(names, ["left_rows", "right_rows"]);
    // The NULL-key row cannot match: it is not stored.
    assert_eq!(snapshot.tables()[0].batches()[0].num_rows(), 1);
    assert_eq!(
        snapshot.tables()[0].schema().field(0).name(),
        weir_runtime::KEY_GROUP_COLUMN
    );
}

#[test]
fn restoring_into_another_join_fails_clearly() {
    let join = Arc::new(def(JoinKind::Inner, [false, false], None, [None, None]));
    let mut op = maker(Arc::clone(&join))(0, 1, Arc::new(AtomicI64::new(0)));
    let mut out = Output::default();
    let rows = [(RowKind::Insert, Some(1), "x")];
    op.process_batch(0, batch(&join, 0, &rows), &mut out)
        .unwrap();
    let snapshot = op.snapshot_state(1).unwrap();
    let mut other = def(JoinKind::Inner, [false, false], None, [None, None]);
    other.left.schema = Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("k", arrow::datatypes::DataType::Int64, true),
    ]));
    other.left.output_columns = 1;
    let mut restored = maker(Arc::new(other))(0, 1, Arc::new(AtomicI64::new(0)));
    let err = restored.restore_state(snapshot).unwrap_err().to_string();
    assert!(err.contains("SQL changed"), "{err}");
}
