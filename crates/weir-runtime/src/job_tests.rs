//! End-to-end tests of the runtime: exchanges, watermarks, backpressure, stop, failure.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::{Array, Int64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use weir_types::{ChangelogKind, EngineError, EngineResult, OperatorId, Watermark};

use crate::graph::{Edge, EdgeKind, JobGraph, Node, NodeKind};
use crate::job::{start, JobConfig, JobOutcome};
use crate::operator::{Operator, OperatorFactory, Output, SubtaskContext};
use crate::source::{EventTimeExtractor, SourceEvent, SourceFactory, SourceReader, SourceSpec};

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]))
}

fn batch(values: Vec<i64>) -> RecordBatch {
    RecordBatch::try_new(schema(), vec![Arc::new(Int64Array::from(values))]).unwrap()
}

/// Emits `batches` batches of `rows` rows per subtask (values distinct across subtasks),
/// or never ends when `unbounded`.
struct CountingSource {
    batches: usize,
    rows: usize,
    unbounded: bool,
}

struct CountingReader {
    subtask: usize,
    next: usize,
    batches: usize,
    rows: usize,
    unbounded: bool,
}

impl SourceFactory for CountingSource {
    fn is_bounded(&self) -> bool {
        !self.unbounded
    }
    fn create_reader(&self, ctx: &SubtaskContext) -> EngineResult<Box<dyn SourceReader>> {
        Ok(Box::new(CountingReader {
            subtask: ctx.subtask,
            next: 0,
            batches: self.batches,
            rows: self.rows,
            unbounded: self.unbounded,
        }))
    }
}

#[async_trait]
impl SourceReader for CountingReader {
    fn split_count(&self) -> usize {
        1
    }
    async fn next(&mut self) -> EngineResult<SourceEvent> {
        if self.next == self.batches && !self.unbounded {
            return Ok(SourceEvent::Finished);
        }
        if self.unbounded {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let base = (self.subtask * 1_000_000 + self.next * self.rows) as i64;
        self.next += 1;
        Ok(SourceEvent::Batch {
            split: 0,
            batch: batch((base..base + self.rows as i64).collect()),
        })
    }
}

/// Event time = the value itself.
struct ValueIsTime;
impl EventTimeExtractor for ValueIsTime {
    fn max_watermark(&self, batch: &RecordBatch) -> EngineResult<Option<i64>> {
        let col = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        Ok(arrow::compute::max(col))
    }
    fn row_watermarks(&self, batch: &RecordBatch) -> EngineResult<Vec<Option<i64>>> {
        let col = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        Ok(col.iter().collect())
    }
}

#[derive(Default)]
struct Collected {
    rows: Mutex<Vec<(usize, i64)>>,
    watermarks: Mutex<Vec<(usize, i64)>>,
    finished: AtomicUsize,
}

struct CollectSink {
    subtask: usize,
    delay: Duration,
    out: Arc<Collected>,
}

impl Operator for CollectSink {
    fn process_batch(&mut self, _: usize, batch: RecordBatch, _: &mut Output) -> EngineResult<()> {
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        let col = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        let mut rows = self.out.rows.lock().unwrap();
        rows.extend(col.values().iter().map(|v| (self.subtask, *v)));
        Ok(())
    }
    fn process_watermark(&mut self, w: Watermark, _: &mut Output) -> EngineResult<()> {
        self.out
            .watermarks
            .lock()
            .unwrap()
            .push((self.subtask, w.0));
        Ok(())
    }
    fn finish(&mut self, _: &mut Output) -> EngineResult<()> {
        self.out.finished.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

struct Pass {
    fail_at: Option<i64>,
}
impl Operator for Pass {
    fn process_batch(
        &mut self,
        _: usize,
        batch: RecordBatch,
        out: &mut Output,
    ) -> EngineResult<()> {
        let col = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        if let Some(bad) = self.fail_at {
            if col.values().contains(&bad) {
                return Err(EngineError::BadData(format!("value {bad} is bad")));
            }
        }
        out.batch(batch);
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

struct Job {
    graph: JobGraph,
    out: Arc<Collected>,
}

fn job(
    source: CountingSource,
    sources: usize,
    exchange: EdgeKind,
    workers: usize,
    fail_at: Option<i64>,
    sink_delay: Duration,
) -> Job {
    let mut graph = JobGraph::default();
    let src = graph.add(node(
        "src",
        sources,
        vec![],
        NodeKind::Source(SourceSpec {
            factory: Arc::new(source),
            prepare: None,
            event_time: Some(Arc::new(ValueIsTime)),
        }),
        false,
    ));
    let pass: Arc<dyn OperatorFactory> = Arc::new(
        move |_: &SubtaskContext| -> EngineResult<Box<dyn Operator>> {
            Ok(Box::new(Pass { fail_at }))
        },
    );
    let mid = graph.add(node(
        "pass",
        workers,
        vec![Edge {
            from: src,
            kind: exchange,
        }],
        NodeKind::Operator(pass),
        false,
    ));
    let out = Arc::new(Collected::default());
    let sink_out = out.clone();
    let sink: Arc<dyn OperatorFactory> = Arc::new(
        move |ctx: &SubtaskContext| -> EngineResult<Box<dyn Operator>> {
            Ok(Box::new(CollectSink {
                subtask: ctx.subtask,
                delay: sink_delay,
                out: sink_out.clone(),
            }))
        },
    );
    graph.add(node(
        "sink",
        workers,
        vec![Edge {
            from: mid,
            kind: EdgeKind::Forward,
        }],
        NodeKind::Operator(sink),
        true,
    ));
    Job { graph, out }
}

fn bounded(batches: usize, rows: usize) -> CountingSource {
    CountingSource {
        batches,
        rows,
        unbounded: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_exchange_delivers_every_row_once_to_its_key_owner() {
    let j = job(
        bounded(20, 100),
        2,
        EdgeKind::Hash { keys: vec![0] },
        4,
        None,
        Duration::ZERO,
    );
    let handle = start(&j.graph, &JobConfig::default()).unwrap();
    assert_eq!(handle.wait().await.unwrap(), JobOutcome::Finished);
    let rows = j.out.rows.lock().unwrap().clone();
    assert_eq!(rows.len(), 2 * 20 * 100);
    let mut values: Vec<i64> = rows.iter().map(|r| r.1).collect();
    values.sort_unstable();
    values.dedup();
    assert_eq!(values.len(), 4000, "no duplicates");
    // The same key always lands on the same subtask: hash again and compare.
    let mut p = crate::partition::Partitioner::new(EdgeKind::Hash { keys: vec![0] }, 4, 128, 0);
    for (subtask, value) in rows.iter().take(200) {
        let parts = p.partition(batch(vec![*value])).unwrap();
        assert_eq!(parts[0].0, *subtask);
    }
    assert_eq!(
        j.out.finished.load(Ordering::SeqCst),
        4,
        "every sink subtask finished"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watermarks_are_monotonic_minimums_and_end_at_max() {
    let j = job(
        bounded(50, 10),
        2,
        EdgeKind::Rebalance,
        1,
        None,
        Duration::ZERO,
    );
    let config = JobConfig {
        auto_watermark_interval: Duration::ZERO,
        ..JobConfig::default()
    };
    let handle = start(&j.graph, &config).unwrap();
    handle.wait().await.unwrap();
    let marks: Vec<i64> = j
        .out
        .watermarks
        .lock()
        .unwrap()
        .iter()
        .map(|w| w.1)
        .collect();
    assert!(
        marks.windows(2).all(|w| w[0] < w[1]),
        "strictly increasing: {marks:?}"
    );
    assert_eq!(marks.last(), Some(&i64::MAX));
    // Subtask 1's values start at 1_000_000: before subtask 0 ends (its max is 499), the
    // combined watermark can never pass 499.
    let before_end: Vec<&i64> = marks.iter().filter(|w| **w != i64::MAX).collect();
    assert!(
        before_end.iter().all(|w| **w <= 1_000_499),
        "{before_end:?}"
    );
    assert!(
        before_end.iter().any(|w| **w < 500),
        "subtask 0 held the watermark back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_sink_backpressures_the_source() {
    let config = JobConfig {
        channel_capacity: 2,
        ..JobConfig::default()
    };
    // Rebalance forces a channel between source and the slow sink.
    let j = job(
        bounded(200, 10),
        1,
        EdgeKind::Rebalance,
        1,
        None,
        Duration::from_millis(2),
    );
    let handle = start(&j.graph, &config).unwrap();
    let metrics = handle.metrics();
    let out = j.out.clone();
    let waiter = tokio::spawn(handle.wait());
    let mut max_in_flight = 0;
    while !waiter.is_finished() {
        let produced = metrics.records_in.load(Ordering::Relaxed) as i64;
        let consumed = out.rows.lock().unwrap().len() as i64;
        max_in_flight = max_in_flight.max(produced - consumed);
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    waiter.await.unwrap().unwrap();
    // At most: channel capacity + the batch being sent + the batch being processed,
    // plus watermarks taking slots; far below the 2000 rows of the source.
    assert!(max_in_flight <= 6 * 10, "in flight {max_in_flight}");
    assert_eq!(out.rows.lock().unwrap().len(), 2000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_ends_an_unbounded_job_gracefully() {
    let j = job(
        CountingSource {
            batches: 0,
            rows: 5,
            unbounded: true,
        },
        2,
        EdgeKind::Rebalance,
        2,
        None,
        Duration::ZERO,
    );
    let handle = start(&j.graph, &JobConfig::default()).unwrap();
    let stop = handle.stopper();
    let out = j.out.clone();
    tokio::spawn(async move {
        while out.rows.lock().unwrap().len() < 50 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stop();
    });
    assert_eq!(handle.wait().await.unwrap(), JobOutcome::Stopped);
    assert_eq!(
        j.out.finished.load(Ordering::SeqCst),
        2,
        "sinks finished (committed) on stop"
    );
    assert!(
        !j.out
            .watermarks
            .lock()
            .unwrap()
            .iter()
            .any(|w| w.1 == i64::MAX),
        "no final watermark on stop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_operator_fails_the_job_with_its_name() {
    let j = job(
        bounded(10, 10),
        1,
        EdgeKind::Forward,
        1,
        Some(55),
        Duration::ZERO,
    );
    let error = start(&j.graph, &JobConfig::default())
        .unwrap()
        .wait()
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("src") && text.contains("value 55 is bad"),
        "{text}"
    );
}

/// A reader driven by a test: hands out the events it is sent, and counts the events the
/// task has fully sent on (it asks for the next event only after that).
struct ScriptedReader {
    events: tokio::sync::mpsc::UnboundedReceiver<SourceEvent>,
    handed: bool,
    asks: Arc<AtomicUsize>,
}

#[async_trait]
impl SourceReader for ScriptedReader {
    fn split_count(&self) -> usize {
        1
    }
    async fn next(&mut self) -> EngineResult<SourceEvent> {
        if std::mem::take(&mut self.handed) {
            self.asks.fetch_add(1, Ordering::SeqCst);
        }
        let event = self.events.recv().await.unwrap_or(SourceEvent::Finished);
        self.handed = true;
        Ok(event)
    }
    fn controls_watermarks(&self) -> bool {
        true
    }
}

struct ScriptedSource {
    events: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<SourceEvent>>>,
    asks: Arc<AtomicUsize>,
}

impl SourceFactory for ScriptedSource {
    fn is_bounded(&self) -> bool {
        true
    }
    fn create_reader(&self, _: &SubtaskContext) -> EngineResult<Box<dyn SourceReader>> {
        let events = self.events.lock().unwrap().take().unwrap();
        Ok(Box::new(ScriptedReader {
            events,
            handed: false,
            asks: self.asks.clone(),
        }))
    }
}

async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_messages_reach_zero_only_once_the_sinks_have_everything() {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let asks = Arc::new(AtomicUsize::new(0));
    let mut j = job(
        bounded(0, 0),
        1,
        EdgeKind::Rebalance,
        2,
        None,
        Duration::from_millis(50),
    );
    // Replace the counting source by the scripted one (the rows' own event time, which
    // ValueIsTime would turn into watermarks, must be ignored: the reader controls them).
    j.graph.nodes[0].kind = NodeKind::Source(SourceSpec {
        factory: Arc::new(ScriptedSource {
            events: Mutex::new(Some(rx)),
            asks: asks.clone(),
        }),
        prepare: None,
        event_time: Some(Arc::new(ValueIsTime)),
    });
    let config = JobConfig {
        auto_watermark_interval: Duration::ZERO,
        ..JobConfig::default()
    };
    let handle = start(&j.graph, &config).unwrap();
    let metrics = handle.metrics();
    assert_eq!(metrics.in_flight(), 0);

    tx.send(SourceEvent::Batch {
        split: 0,
        batch: batch(vec![1, 2, 3, 4]),
    })
    .unwrap();
    tx.send(SourceEvent::Batch {
        split: 0,
        batch: batch(vec![5, 6]),
    })
    .unwrap();
    wait_until("both batches sent", || asks.load(Ordering::SeqCst) == 2).await;
    // The sink sleeps 50 ms per batch: the count must not reach 0 before it is done.
    let out = j.out.clone();
    wait_until("quiescent", || metrics.in_flight() == 0).await;
    assert_eq!(
        out.rows.lock().unwrap().len(),
        6,
        "in flight reached 0 before the sinks had every row"
    );
    assert!(
        out.watermarks.lock().unwrap().is_empty(),
        "no row watermarks"
    );

    tx.send(SourceEvent::Watermark(Watermark(3))).unwrap();
    wait_until("watermark sent", || asks.load(Ordering::SeqCst) == 3).await;
    wait_until("quiescent", || metrics.in_flight() == 0).await;
    let mut marks = out.watermarks.lock().unwrap().clone();
    marks.sort_unstable();
    assert_eq!(marks, vec![(0, 3), (1, 3)], "the scripted watermark only");

    drop(tx);
    assert_eq!(handle.wait().await.unwrap(), JobOutcome::Finished);
    assert_eq!(metrics.in_flight(), 0, "End is not counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_is_zero_after_a_job_with_exchanges_finished() {
    let j = job(
        bounded(30, 10),
        2,
        EdgeKind::Hash { keys: vec![0] },
        3,
        None,
        Duration::ZERO,
    );
    let handle = start(&j.graph, &JobConfig::default()).unwrap();
    let metrics = handle.metrics();
    handle.wait().await.unwrap();
    assert_eq!(metrics.in_flight(), 0);
    assert_eq!(j.out.rows.lock().unwrap().len(), 600);
}

/// One subtask whose split count grows while it reads (a partition discovered): it reads
/// `[1000]` from split 0, finds split 1, reads `[2000]` from split 0 and `[1500]` from
/// split 1, then ends.
struct GrowingSource;

struct GrowingReader {
    step: usize,
    splits: usize,
}

impl SourceFactory for GrowingSource {
    fn is_bounded(&self) -> bool {
        true
    }
    fn create_reader(&self, _: &SubtaskContext) -> EngineResult<Box<dyn SourceReader>> {
        Ok(Box::new(GrowingReader { step: 0, splits: 1 }))
    }
}

#[async_trait]
impl SourceReader for GrowingReader {
    fn split_count(&self) -> usize {
        self.splits
    }
    async fn next(&mut self) -> EngineResult<SourceEvent> {
        self.step += 1;
        let (split, value) = match self.step {
            1 => (0, 1000),
            2 => {
                self.splits = 2;
                (0, 2000)
            }
            3 => (1, 1500),
            _ => return Ok(SourceEvent::Finished),
        };
        Ok(SourceEvent::Batch {
            split,
            batch: batch(vec![value]),
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_found_while_running_holds_the_watermark_back_until_it_reads() {
    let mut j = job(bounded(0, 0), 1, EdgeKind::Forward, 1, None, Duration::ZERO);
    if let NodeKind::Source(spec) = &mut j.graph.nodes[0].kind {
        spec.factory = Arc::new(GrowingSource);
    }
    let config = JobConfig {
        auto_watermark_interval: Duration::ZERO,
        ..JobConfig::default()
    };
    start(&j.graph, &config).unwrap().wait().await.unwrap();
    let marks: Vec<i64> = j
        .out
        .watermarks
        .lock()
        .unwrap()
        .iter()
        .map(|w| w.1)
        .collect();
    // Without tracking split 1, its rows would not count and 2000 would be emitted
    // before them, making the row at 1500 late.
    assert_eq!(marks, vec![1000, 1500, i64::MAX]);
    let rows: Vec<i64> = j.out.rows.lock().unwrap().iter().map(|r| r.1).collect();
    assert_eq!(rows, vec![1000, 2000, 1500]);
}
