//! RocksDB backend put and get: Weir's `KeyedStore` (what each operator subtask keeps its
//! keyed state in with `state.backend.type = rocksdb`: writes as `StoreBatch`es without
//! the write-ahead log, reads with `get_many`) against RocksDB alone with its default
//! options (a `WriteBatch` without the write-ahead log, `multi_get`) on the same keys and
//! values: 1,000,000 keys (a key group and an 8-byte key, as operators write them) with
//! 48-byte values, in batches of 8,192, gets in a shuffled order.
//!
//! The `hashmap` backend has no store of its own: operators keep their state in their
//! own hash tables, measured with the operator around them by `join_probe` and
//! `window_slice` (weir-operators).
//!
//! `cargo bench --workspace --bench state_put_get`

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rocksdb::{Options, WriteBatch, WriteOptions, DB};
use weir_state::rocks::{store_key, StoreBatch};
use weir_state::{KeyedStore, RocksConfig};

const KEYS: usize = 1_000_000;
const BATCH: usize = 8_192;
const VALUE: [u8; 48] = [7; 48];
/// A prime that does not divide `KEYS`: `i * STEP % KEYS` visits every key once.
const STEP: usize = 7_919;

/// The store key of key number `i`: its key group, then the key.
fn key(i: usize) -> Vec<u8> {
    store_key((i % 128) as u32, &(i as u64).to_be_bytes())
}

/// Keys in batches, in insertion order or shuffled.
fn batches(shuffled: bool) -> Vec<Vec<Vec<u8>>> {
    let order: Vec<usize> = (0..KEYS)
        .map(|i| if shuffled { i * STEP % KEYS } else { i })
        .collect();
    order
        .chunks(BATCH)
        .map(|c| c.iter().map(|&i| key(i)).collect())
        .collect()
}

fn weir_store(dir: &Path) -> KeyedStore {
    let config = RocksConfig {
        local_dir: dir.to_path_buf(),
        ..RocksConfig::default()
    };
    KeyedStore::open(&config, "bench", [0, 127], None, Vec::new()).expect("open the store")
}

fn weir_put(store: &KeyedStore, batches: &[Vec<Vec<u8>>]) {
    for keys in batches {
        let mut batch = StoreBatch::new();
        for k in keys {
            batch.put(k, &VALUE);
        }
        store.write(batch).expect("write");
    }
}

fn rocksdb_alone(dir: &Path) -> DB {
    let mut options = Options::default();
    options.create_if_missing(true);
    DB::open(&options, dir.join("alone")).expect("open RocksDB")
}

fn rocksdb_put(db: &DB, batches: &[Vec<Vec<u8>>]) {
    let mut write = WriteOptions::default();
    write.disable_wal(true);
    for keys in batches {
        let mut batch = WriteBatch::default();
        for k in keys {
            batch.put(k, VALUE);
        }
        db.write_opt(batch, &write).expect("write");
    }
}

fn bench(c: &mut Criterion) {
    let inserts = batches(false);
    let lookups = batches(true);
    let mut group = c.benchmark_group("state_put_get_rocksdb");
    group.throughput(Throughput::Elements(KEYS as u64));
    group.sample_size(10);

    group.bench_function("KeyedStore put", |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("temporary folder"),
            |dir| {
                let store = weir_store(dir.path());
                weir_put(&store, &inserts);
                (store, dir)
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("RocksDB alone put", |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("temporary folder"),
            |dir| {
                let db = rocksdb_alone(dir.path());
                rocksdb_put(&db, &inserts);
                (db, dir)
            },
            BatchSize::PerIteration,
        )
    });

    let dir = tempfile::tempdir().expect("temporary folder");
    let store = weir_store(dir.path());
    weir_put(&store, &inserts);
    let db = rocksdb_alone(dir.path());
    rocksdb_put(&db, &inserts);
    for (i, keys) in lookups.iter().enumerate().take(3) {
        let found = store.get_many(keys).expect("get");
        assert!(
            found.iter().all(|v| v.as_deref() == Some(&VALUE[..])),
            "{i}"
        );
    }
    group.bench_function("KeyedStore get_many", |b| {
        b.iter(|| {
            for keys in &lookups {
                black_box(store.get_many(keys).expect("get"));
            }
        })
    });
    group.bench_function("RocksDB alone multi_get", |b| {
        b.iter(|| {
            for keys in &lookups {
                black_box(db.multi_get(keys));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
