//! The hash exchange: `Partitioner::partition` splitting a batch over two subtasks by the
//! key groups of its key column (hash, key group, target, then one `take` per target)
//! against arrow's `take_record_batch` alone with scattered row indices precomputed (two
//! targets, about half the rows each): the share of the exchange that is not copying rows.
//!
//! Batches of 8,192 Nexmark-like bids (BIGINT key, two BIGINTs, a STRING of ~80 bytes),
//! keyed by the BIGINT column and by the STRING column.
//!
//! `cargo bench --workspace --bench hash_exchange`

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::{DataType, Field, Schema};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use weir_runtime::partition::Partitioner;
use weir_runtime::EdgeKind;

const ROWS: usize = 8192;
const TARGETS: usize = 2;
const MAX_PARALLELISM: usize = 128;

fn batch() -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("auction", DataType::Int64, false),
        Field::new("bidder", DataType::Int64, false),
        Field::new("price", DataType::Int64, false),
        Field::new("extra", DataType::Utf8, false),
    ]));
    let mut state: u64 = 7;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    let auction: Vec<i64> = (0..ROWS).map(|_| 1000 + (next() % 10_000) as i64).collect();
    let bidder: Vec<i64> = (0..ROWS).map(|_| 1000 + (next() % 50_000) as i64).collect();
    let price: Vec<i64> = (0..ROWS).map(|_| (next() % 100_000_000) as i64).collect();
    let extra: Vec<String> = (0..ROWS)
        .map(|_| format!("channel-{:05}-{}", next() % 10_000, "x".repeat(64)))
        .collect();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(auction)),
            Arc::new(Int64Array::from(bidder)),
            Arc::new(Int64Array::from(price)),
            Arc::new(StringArray::from(extra)),
        ],
    )
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let batch = batch();
    let mut group = c.benchmark_group("hash_exchange");
    group.throughput(Throughput::Elements(ROWS as u64));
    for (name, key) in [("bigint key", 0), ("string key", 3)] {
        let mut partitioner = Partitioner::new(
            EdgeKind::Hash { keys: vec![key] },
            TARGETS,
            MAX_PARALLELISM,
            0,
        );
        // The partitioner's own split, as row indices per target, for the baseline.
        let parts = partitioner.partition(batch.clone()).unwrap();
        assert_eq!(parts.len(), TARGETS);
        let rows: usize = parts.iter().map(|(_, b)| b.num_rows()).sum();
        assert_eq!(rows, ROWS);
        // Scattered indices, about half the rows each, as a hash spreads them.
        let target_of =
            |i: usize| ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize % TARGETS;
        let indices: Vec<UInt32Array> = (0..TARGETS)
            .map(|t| {
                UInt32Array::from_iter_values(
                    (0..ROWS).filter(|&i| target_of(i) == t).map(|i| i as u32),
                )
            })
            .collect();

        group.bench_function(BenchmarkId::new("Partitioner::partition", name), |b| {
            b.iter(|| partitioner.partition(batch.clone()).unwrap())
        });
        group.bench_function(
            BenchmarkId::new("arrow take_record_batch alone", name),
            |b| {
                b.iter(|| {
                    indices
                        .iter()
                        .map(|idx| take_record_batch(&batch, idx).unwrap())
                        .collect::<Vec<_>>()
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
