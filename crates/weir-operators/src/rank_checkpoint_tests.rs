//! Checkpoint tests of the unbounded Top-N: a snapshot after every input batch, restored
//! at the same and at other parallelisms, continues exactly as the uninterrupted run.

use std::sync::atomic::AtomicI64;

use arrow::array::{Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::group_agg::test_support::{check_checkpoints, Step, MAX_PARALLELISM};

fn data_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, true),
        Field::new("v", DataType::Int64, true),
        Field::new("id", DataType::Int64, false),
    ]))
}

struct Options {
    limit: usize,
    descending: bool,
    emit_rank: bool,
    updating_in: bool,
    updating_out: bool,
    ttl: Option<i64>,
    /// `ORDER BY` column: 1 (`v`, with ties) or 2 (`id`, increasing like processing time).
    order_column: usize,
}

fn def(o: &Options) -> Rank {
    let mut fields: Vec<Field> = data_schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("rn", DataType::Int64, false));
    if o.updating_out {
        fields.push(Field::new(ROW_KIND_COLUMN, DataType::Int8, false));
    }
    Rank {
        input_schema: data_schema(),
        input_updating: o.updating_in,
        partition_columns: vec![0],
        order: vec![(
            o.order_column,
            SortOptions {
                descending: o.descending,
                nulls_first: false,
            },
        )],
        limit: o.limit,
        latest_first_on_ties: o.descending,
        emit_rank: o.emit_rank,
        output_schema: Arc::new(Schema::new(fields)),
        state_ttl_ms: o.ttl,
    }
}

fn maker(def: Rank) -> impl Fn(usize, usize, Arc<AtomicI64>) -> Box<dyn Operator> {
    let def = Arc::new(def);
    move |_, _, now| {
        let clock: Clock = Arc::new(move || now.load(std::sync::atomic::Ordering::SeqCst));
        Box::new(
            RankOperator::with_clock(Arc::clone(&def), Arc::new(JobMetrics::default()), clock)
                .unwrap()
                .with_max_parallelism(MAX_PARALLELISM),
        )
    }
}

/// Random rows `(k, v, id)` over few values of `v` (many ties); over an updating input
/// also retractions of live rows.
fn random_input(seed: u64, batches: usize, updating: bool) -> Vec<Step> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let keys = ["a", "b", "c", "d"];
    let mut fields: Vec<Field> = data_schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    if updating {
        fields.push(Field::new(ROW_KIND_COLUMN, DataType::Int8, false));
    }
    let schema = Arc::new(Schema::new(fields));
    let mut live: Vec<(&str, Option<i64>, i64)> = Vec::new();
    let mut next_id = 0;
    let mut steps = Vec::new();
    for _ in 0..batches {
        let mut rows = Vec::new();
        for _ in 0..rng.random_range(1..6) {
            if updating && !live.is_empty() && rng.random_bool(0.3) {
                let row = live.swap_remove(rng.random_range(0..live.len()));
                rows.push((row, RowKind::Delete));
            } else {
                next_id += 1;
                let v = rng.random_bool(0.9).then(|| rng.random_range(0..4));
                let row = (keys[rng.random_range(0..keys.len())], v, next_id);
                live.push(row);
                rows.push((row, RowKind::Insert));
            }
        }
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.0 .0).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.0 .1).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.0 .2).collect::<Vec<_>>(),
            )),
        ];
        if updating {
            columns.push(Arc::new(Int8Array::from(
                rows.iter().map(|r| r.1 as i8).collect::<Vec<_>>(),
            )));
        }
        steps.push(Step::Batch(
            RecordBatch::try_new(schema.clone(), columns).unwrap(),
        ));
        if rng.random_bool(0.3) {
            steps.push(Step::Watermark(steps.len() as i64));
        }
    }
    steps
}

#[test]
fn top_n_continues_exactly_after_restore_at_any_parallelism() {
    for (i, (limit, descending, emit_rank, updating_in)) in [
        (2, false, true, false),
        (3, true, false, false),
        (2, false, true, true),
        (2, true, false, true),
        (1, true, false, false),
        (1, true, false, true),
    ]
    .into_iter()
    .enumerate()
    {
        let options = Options {
            limit,
            descending,
            emit_rank,
            updating_in,
            updating_out: true,
            ttl: None,
            order_column: 1,
        };
        let make = maker(def(&options));
        let out = check_checkpoints(&make, &[0], &random_input(i as u64, 9, updating_in));
        assert!(out.iter().flatten().any(|l| l.ends_with("|1")), "updates");
    }
}

#[test]
fn first_row_dedup_and_ttl_continue_exactly() {
    let first_row = Options {
        limit: 1,
        descending: false,
        emit_rank: false,
        updating_in: false,
        updating_out: false,
        ttl: None,
        order_column: 2,
    };
    check_checkpoints(&maker(def(&first_row)), &[0], &random_input(40, 8, false));
    // Steps are 100 ms apart: partitions idle for 3 steps expire, as uninterrupted.
    for (seed, updating_in) in [(41, false), (42, true)] {
        let options = Options {
            limit: 2,
            descending: true,
            emit_rank: true,
            updating_in,
            updating_out: true,
            ttl: Some(300),
            order_column: 1,
        };
        check_checkpoints(
            &maker(def(&options)),
            &[0],
            &random_input(seed, 12, updating_in),
        );
    }
}

#[test]
fn restoring_into_another_top_n_fails_clearly() {
    let options = Options {
        limit: 2,
        descending: false,
        emit_rank: true,
        updating_in: false,
        updating_out: true,
        ttl: None,
        order_column: 1,
    };
    let make = maker(def(&options));
    let mut op = make(0, 1, Arc::new(AtomicI64::new(0)));
    let mut out = Output::default();
    for step in random_input(3, 3, false) {
        if let Step::Batch(b) = step {
            op.process_batch(0, b, &mut out).unwrap();
        }
    }
    let snapshot = op.snapshot_state(1).unwrap();
    let mut other = def(&options);
    other.input_schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, true),
        Field::new("v", DataType::Int64, true),
    ]));
    let mut restored = maker(other)(0, 1, Arc::new(AtomicI64::new(0)));
    let err = restored.restore_state(snapshot).unwrap_err().to_string();
    assert!(err.contains("SQL changed"), "{err}");
}
