//! End-to-end tests of checkpoints in the runtime: a rewindable source, a keyed running
//! sum and a two-phase-commit sink, run with checkpoints, failures, restarts, stops,
//! restores and rescaling. The committed output must always equal the expected one
//! exactly: no loss, no duplicates.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::{Array, Int64Array, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use weir_state::{CheckpointStorage, StateSnapshot, KEY_GROUP_COLUMN};
use weir_types::{ChangelogKind, EngineError, EngineResult, OperatorId};

use crate::checkpoint::{CheckpointConfig, RestartStrategy, RestoreFrom};
use crate::graph::{Edge, EdgeKind, JobGraph, Node, NodeKind};
use crate::job::{start, JobConfig, JobOutcome};
use crate::metrics::JobMetrics;
use crate::operator::{Operator, OperatorFactory, Output, SubtaskContext};
use crate::partition::key_groups;
use crate::source::{SourceEvent, SourceFactory, SourceReader, SourceSpec};

const ROWS_PER_BATCH: i64 = 10;

/// One output row: (k, v, running sum).
type Row = (i64, i64, i64);

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Int64, false),
    ]))
}

/// Emits rows v = 0, 1, ... with k = v % 7, in batches, one split; rewindable.
struct Numbers {
    batches: u64,
    pause: Duration,
}

struct NumbersReader {
    next_batch: u64,
    batches: u64,
    pause: Duration,
}

impl SourceFactory for Numbers {
    fn is_bounded(&self) -> bool {
        true
    }
    fn create_reader(&self, _: &SubtaskContext) -> EngineResult<Box<dyn SourceReader>> {
        Ok(Box::new(NumbersReader {
            next_batch: 0,
            batches: self.batches,
            pause: self.pause,
        }))
    }
}

#[async_trait]
impl SourceReader for NumbersReader {
    fn split_count(&self) -> usize {
        1
    }
    fn split_id(&self, _: usize) -> String {
        "numbers".into()
    }
    async fn next(&mut self) -> EngineResult<SourceEvent> {
        if self.next_batch == self.batches {
            return Ok(SourceEvent::Finished);
        }
        tokio::time::sleep(self.pause).await;
        let base = self.next_batch as i64 * ROWS_PER_BATCH;
        self.next_batch += 1;
        let v: Int64Array = (base..base + ROWS_PER_BATCH).collect();
        let k: Int64Array = v.values().iter().map(|v| v % 7).collect();
        Ok(SourceEvent::Batch {
            split: 0,
            batch: RecordBatch::try_new(schema(), vec![Arc::new(k), Arc::new(v)])?,
        })
    }
    fn is_rewindable(&self) -> bool {
        true
    }
    fn snapshot_position(&mut self) -> EngineResult<StateSnapshot> {
        let mut snapshot = StateSnapshot::new();
        let batch = RecordBatch::try_from_iter(vec![(
            "next_batch",
            Arc::new(UInt64Array::from(vec![self.next_batch])) as _,
        )])?;
        snapshot
            .add_union("position", batch)
            .map_err(|e| EngineError::Checkpoint(e.to_string()))?;
        Ok(snapshot)
    }
    fn restore_position(&mut self, snapshot: StateSnapshot) -> EngineResult<()> {
        let table = snapshot.table("position").expect("position table");
        let column = table.batches()[0].column(0);
        let next = column.as_any().downcast_ref::<UInt64Array>().unwrap();
        self.next_batch = next.value(0);
        Ok(())
    }
}

/// Emits (k, v, running sum of v per k); fails once when it sees `fail_at`.
struct RunningSum {
    sums: HashMap<i64, i64>,
    max_parallelism: usize,
    fail_at: Option<(i64, Arc<AtomicBool>)>,
}

impl Operator for RunningSum {
    fn process_batch(
        &mut self,
        _: usize,
        batch: RecordBatch,
        out: &mut Output,
    ) -> EngineResult<()> {
        let k = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        let v = batch
            .column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        let mut sums = Vec::with_capacity(k.len());
        for i in 0..k.len() {
            if let Some((bad, failed)) = &self.fail_at {
                if v.value(i) == *bad && !failed.swap(true, Ordering::SeqCst) {
                    return Err(EngineError::BadData(format!("value {bad} fails once")));
                }
            }
            let sum = self.sums.entry(k.value(i)).or_default();
            *sum += v.value(i);
            sums.push(*sum);
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("v", DataType::Int64, false),
            Field::new("sum", DataType::Int64, false),
        ]));
        out.batch(RecordBatch::try_new(
            schema,
            vec![
                batch.column(0).clone(),
                batch.column(1).clone(),
                Arc::new(Int64Array::from(sums)),
            ],
        )?);
        Ok(())
    }
    fn snapshot_state(&mut self, _: u64) -> EngineResult<StateSnapshot> {
        let keys: Int64Array = self.sums.keys().copied().collect();
        let sums: Int64Array = self.sums.values().copied().collect();
        let groups = key_groups(&[Arc::new(keys.clone())], self.max_parallelism)?;
        let mut snapshot = StateSnapshot::new();
        let batch = RecordBatch::try_from_iter(vec![
            (KEY_GROUP_COLUMN, Arc::new(groups) as _),
            ("k", Arc::new(keys) as _),
            ("sum", Arc::new(sums) as _),
        ])?;
        snapshot
            .add_keyed("sums", batch)
            .map_err(|e| EngineError::Checkpoint(e.to_string()))?;
        Ok(snapshot)
    }
    fn restore_state(&mut self, snapshot: StateSnapshot) -> EngineResult<()> {
        for batch in snapshot.table("sums").expect("sums").batches() {
            let k = batch
                .column(1)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap();
            let s = batch
                .column(2)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap();
            for i in 0..k.len() {
                self.sums.insert(k.value(i), s.value(i));
            }
        }
        Ok(())
    }
}

/// Where the test sink's committed output goes: per (run, checkpoint, subtask) of the
/// staging, the rows, so a repeated commit is visible as a duplicate key.
#[derive(Default)]
struct Committed {
    rows: Mutex<BTreeMap<(u64, u64, usize), Vec<Row>>>,
}

/// Stages rows per checkpoint and commits them when the checkpoint completes.
struct TwoPhaseSink {
    subtask: usize,
    parallelism: usize,
    checkpointing: bool,
    current: Vec<Row>,
    pending: BTreeMap<u64, Vec<Row>>,
    committed: Arc<Committed>,
}

impl TwoPhaseSink {
    fn commit(&self, checkpoint_id: u64, subtask: usize, rows: Vec<Row>) {
        let mut all = self.committed.rows.lock().unwrap();
        // Idempotent, as renaming a file already renamed is.
        all.entry((1, checkpoint_id, subtask)).or_insert(rows);
    }
}

impl Operator for TwoPhaseSink {
    fn process_batch(&mut self, _: usize, batch: RecordBatch, _: &mut Output) -> EngineResult<()> {
        let col = |i: usize| {
            batch
                .column(i)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .clone()
        };
        let (k, v, s) = (col(0), col(1), col(2));
        for i in 0..k.len() {
            self.current.push((k.value(i), v.value(i), s.value(i)));
        }
        Ok(())
    }
    fn finish(&mut self, _: &mut Output) -> EngineResult<()> {
        if !self.checkpointing {
            let rows = std::mem::take(&mut self.current);
            self.commit(0, self.subtask, rows);
        }
        Ok(())
    }
    fn snapshot_state(&mut self, checkpoint_id: u64) -> EngineResult<StateSnapshot> {
        let rows = std::mem::take(&mut self.current);
        self.pending.insert(checkpoint_id, rows);
        let mut ids = Vec::new();
        let mut subtasks = Vec::new();
        let mut text = Vec::new();
        for (id, rows) in &self.pending {
            for (k, v, s) in rows {
                ids.push(*id);
                subtasks.push(self.subtask as u64);
                text.push(format!("{k},{v},{s}"));
            }
        }
        let mut snapshot = StateSnapshot::new();
        let batch = RecordBatch::try_from_iter(vec![
            ("checkpoint_id", Arc::new(UInt64Array::from(ids)) as _),
            ("subtask", Arc::new(UInt64Array::from(subtasks)) as _),
            ("row", Arc::new(StringArray::from(text)) as _),
        ])?;
        snapshot
            .add_union("pending", batch)
            .map_err(|e| EngineError::Checkpoint(e.to_string()))?;
        Ok(snapshot)
    }
    fn notify_checkpoint_complete(&mut self, checkpoint_id: u64) -> EngineResult<()> {
        let done: Vec<u64> = self
            .pending
            .range(..=checkpoint_id)
            .map(|(id, _)| *id)
            .collect();
        for id in done {
            let rows = self.pending.remove(&id).unwrap_or_default();
            self.commit(id, self.subtask, rows);
        }
        Ok(())
    }
    fn restore_state(&mut self, snapshot: StateSnapshot) -> EngineResult<()> {
        // The checkpoint completed: commit what it staged, for the old subtasks this
        // subtask is responsible for.
        let mut staged: BTreeMap<(u64, usize), Vec<Row>> = BTreeMap::new();
        for batch in snapshot.table("pending").map_or(&[][..], |t| t.batches()) {
            let ids = batch
                .column(0)
                .as_any()
                .downcast_ref::<UInt64Array>()
                .unwrap();
            let subs = batch
                .column(1)
                .as_any()
                .downcast_ref::<UInt64Array>()
                .unwrap();
            let rows = batch
                .column(2)
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap();
            for i in 0..ids.len() {
                let old = subs.value(i) as usize;
                if old % self.parallelism != self.subtask {
                    continue;
                }
                let parts: Vec<i64> = rows
                    .value(i)
                    .split(',')
                    .map(|p| p.parse().unwrap())
                    .collect();
                staged
                    .entry((ids.value(i), old))
                    .or_default()
                    .push((parts[0], parts[1], parts[2]));
            }
        }
        for ((id, old), rows) in staged {
            self.commit(id, old, rows);
        }
        Ok(())
    }
}

fn node(name: &str, parallelism: usize, inputs: Vec<Edge>, kind: NodeKind, is_sink: bool) -> Node {
    Node {
        id: OperatorId::derive(name, &[]),
        name: name.into(),
        detail: String::new(),
        parallelism,
        inputs,
        kind,
        changelog: ChangelogKind::AppendOnly,
        is_sink,
        schema: schema(),
    }
}

/// source(1) -hash(k)-> running sum(p) -forward-> sink(p).
fn graph(
    batches: u64,
    parallelism: usize,
    fail_at: Option<(i64, Arc<AtomicBool>)>,
    committed: &Arc<Committed>,
) -> JobGraph {
    let mut graph = JobGraph::default();
    let src = graph.add(node(
        "numbers",
        1,
        vec![],
        NodeKind::Source(SourceSpec {
            factory: Arc::new(Numbers {
                batches,
                pause: Duration::from_millis(1),
            }),
            prepare: None,
            event_time: None,
        }),
        false,
    ));
    let sum: Arc<dyn OperatorFactory> = Arc::new(
        move |ctx: &SubtaskContext| -> EngineResult<Box<dyn Operator>> {
            Ok(Box::new(RunningSum {
                sums: HashMap::new(),
                max_parallelism: ctx.max_parallelism,
                fail_at: fail_at.clone(),
            }))
        },
    );
    let mid = graph.add(node(
        "sum",
        parallelism,
        vec![Edge {
            from: src,
            kind: EdgeKind::Hash { keys: vec![0] },
        }],
        NodeKind::Operator(sum),
        false,
    ));
    let committed = committed.clone();
    let sink: Arc<dyn OperatorFactory> = Arc::new(
        move |ctx: &SubtaskContext| -> EngineResult<Box<dyn Operator>> {
            Ok(Box::new(TwoPhaseSink {
                subtask: ctx.subtask,
                parallelism: ctx.parallelism,
                checkpointing: ctx.checkpointing,
                current: Vec::new(),
                pending: BTreeMap::new(),
                committed: committed.clone(),
            }))
        },
    );
    graph.add(node(
        "sink",
        parallelism,
        vec![Edge {
            from: mid,
            kind: EdgeKind::Forward,
        }],
        NodeKind::Operator(sink),
        true,
    ));
    graph
}

/// What an uninterrupted run must commit: every (k, v, running sum).
fn expected(batches: u64) -> BTreeSet<(i64, i64, i64)> {
    let mut sums: HashMap<i64, i64> = HashMap::new();
    (0..batches as i64 * ROWS_PER_BATCH)
        .map(|v| {
            let sum = sums.entry(v % 7).or_default();
            *sum += v;
            (v % 7, v, *sum)
        })
        .collect()
}

/// The committed rows, checking that none was committed twice.
fn committed_rows(committed: &Committed) -> BTreeSet<(i64, i64, i64)> {
    let all = committed.rows.lock().unwrap();
    let mut set = BTreeSet::new();
    for rows in all.values() {
        for row in rows {
            assert!(set.insert(*row), "row {row:?} committed twice");
        }
    }
    set
}

fn config(dir: &std::path::Path) -> JobConfig {
    let mut checkpoints = CheckpointConfig::new(dir.to_string_lossy(), Duration::from_millis(5));
    checkpoints.num_retained = 2;
    JobConfig {
        checkpoints: Some(checkpoints),
        restart: RestartStrategy::FixedDelay {
            attempts: 3,
            delay: Duration::ZERO,
        },
        ..JobConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpointed_run_commits_everything_once_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let committed = Arc::new(Committed::default());
    let handle = start(&graph(60, 2, None, &committed), &config(dir.path())).unwrap();
    let metrics = handle.metrics();
    assert_eq!(handle.wait().await.unwrap(), JobOutcome::Finished);
    assert_eq!(committed_rows(&committed), expected(60));
    assert!(
        JobMetrics::get(&metrics.checkpoints_completed) >= 2,
        "periodic and final checkpoints"
    );
    let written = JobMetrics::get(&metrics.checkpoint_bytes_total);
    assert!(
        written > 0 && written >= JobMetrics::get(&metrics.last_checkpoint_size_bytes),
        "the total counts every completed checkpoint's bytes ({written})"
    );
    let storage = CheckpointStorage::open(&dir.path().to_string_lossy())
        .await
        .unwrap();
    assert!(
        storage.checkpoint_ids().await.unwrap().is_empty(),
        "a finished job leaves no checkpoint"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_task_restarts_from_the_latest_checkpoint_without_loss_or_duplicates() {
    for fail_at in [5, 155, 399, 599] {
        let dir = tempfile::tempdir().unwrap();
        let committed = Arc::new(Committed::default());
        let failed = Arc::new(AtomicBool::new(false));
        let job = graph(60, 2, Some((fail_at, failed.clone())), &committed);
        let handle = start(&job, &config(dir.path())).unwrap();
        let metrics = handle.metrics();
        assert_eq!(handle.wait().await.unwrap(), JobOutcome::Finished);
        assert!(failed.load(Ordering::SeqCst));
        assert_eq!(JobMetrics::get(&metrics.restarts), 1);
        assert_eq!(
            committed_rows(&committed),
            expected(60),
            "failure at {fail_at}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_without_restarts_fails_the_job_with_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    let committed = Arc::new(Committed::default());
    let job = graph(
        60,
        2,
        Some((100, Arc::new(AtomicBool::new(false)))),
        &committed,
    );
    let mut config = config(dir.path());
    config.restart = RestartStrategy::None;
    let error = start(&job, &config).unwrap().wait().await.unwrap_err();
    assert!(
        error.to_string().contains("value 100 fails once"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_job_resumes_from_its_checkpoint_at_another_parallelism() {
    let dir = tempfile::tempdir().unwrap();
    let committed = Arc::new(Committed::default());
    let handle = start(&graph(400, 2, None, &committed), &config(dir.path())).unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;
    handle.stop();
    assert_eq!(handle.wait().await.unwrap(), JobOutcome::Stopped);
    let stopped_with = committed_rows(&committed).len();
    assert!(
        stopped_with > 0 && stopped_with < 4000,
        "stopped midway: {stopped_with} rows"
    );
    let storage = CheckpointStorage::open(&dir.path().to_string_lossy())
        .await
        .unwrap();
    let latest = storage
        .latest_completed()
        .await
        .unwrap()
        .checkpoint
        .expect("a checkpoint of the stop");
    for parallelism in [3] {
        let mut config = config(dir.path());
        config.restore = Some(RestoreFrom {
            checkpoint: Arc::new(latest.clone()),
            allow_non_restored_state: false,
        });
        let handle = start(&graph(400, parallelism, None, &committed), &config).unwrap();
        assert_eq!(handle.wait().await.unwrap(), JobOutcome::Finished);
    }
    assert_eq!(committed_rows(&committed), expected(400));
}
