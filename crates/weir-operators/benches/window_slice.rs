//! Window aggregation per slice: `WindowAggregateOperator` (TUMBLE 10 s and HOP 10 s /
//! 2 s, 1,000 BIGINT keys, COUNT, SUM and MAX of a BIGINT) over batches of 8,192 rows one
//! millisecond apart, with a watermark after each batch, against DataFusion's
//! `GroupsAccumulator`s alone updated with precomputed group indices (no hashing of keys,
//! no slices, no windows emitted): the cost of the window machinery above the
//! accumulators it uses.
//!
//! `cargo bench --workspace --bench window_slice`

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use datafusion::functions_aggregate::count::count_udaf;
use datafusion::functions_aggregate::min_max::max_udaf;
use datafusion::functions_aggregate::sum::sum_udaf;
use datafusion::logical_expr::{AggregateUDF, EmitTo};
use datafusion::physical_expr::aggregate::AggregateExprBuilder;
use datafusion::physical_expr::expressions::col;
use weir_operators::window::{FilteredAggregate, WindowAggregateOperator};
use weir_operators::{WindowAggregate, WindowSpec};
use weir_runtime::{Operator, Output, SubtaskContext};
use weir_types::{Message, Watermark};

const BATCH: usize = 8192;
const BATCHES: usize = 32;
const KEYS: usize = 1000;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Int64, false),
    ]))
}

fn batches(schema: &SchemaRef) -> Vec<RecordBatch> {
    let mut state: u64 = 3;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    (0..BATCHES)
        .map(|b| {
            let ts: Vec<i64> = (0..BATCH).map(|i| (b * BATCH + i) as i64).collect();
            let k: Vec<i64> = (0..BATCH).map(|_| (next() % KEYS as u64) as i64).collect();
            let v: Vec<i64> = (0..BATCH).map(|_| (next() % 1_000_000) as i64).collect();
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(TimestampMillisecondArray::from(ts)),
                    Arc::new(Int64Array::from(k)),
                    Arc::new(Int64Array::from(v)),
                ],
            )
            .unwrap()
        })
        .collect()
}

fn aggregate(schema: &SchemaRef, udaf: Arc<AggregateUDF>, alias: &str) -> FilteredAggregate {
    let expr = AggregateExprBuilder::new(udaf, vec![col("v", schema).unwrap()])
        .schema(schema.clone())
        .alias(alias)
        .build()
        .unwrap();
    (Arc::new(expr), None)
}

fn aggregates(schema: &SchemaRef) -> Vec<FilteredAggregate> {
    vec![
        aggregate(schema, count_udaf(), "cnt"),
        aggregate(schema, sum_udaf(), "total"),
        aggregate(schema, max_udaf(), "hi"),
    ]
}

fn definition(spec: WindowSpec, schema: &SchemaRef) -> WindowAggregate {
    let aggregates = aggregates(schema);
    let bound = DataType::Timestamp(TimeUnit::Millisecond, None);
    let mut fields = vec![
        Field::new("window_start", bound.clone(), false),
        Field::new("window_end", bound, false),
        schema.field(1).clone(),
    ];
    fields.extend(aggregates.iter().map(|(a, _)| a.field().as_ref().clone()));
    WindowAggregate {
        window: spec,
        time_column: 0,
        key_columns: vec![1],
        aggregates,
        output_schema: Arc::new(Schema::new(fields)),
        emit: weir_operators::window::EmitStrategy::default(),
        late_row: None,
        shift: None,
    }
}

/// Runs the operator over every batch, a watermark 1 s behind after each; returns the
/// number of window rows emitted.
fn run_operator(def: &Arc<WindowAggregate>, batches: &[RecordBatch]) -> usize {
    let mut op = WindowAggregateOperator::new(def.clone(), &SubtaskContext::single("w")).unwrap();
    let mut out = Output::default();
    let mut emitted = 0;
    for (i, b) in batches.iter().enumerate() {
        op.process_batch(0, b.clone(), &mut out).unwrap();
        op.process_watermark(Watermark(((i + 1) * BATCH) as i64 - 1000), &mut out)
            .unwrap();
        emitted += drain(&mut out);
    }
    op.process_watermark(Watermark::MAX, &mut out).unwrap();
    emitted + drain(&mut out)
}

fn drain(out: &mut Output) -> usize {
    out.drain()
        .map(|m| match m {
            Message::Batch(b) => b.num_rows(),
            _ => 0,
        })
        .sum()
}

/// The accumulators alone: the keys are already group indices.
fn run_accumulators(schema: &SchemaRef, batches: &[RecordBatch]) -> usize {
    let mut accs: Vec<_> = aggregates(schema)
        .iter()
        .map(|(a, _)| a.create_groups_accumulator().unwrap())
        .collect();
    for b in batches {
        let keys = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
        let groups: Vec<usize> = keys.values().iter().map(|&k| k as usize).collect();
        let values: Vec<ArrayRef> = vec![b.column(2).clone()];
        for acc in &mut accs {
            acc.update_batch(&values, &groups, None, KEYS).unwrap();
        }
    }
    accs.iter_mut()
        .map(|acc| acc.evaluate(EmitTo::All).unwrap().len())
        .sum()
}

fn bench(c: &mut Criterion) {
    let schema = schema();
    let batches = batches(&schema);
    let mut group = c.benchmark_group("window_slice");
    group.throughput(Throughput::Elements((BATCH * BATCHES) as u64));
    group.sample_size(20);
    let specs = [
        (
            "TUMBLE 10 s",
            WindowSpec::Tumble {
                size_ms: 10_000,
                offset_ms: 0,
            },
        ),
        (
            "HOP 10 s every 2 s",
            WindowSpec::Hop {
                size_ms: 10_000,
                slide_ms: 2_000,
                offset_ms: 0,
            },
        ),
    ];
    for (name, spec) in specs {
        let def = Arc::new(definition(spec, &schema));
        assert!(run_operator(&def, &batches) > 0);
        group.bench_function(BenchmarkId::new("WindowAggregateOperator", name), |b| {
            b.iter(|| run_operator(&def, &batches))
        });
    }
    group.bench_function("DataFusion GroupsAccumulator alone", |b| {
        b.iter(|| run_accumulators(&schema, &batches))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
