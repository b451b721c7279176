//! Join probe: a regular INNER join (`JoinOperator`) of bids with auctions on a BIGINT
//! key, the auction side already in state (100,000 auctions, one row each), probed by 32
//! batches of 8,192 bids whose auction ids are uniform over the auctions (every bid
//! matches once; the join also stores each bid, as a regular join must), against the
//! same probe done with the libraries alone: a `HashMap<i64, u32>` with the same hasher
//! over native keys, and arrow's `take` gathering the output columns. The difference is
//! the join machinery: row-format encoding of keys and rows, the per-key row lists, the
//! bids kept in state, row kinds.
//!
//! `cargo bench --workspace --bench join_probe`

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, UInt32Array};
use arrow::compute::take;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use weir_operators::{JoinKind, JoinSide, RegularJoin};
use weir_runtime::{Operator, Output, SubtaskContext};
use weir_types::Message;

const BATCH: usize = 8192;
const BATCHES: usize = 32;
const AUCTIONS: usize = 100_000;

fn bid_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("auction", DataType::Int64, false),
        Field::new("price", DataType::Int64, false),
    ]))
}

fn auction_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("seller", DataType::Int64, false),
        Field::new("item", DataType::Utf8, false),
    ]))
}

fn auctions(schema: &SchemaRef) -> RecordBatch {
    let ids: Vec<i64> = (0..AUCTIONS as i64).collect();
    let sellers: Vec<i64> = ids.iter().map(|i| i % 1000).collect();
    let items: Vec<String> = ids.iter().map(|i| format!("item-{i}")).collect();
    RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(Int64Array::from(sellers)),
            Arc::new(StringArray::from(items)),
        ],
    )
    .unwrap()
}

fn bids(schema: &SchemaRef) -> Vec<RecordBatch> {
    let mut state: u64 = 7;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    (0..BATCHES)
        .map(|_| {
            let auction: Vec<i64> = (0..BATCH)
                .map(|_| (next() % AUCTIONS as u64) as i64)
                .collect();
            let price: Vec<i64> = (0..BATCH).map(|_| (next() % 1_000_000) as i64).collect();
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from(auction)),
                    Arc::new(Int64Array::from(price)),
                ],
            )
            .unwrap()
        })
        .collect()
}

fn definition(bid: &SchemaRef, auction: &SchemaRef) -> RegularJoin {
    let side = |schema: &SchemaRef| JoinSide {
        schema: schema.clone(),
        updating: false,
        keys: vec![0],
        output_columns: schema.fields().len(),
        state_ttl_ms: None,
    };
    let fields: Vec<Field> = bid
        .fields()
        .iter()
        .chain(auction.fields().iter())
        .map(|f| f.as_ref().clone())
        .collect();
    RegularJoin {
        kind: JoinKind::Inner,
        left: side(bid),
        right: side(auction),
        filter: None,
        nulls_equal: false,
        output_schema: Arc::new(Schema::new(fields)),
        cold: None,
    }
}

/// A join subtask with every auction in its right state.
fn filled_operator(def: &RegularJoin, auctions: &RecordBatch) -> Box<dyn Operator> {
    let factory = def.clone().into_factory();
    let mut op = factory.create(&SubtaskContext::single("join")).unwrap();
    let mut out = Output::default();
    op.process_batch(1, auctions.clone(), &mut out).unwrap();
    assert_eq!(drain(&mut out), 0, "no bid yet, so no output");
    op
}

/// Probes every bid batch; returns the number of joined rows.
fn probe_operator(op: &mut Box<dyn Operator>, bids: &[RecordBatch]) -> usize {
    let mut out = Output::default();
    bids.iter()
        .map(|b| {
            op.process_batch(0, b.clone(), &mut out).unwrap();
            drain(&mut out)
        })
        .sum()
}

fn drain(out: &mut Output) -> usize {
    out.drain()
        .map(|m| match m {
            Message::Batch(b) => b.num_rows(),
            _ => 0,
        })
        .sum()
}

type Index = HashMap<i64, u32, foldhash::fast::FixedState>;

fn index(auctions: &RecordBatch) -> Index {
    let ids = auctions
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    ids.values()
        .iter()
        .enumerate()
        .map(|(row, &id)| (id, row as u32))
        .collect()
}

/// The libraries alone: probe a native hash map, gather both sides with `take`.
fn probe_alone(index: &Index, auctions: &RecordBatch, bids: &[RecordBatch]) -> usize {
    bids.iter()
        .map(|b| {
            let keys = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            let mut left = Vec::with_capacity(keys.len());
            let mut right = Vec::with_capacity(keys.len());
            for (row, key) in keys.values().iter().enumerate() {
                if let Some(&stored) = index.get(key) {
                    left.push(row as u32);
                    right.push(stored);
                }
            }
            let (left, right) = (UInt32Array::from(left), UInt32Array::from(right));
            let columns: Vec<ArrayRef> = b
                .columns()
                .iter()
                .map(|c| take(c, &left, None).unwrap())
                .chain(
                    auctions
                        .columns()
                        .iter()
                        .map(|c| take(c, &right, None).unwrap()),
                )
                .collect();
            columns[0].len()
        })
        .sum()
}

fn bench(c: &mut Criterion) {
    let (bid, auction) = (bid_schema(), auction_schema());
    let auctions = auctions(&auction);
    let bids = bids(&bid);
    let def = definition(&bid, &auction);
    let expected = BATCH * BATCHES;
    let index = index(&auctions);
    assert_eq!(probe_alone(&index, &auctions, &bids), expected);
    assert_eq!(
        probe_operator(&mut filled_operator(&def, &auctions), &bids),
        expected
    );

    let mut group = c.benchmark_group("join_probe");
    group.throughput(Throughput::Elements(expected as u64));
    group.sample_size(20);
    group.bench_function("JoinOperator INNER, 100k auctions in state", |b| {
        b.iter_batched(
            || filled_operator(&def, &auctions),
            |mut op| probe_operator(&mut op, &bids),
            BatchSize::LargeInput,
        )
    });
    group.bench_function("HashMap probe and arrow take alone", |b| {
        b.iter(|| probe_alone(&index, &auctions, &bids))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
