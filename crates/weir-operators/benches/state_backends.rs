//! State backend benchmark (not a test): an unbounded `GROUP BY` holding about 1 GB of
//! keyed state on one backend (`hashmap`, `hashmap-incremental` or `rocksdb`): how long filling it takes, how
//! long a checkpoint takes (the synchronous part on the task, then writing it to
//! checkpoint storage on local disk) and how many bytes it writes, the same for a
//! checkpoint after 1% of the keys changed (incremental with RocksDB and
//! `hashmap-incremental`), and how long a
//! recovery takes (validating the checkpoint, reading it back and restoring the
//! operator, until it processes a row).
//!
//! ```sh
//! cargo bench --workspace --bench state_backends -- --backend rocksdb --keys 6000000
//! ```
//!
//! `scripts/bench/state_backends.sh` runs both backends in separate processes (for
//! their peak memory) and prints the table.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::functions_aggregate::count::count_udaf;
use datafusion::functions_aggregate::first_last::last_value_udaf;
use datafusion::functions_aggregate::sum::sum_udaf;
use datafusion::physical_expr::aggregate::AggregateExprBuilder;
use datafusion::physical_expr::expressions::col;
use weir_operators::group_agg::{system_clock, GroupAggregateOperator};
use weir_operators::GroupAggregate;
use weir_runtime::{Operator, Output, RocksConfig, StateBackend, SubtaskContext};
use weir_state::{CheckpointMetadata, CheckpointStorage, StateSnapshot};

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

const BATCH: usize = 65_536;

struct Args {
    backend: String,
    keys: usize,
    payload: usize,
}

fn args() -> Args {
    let mut args = Args {
        backend: "rocksdb".into(),
        keys: 6_000_000,
        payload: 120,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--backend" => args.backend = it.next().unwrap_or_default(),
            "--keys" => args.keys = it.next().and_then(|v| v.parse().ok()).unwrap_or(args.keys),
            "--payload" => {
                args.payload = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(args.payload)
            }
            _ => {} // cargo bench passes --bench
        }
    }
    args
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Int64, false),
        Field::new("s", DataType::Utf8, false),
    ]))
}

/// `SELECT k, COUNT(v), SUM(v), LAST_VALUE(s) FROM input GROUP BY k`.
fn definition() -> BenchResult<GroupAggregate> {
    let schema = schema();
    let mut aggregates = Vec::new();
    for (i, (udaf, column)) in [
        (count_udaf(), "v"),
        (sum_udaf(), "v"),
        (last_value_udaf(), "s"),
    ]
    .into_iter()
    .enumerate()
    {
        let expr = AggregateExprBuilder::new(udaf, vec![col(column, &schema)?])
            .schema(schema.clone())
            .alias(format!("a{i}"))
            .build()?;
        aggregates.push((Arc::new(expr), None));
    }
    let mut fields = vec![Field::new("k", DataType::Int64, false)];
    fields.extend(aggregates.iter().map(|(a, _)| a.field().as_ref().clone()));
    Ok(GroupAggregate {
        key_columns: vec![0],
        aggregates,
        output_schema: GroupAggregate::output_schema_of(fields),
        input_updating: false,
        state_ttl_ms: None,
        mini_batch: None,
        input_partial: false,
    })
}

fn batch(keys: impl Iterator<Item = i64>, payload: usize, round: u64) -> BenchResult<RecordBatch> {
    let keys: Vec<i64> = keys.collect();
    let text: Vec<String> = keys
        .iter()
        .map(|k| format!("{k:0>width$}-{round}", width = payload.saturating_sub(4)))
        .collect();
    Ok(RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(keys.clone())),
            Arc::new(Int64Array::from(keys)),
            Arc::new(StringArray::from(text)),
        ],
    )?)
}

fn operator(
    def: &Arc<GroupAggregate>,
    backend: &StateBackend,
) -> BenchResult<GroupAggregateOperator> {
    let mut ctx = SubtaskContext::single("agg");
    ctx.state_backend = backend.clone();
    ctx.checkpointing = true;
    Ok(GroupAggregateOperator::new(
        Arc::clone(def),
        &ctx,
        system_clock(),
    )?)
}

/// What one checkpoint cost.
struct Checkpoint {
    sync: Duration,
    write: Duration,
    written: u64,
    full: u64,
}

async fn checkpoint(
    op: &mut GroupAggregateOperator,
    storage: &CheckpointStorage,
    id: u64,
) -> BenchResult<Checkpoint> {
    let started = Instant::now();
    let mut out = Output::default();
    op.prepare_snapshot_pre_barrier(id, &mut out)?;
    let snapshot: StateSnapshot = op.snapshot_state(id)?;
    let sync = started.elapsed();
    let started = Instant::now();
    let writer = storage.checkpoint(id);
    let handle = writer.write_snapshot("agg", 0, &snapshot).await?;
    let mut metadata = CheckpointMetadata::new(id, 0, 128, serde_json::json!({}));
    metadata.add_operator("agg", 1, vec![handle])?;
    let (written, full) = (metadata.total_size(), metadata.full_size());
    writer.complete(metadata).await?;
    op.notify_checkpoint_complete(id)?;
    storage.retain(1).await?;
    drop(snapshot);
    Ok(Checkpoint {
        sync,
        write: started.elapsed(),
        written,
        full,
    })
}

/// Peak resident memory of this process, from /proc (0 elsewhere).
fn peak_rss_mb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

fn main() -> BenchResult<()> {
    let args = args();
    let local = tempfile::tempdir()?;
    let remote = tempfile::tempdir()?;
    let backend = match args.backend.as_str() {
        "hashmap" => StateBackend::HashMap,
        "hashmap-incremental" => StateBackend::IncrementalHashMap,
        "rocksdb" => StateBackend::RocksDb(RocksConfig {
            local_dir: local.path().to_path_buf(),
            incremental: true,
            ..RocksConfig::default()
        }),
        other => {
            return Err(format!(
                "--backend must be hashmap, hashmap-incremental or rocksdb, not {other}"
            )
            .into())
        }
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let storage = runtime.block_on(CheckpointStorage::open(&remote.path().to_string_lossy()))?;
    let def = Arc::new(definition()?);
    let mut op = operator(&def, &backend)?;
    let mut out = Output::default();

    let started = Instant::now();
    for start in (0..args.keys).step_by(BATCH) {
        let end = (start + BATCH).min(args.keys);
        op.process_batch(
            0,
            batch((start as i64)..(end as i64), args.payload, 0)?,
            &mut out,
        )?;
        out.drain();
    }
    let fill = started.elapsed();
    let first = runtime.block_on(checkpoint(&mut op, &storage, 1))?;

    // 1% of the keys change, spread over the key space.
    let changed = args.keys / 100;
    let stride = (args.keys / changed.max(1)).max(1) as i64;
    for start in (0..changed).step_by(BATCH) {
        let end = (start + BATCH).min(changed);
        let keys = (start as i64..end as i64).map(|i| i * stride);
        op.process_batch(0, batch(keys, args.payload, 1)?, &mut out)?;
        out.drain();
    }
    let second = runtime.block_on(checkpoint(&mut op, &storage, 2))?;
    drop(op);

    let started = Instant::now();
    let mut restored = operator(&def, &backend)?;
    let checkpoint = runtime
        .block_on(storage.latest_completed())?
        .checkpoint
        .ok_or("no checkpoint to recover")?;
    let mut snapshot = runtime.block_on(checkpoint.restore("agg", 0, 1))?;
    if let Some(rocks) = backend.rocksdb() {
        for native in runtime.block_on(checkpoint.restore_native("agg", 0, 1, &rocks.local_dir))? {
            snapshot.add_native(native);
        }
    }
    restored.restore_state(snapshot)?;
    restored.process_batch(0, batch(std::iter::once(0), args.payload, 2)?, &mut out)?;
    let recovery = started.elapsed();
    let emitted: usize = out
        .drain()
        .map(|m| match m {
            weir_types::Message::Batch(b) => b.num_rows(),
            _ => 0,
        })
        .sum();
    if emitted != 2 {
        return Err(
            format!("the recovered key 0 should update (-U, +U), emitted {emitted} rows").into(),
        );
    }

    let mb = |b: u64| b as f64 / 1e6;
    println!(
        "backend={} keys={} state_mb={:.0} fill_s={:.2} fill_keys_per_s={:.0} \
         ckpt1_sync_ms={} ckpt1_write_ms={} ckpt1_written_mb={:.1} \
         ckpt2_sync_ms={} ckpt2_write_ms={} ckpt2_written_mb={:.1} ckpt2_share_pct={:.1} \
         recovery_ms={} peak_rss_mb={}",
        args.backend,
        args.keys,
        mb(second.full),
        fill.as_secs_f64(),
        args.keys as f64 / fill.as_secs_f64(),
        first.sync.as_millis(),
        first.write.as_millis(),
        mb(first.written),
        second.sync.as_millis(),
        second.write.as_millis(),
        mb(second.written),
        100.0 * second.written as f64 / second.full.max(1) as f64,
        recovery.as_millis(),
        peak_rss_mb(),
    );
    Ok(())
}
