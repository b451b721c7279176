//! Checkpoint tests of the unbounded aggregation: a snapshot after every input batch,
//! restored at the same and at other parallelisms, continues exactly as the
//! uninterrupted run; refusals for accumulators that cannot be restored exactly.

use std::sync::atomic::AtomicI64;

use arrow::array::{Float64Array, Int64Array, Int8Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::functions_aggregate::average::avg_udaf;
use datafusion::functions_aggregate::count::count_udaf;
use datafusion::functions_aggregate::first_last::{first_value_udaf, last_value_udaf};
use datafusion::functions_aggregate::min_max::{max_udaf, min_udaf};
use datafusion::functions_aggregate::stddev::stddev_udaf;
use datafusion::functions_aggregate::string_agg::string_agg_udaf;
use datafusion::functions_aggregate::sum::sum_udaf;
use datafusion::logical_expr::AggregateUDF;
use datafusion::physical_expr::aggregate::AggregateExprBuilder;
use datafusion::physical_expr::expressions::{col, lit};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use weir_runtime::{StateBackend, StateSnapshot};

use super::test_support::{
    backends, check_checkpoints, lines, redistribute, Step, MAX_PARALLELISM,
};
use super::*;

/// Input: key `k`, integer `v`, float `f`, and the row kind when updating.
pub(super) fn schema(updating: bool) -> SchemaRef {
    let mut fields = vec![
        Field::new("k", DataType::Utf8, true),
        Field::new("v", DataType::Int64, true),
        Field::new("f", DataType::Float64, true),
    ];
    if updating {
        fields.push(Field::new(ROW_KIND_COLUMN, DataType::Int8, false));
    }
    Arc::new(Schema::new(fields))
}

pub(super) type Row = (RowKind, &'static str, Option<i64>, Option<f64>);

pub(super) fn batch(schema: &SchemaRef, rows: &[Row]) -> RecordBatch {
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        )),
        Arc::new(Float64Array::from(
            rows.iter().map(|r| r.3).collect::<Vec<_>>(),
        )),
    ];
    if schema.fields().len() == 4 {
        columns.push(Arc::new(Int8Array::from(
            rows.iter().map(|r| r.0 as i8).collect::<Vec<_>>(),
        )));
    }
    RecordBatch::try_new(schema.clone(), columns).unwrap()
}

/// `(function, argument column, DISTINCT)`.
pub(super) type Spec = (Arc<AggregateUDF>, &'static str, bool);

pub(super) fn definition(
    updating: bool,
    keyed: bool,
    specs: &[Spec],
    ttl: Option<i64>,
) -> GroupAggregate {
    let schema = schema(updating);
    let aggregates: Vec<FilteredAggregate> = specs
        .iter()
        .enumerate()
        .map(|(i, (udaf, column, distinct))| {
            let mut args = vec![col(column, &schema).unwrap()];
            if udaf.name() == "string_agg" {
                args.push(lit(","));
            }
            let expr = AggregateExprBuilder::new(udaf.clone(), args)
                .schema(schema.clone())
                .alias(format!("a{i}"))
                .with_distinct(*distinct)
                .build()
                .unwrap();
            (Arc::new(expr), None)
        })
        .collect();
    let mut fields = Vec::new();
    if keyed {
        fields.push(Field::new("k", DataType::Utf8, true));
    }
    for (a, _) in &aggregates {
        fields.push(a.field().as_ref().clone());
    }
    GroupAggregate {
        key_columns: if keyed { vec![0] } else { vec![] },
        aggregates,
        output_schema: GroupAggregate::output_schema_of(fields),
        input_updating: updating,
        state_ttl_ms: ttl,
        mini_batch: None,
        input_partial: false,
    }
}

fn maker(def: GroupAggregate) -> impl Fn(usize, usize, Arc<AtomicI64>) -> Box<dyn Operator> {
    maker_on(def, StateBackend::HashMap)
}

fn maker_on(
    def: GroupAggregate,
    backend: StateBackend,
) -> impl Fn(usize, usize, Arc<AtomicI64>) -> Box<dyn Operator> {
    maker_in(def, backend, false)
}

/// Subtasks of `def` on `backend`, in a job that takes checkpoints or not.
pub(super) fn maker_in(
    def: GroupAggregate,
    backend: StateBackend,
    checkpointing: bool,
) -> impl Fn(usize, usize, Arc<AtomicI64>) -> Box<dyn Operator> {
    let def = Arc::new(def);
    move |subtask, parallelism, now| {
        let mut ctx = SubtaskContext::single("agg");
        ctx.subtask = subtask;
        ctx.parallelism = parallelism;
        ctx.max_parallelism = MAX_PARALLELISM;
        ctx.state_backend = backend.clone();
        ctx.checkpointing = checkpointing;
        let clock: Clock = Arc::new(move || now.load(std::sync::atomic::Ordering::SeqCst));
        Box::new(GroupAggregateOperator::new(Arc::clone(&def), &ctx, clock).unwrap())
    }
}

/// A random changelog over keys a..e: inserts, and retractions of live rows.
pub(super) fn random_changelog(seed: u64, batches: usize, updating: bool) -> Vec<Step> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let keys = ["a", "b", "c", "d", "e"];
    let schema = schema(updating);
    let mut live: Vec<Row> = Vec::new();
    let mut steps = Vec::new();
    for _ in 0..batches {
        let mut rows = Vec::new();
        for _ in 0..rng.random_range(1..7) {
            if updating && !live.is_empty() && rng.random_bool(0.35) {
                let mut row = live.swap_remove(rng.random_range(0..live.len()));
                row.0 = if rng.random_bool(0.5) {
                    RowKind::Delete
                } else {
                    RowKind::UpdateBefore
                };
                rows.push(row);
            } else {
                let v = rng.random_bool(0.85).then(|| rng.random_range(-3..6));
                let f = rng
                    .random_bool(0.8)
                    .then(|| f64::from(rng.random_range(-30..30)) / 10.0);
                let kind = if updating && rng.random_bool(0.5) {
                    RowKind::UpdateAfter
                } else {
                    RowKind::Insert
                };
                let row = (kind, keys[rng.random_range(0..keys.len())], v, f);
                live.push(row);
                rows.push(row);
            }
        }
        steps.push(Step::Batch(batch(&schema, &rows)));
    }
    steps
}

pub(super) fn retracting_functions() -> Vec<Spec> {
    vec![
        (count_udaf(), "v", false),
        (sum_udaf(), "v", false),
        (sum_udaf(), "f", false),
        (avg_udaf(), "f", false),
        (max_udaf(), "v", false),
        (min_udaf(), "f", false),
        (count_udaf(), "v", true),
        (sum_udaf(), "v", true),
    ]
}

#[test]
fn updating_input_continues_exactly_after_restore_at_any_parallelism() {
    for backend in backends() {
        let mut deletes = 0;
        for seed in 0..4 {
            let def = definition(true, true, &retracting_functions(), None);
            def.check_checkpointable().unwrap();
            let make = maker_on(def, backend.clone());
            let steps = random_changelog(seed, 8, true);
            let out = check_checkpoints(&make, &[0], &steps);
            deletes += out.iter().flatten().filter(|l| l.ends_with("|3")).count();
        }
        assert!(deletes > 0, "some key is deleted");
    }
}

#[test]
fn append_only_input_continues_exactly_after_restore() {
    let specs = vec![
        (count_udaf(), "v", false),
        (sum_udaf(), "f", false),
        (avg_udaf(), "f", false),
        (min_udaf(), "k", false),
        (max_udaf(), "f", false),
        (first_value_udaf(), "v", false),
        (last_value_udaf(), "f", false),
        (count_udaf(), "k", true),
        (count_udaf(), "v", true),
        (sum_udaf(), "v", true),
        (sum_udaf(), "f", true),
    ];
    for backend in backends() {
        for seed in 10..13 {
            let make = maker_on(definition(false, true, &specs, None), backend.clone());
            check_checkpoints(&make, &[0], &random_changelog(seed, 7, false));
        }
    }
}

#[test]
fn global_aggregate_and_state_ttl_continue_exactly() {
    for backend in backends() {
        let make = maker_on(
            definition(true, false, &retracting_functions(), None),
            backend.clone(),
        );
        check_checkpoints(&make, &[], &random_changelog(21, 7, true));
        // Steps are 100 ms apart: keys idle for 3 steps expire, exactly as uninterrupted.
        let make = maker_on(
            definition(true, true, &retracting_functions(), Some(300)),
            backend.clone(),
        );
        for seed in 30..33 {
            check_checkpoints(&make, &[0], &random_changelog(seed, 10, true));
        }
    }
}

#[test]
fn a_float_sum_keeps_its_rounding_residue_across_a_restore() {
    use RowKind::{Delete as D, Insert as I};
    let schema = schema(true);
    let steps = vec![
        Step::Batch(batch(
            &schema,
            &[
                (I, "a", None, Some(0.1)),
                (I, "a", None, Some(0.2)),
                (I, "a", None, None),
            ],
        )),
        Step::Batch(batch(&schema, &[(D, "a", None, Some(0.1))])),
        Step::Batch(batch(&schema, &[(D, "a", None, Some(0.2))])),
        Step::Batch(batch(&schema, &[(I, "a", None, Some(0.0))])),
    ];
    let make = maker(definition(true, true, &[(sum_udaf(), "f", false)], None));
    let out = check_checkpoints(&make, &[0], &steps);
    let residue = 0.1f64 + 0.2 - 0.1 - 0.2;
    assert_ne!(residue, 0.0, "the test needs a residue");
    assert_eq!(
        out[3],
        vec![format!("a|{residue}|2"), "a|NULL|1".to_string()]
    );
}

/// A savepoint is the `groups` table whatever the backend: one taken on RocksDB
/// restores on the in-memory backend and the other way round, at another
/// parallelism, and the job continues exactly.
#[test]
fn savepoints_move_state_between_backends() {
    let steps = random_changelog(41, 8, true);
    let def = || definition(true, true, &retracting_functions(), None);
    let run = |operators: &mut Vec<Box<dyn Operator>>, range: std::ops::Range<usize>| {
        let mut emitted = Vec::new();
        for (i, step) in steps[range].iter().enumerate() {
            let Step::Batch(b) = step else { continue };
            let parts = super::test_support::route(b, &[0], operators.len());
            let mut out = Output::default();
            for (op, part) in operators.iter_mut().zip(parts) {
                if part.num_rows() > 0 {
                    op.process_batch(0, part, &mut out).unwrap();
                }
            }
            emitted.push((i, lines(&mut out)));
        }
        emitted
    };
    let uninterrupted = {
        let make = maker(def());
        let mut ops = vec![make(0, 1, Arc::new(AtomicI64::new(0)))];
        run(&mut ops, 0..steps.len())
    };
    let [hashmap, rocksdb] = <[StateBackend; 2]>::try_from(backends()).unwrap();
    for (from, to) in [(rocksdb.clone(), hashmap.clone()), (hashmap, rocksdb)] {
        let from_make = maker_on(def(), from.clone());
        let to_make = maker_on(def(), to.clone());
        let now = Arc::new(AtomicI64::new(0));
        let mut old: Vec<Box<dyn Operator>> =
            (0..2).map(|s| from_make(s, 2, Arc::clone(&now))).collect();
        let before = run(&mut old, 0..4);
        assert_eq!(
            before,
            uninterrupted[..4].to_vec(),
            "{from:?} before the savepoint"
        );
        let savepoints: Vec<StateSnapshot> = old
            .iter_mut()
            .map(|op| op.snapshot_savepoint(1).unwrap())
            .collect();
        assert!(
            savepoints.iter().all(|s| s.native().is_empty()),
            "tables only"
        );
        let mut new: Vec<Box<dyn Operator>> =
            (0..3).map(|s| to_make(s, 3, Arc::clone(&now))).collect();
        for (subtask, op) in new.iter_mut().enumerate() {
            let state = redistribute(&savepoints, subtask, 3);
            if !state.is_empty() {
                op.restore_state(state).unwrap();
            }
        }
        let after: Vec<_> = run(&mut new, 4..steps.len())
            .into_iter()
            .map(|(i, l)| (i + 4, l))
            .collect();
        assert_eq!(after, uninterrupted[4..].to_vec(), "{from:?} -> {to:?}");
    }
}

/// With incremental RocksDB checkpoints, a checkpoint after a completed one references
/// the files that one stored and has only the changes to upload.
#[test]
fn incremental_rocksdb_checkpoints_reuse_the_files_of_completed_ones() {
    let backend = backends().pop().unwrap();
    let make = maker_on(
        definition(false, true, &[(count_udaf(), "v", false)], None),
        backend,
    );
    let now = Arc::new(AtomicI64::new(0));
    let mut operator = make(0, 1, now);
    let schema = schema(false);
    let rows: Vec<Row> = (0..3000)
        .map(|i| {
            let key: &'static str = Box::leak(format!("key-{i}").into_boxed_str());
            (RowKind::Insert, key, Some(1), None)
        })
        .collect();
    let mut out = Output::default();
    operator
        .process_batch(0, batch(&schema, &rows), &mut out)
        .unwrap();
    let shared_to_upload = |snapshot: &StateSnapshot| -> (usize, usize) {
        let native = &snapshot.native()[0];
        let shared = native.files.iter().filter(|f| f.shared);
        let total: usize = shared.clone().map(|f| f.size as usize).sum();
        let new: usize = shared
            .filter(|f| f.stored.is_none())
            .map(|f| f.size as usize)
            .sum();
        (new, total)
    };
    let first = operator.snapshot_state(1).unwrap();
    let (new, total) = shared_to_upload(&first);
    assert!(
        new > 0 && new == total,
        "a first checkpoint uploads everything"
    );
    // Checkpoint 1 is only confirmed by the writer's report and the completion.
    let uploaded = first.native()[0].uploaded.clone().unwrap();
    for file in first.native()[0].files.iter().filter(|f| f.shared) {
        uploaded.lock().unwrap().insert(
            file.name.clone(),
            weir_state::native::SharedFile {
                path: format!("shared/agg/{}", file.name),
                size: file.size,
                checksum: "crc32c:00000000".into(),
                location: "checkpoints".into(),
            },
        );
    }
    operator.notify_checkpoint_complete(1).unwrap();
    operator
        .process_batch(0, batch(&schema, &rows[..30]), &mut out)
        .unwrap();
    let second = operator.snapshot_state(2).unwrap();
    let (new, total) = shared_to_upload(&second);
    assert!(new > 0, "the changes are uploaded");
    assert!(new * 5 < total, "only the changes: {new} of {total} bytes");
}

#[test]
fn mini_batch_changes_are_emitted_ahead_of_the_barrier() {
    let mut def = definition(false, true, &[(count_udaf(), "v", false)], None);
    def.mini_batch = Some(MiniBatch {
        allow_latency_ms: 1_000_000,
        size: 1_000,
    });
    let make = maker(def);
    let now = Arc::new(AtomicI64::new(0));
    let mut operator = make(0, 1, Arc::clone(&now));
    let schema = schema(false);
    let mut out = Output::default();
    let rows = [(RowKind::Insert, "a", Some(1), None)];
    operator
        .process_batch(0, batch(&schema, &rows), &mut out)
        .unwrap();
    assert!(lines(&mut out).is_empty(), "held back");
    operator.prepare_snapshot_pre_barrier(1, &mut out).unwrap();
    assert_eq!(lines(&mut out), vec!["a|1|0"]);
    let snapshot = operator.snapshot_state(1).unwrap();
    let mut restored = make(0, 1, now);
    restored
        .restore_state(redistribute(&[snapshot], 0, 1))
        .unwrap();
    restored
        .process_batch(0, batch(&schema, &rows), &mut out)
        .unwrap();
    restored.finish(&mut out).unwrap();
    assert_eq!(lines(&mut out), vec!["a|1|1", "a|2|2"]);
}

#[test]
fn inexact_accumulators_refuse_checkpoints_by_name() {
    for (spec, updating) in [
        ((stddev_udaf(), "f", false), true),
        ((stddev_udaf(), "f", false), false),
        ((string_agg_udaf(), "k", false), false),
    ] {
        let def = definition(updating, true, std::slice::from_ref(&spec), None);
        assert!(def.check_checkpointable().is_err());
        let make = maker(def);
        let mut operator = make(0, 1, Arc::new(AtomicI64::new(0)));
        let err = operator.snapshot_state(1).unwrap_err().to_string();
        assert!(
            err.contains("checkpoints are not supported for aggregate function a0"),
            "{err}"
        );
    }
}

#[test]
fn restoring_into_another_aggregation_fails_clearly() {
    let steps = random_changelog(5, 3, true);
    let make = maker(definition(true, true, &retracting_functions(), None));
    let now = Arc::new(AtomicI64::new(0));
    let mut operator = make(0, 1, Arc::clone(&now));
    let mut out = Output::default();
    for step in &steps {
        if let Step::Batch(b) = step {
            operator.process_batch(0, b.clone(), &mut out).unwrap();
        }
    }
    let snapshot = operator.snapshot_state(1).unwrap();
    let other = maker(definition(
        true,
        true,
        &[(count_udaf(), "v", false), (max_udaf(), "v", false)],
        None,
    ));
    let mut restored = other(0, 1, now);
    let err = restored.restore_state(snapshot).unwrap_err().to_string();
    assert!(err.contains("SQL changed"), "{err}");
}

/// A local aggregation chained into its global phase, as one operator.
struct TwoPhase {
    local: Box<dyn Operator>,
    global: Box<dyn Operator>,
}

impl TwoPhase {
    fn forward(&mut self, local_out: &mut Output, out: &mut Output) -> EngineResult<()> {
        for message in local_out.drain().collect::<Vec<_>>() {
            match message {
                weir_types::Message::Batch(b) => self.global.process_batch(0, b, out)?,
                weir_types::Message::Watermark(w) => self.global.process_watermark(w, out)?,
                other => out.message(other),
            }
        }
        Ok(())
    }
}

impl Operator for TwoPhase {
    fn process_batch(
        &mut self,
        input: usize,
        batch: RecordBatch,
        out: &mut Output,
    ) -> EngineResult<()> {
        let mut local_out = Output::default();
        self.local.process_batch(input, batch, &mut local_out)?;
        self.forward(&mut local_out, out)
    }

    fn process_watermark(&mut self, watermark: Watermark, out: &mut Output) -> EngineResult<()> {
        let mut local_out = Output::default();
        self.local.process_watermark(watermark, &mut local_out)?;
        self.forward(&mut local_out, out)
    }

    fn finish(&mut self, out: &mut Output) -> EngineResult<()> {
        let mut local_out = Output::default();
        self.local.finish(&mut local_out)?;
        self.forward(&mut local_out, out)?;
        self.global.finish(out)
    }

    fn prepare_snapshot_pre_barrier(&mut self, id: u64, out: &mut Output) -> EngineResult<()> {
        let mut local_out = Output::default();
        self.local
            .prepare_snapshot_pre_barrier(id, &mut local_out)?;
        self.forward(&mut local_out, out)?;
        self.global.prepare_snapshot_pre_barrier(id, out)
    }

    fn snapshot_state(&mut self, id: u64) -> EngineResult<StateSnapshot> {
        assert!(
            self.local.snapshot_state(id)?.is_empty(),
            "the local phase keeps no state"
        );
        self.global.snapshot_state(id)
    }

    fn restore_state(&mut self, snapshot: StateSnapshot) -> EngineResult<()> {
        self.global.restore_state(snapshot)
    }
}

fn two_phase(
    specs: &[Spec],
    mini_batch: Option<MiniBatch>,
) -> impl Fn(usize, usize, Arc<AtomicI64>) -> Box<dyn Operator> {
    let global = definition(false, true, specs, None);
    let key_field = global.output_schema.field(0).clone();
    let local = local::LocalAggregate {
        key_columns: vec![0],
        aggregates: global.aggregates.clone(),
        mini_batch,
        output_schema: local::LocalAggregate::output_schema_of(vec![key_field], &global.aggregates)
            .unwrap(),
    };
    let global = GroupAggregate {
        input_partial: true,
        ..global
    };
    let local = Arc::new(local);
    let make_global = maker(global);
    move |subtask, parallelism, now: Arc<AtomicI64>| {
        let clock_now = Arc::clone(&now);
        let clock: Clock = Arc::new(move || clock_now.load(std::sync::atomic::Ordering::SeqCst));
        Box::new(TwoPhase {
            local: Box::new(local::LocalAggregateOperator::new(Arc::clone(&local), clock).unwrap()),
            global: make_global(subtask, parallelism, now),
        })
    }
}

#[test]
fn two_phase_aggregation_continues_exactly_and_its_local_phase_keeps_nothing() {
    let specs = vec![
        (count_udaf(), "v", false),
        (sum_udaf(), "f", false),
        (max_udaf(), "v", false),
        (count_udaf(), "v", true),
    ];
    for seed in 50..53 {
        check_checkpoints(
            &two_phase(&specs, None),
            &[0],
            &random_changelog(seed, 7, false),
        );
    }
    // With mini-batch, the local phase's held rows go ahead of the barrier.
    let mini = MiniBatch {
        allow_latency_ms: 1_000_000,
        size: 1_000,
    };
    let make = two_phase(&specs, Some(mini));
    let mut op = make(0, 1, Arc::new(AtomicI64::new(0)));
    let schema = schema(false);
    let mut out = Output::default();
    let rows = [
        (RowKind::Insert, "a", Some(1), None),
        (RowKind::Insert, "a", Some(2), None),
    ];
    op.process_batch(0, batch(&schema, &rows), &mut out)
        .unwrap();
    assert!(lines(&mut out).is_empty(), "held by the local phase");
    op.prepare_snapshot_pre_barrier(1, &mut out).unwrap();
    assert_eq!(lines(&mut out), vec!["a|2|NULL|2|2|0"]);
    assert!(!op.snapshot_state(1).unwrap().is_empty());
}
