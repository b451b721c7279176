//! The mock connectors in a running job: scripted order across sources, watermark
//! control, decoding errors with lines.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::{Array, Int64Array, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use weir_runtime::graph::{Edge, EdgeKind, JobGraph, Node, NodeKind};
use weir_runtime::source::SourceSpec;
use weir_runtime::{EventTimeExtractor, JobConfig, Operator, Output, SubtaskContext};
use weir_types::{ChangelogKind, EngineResult, OperatorId, Watermark};

use super::*;

fn descriptor(name: &str) -> TableDescriptor {
    TableDescriptor {
        name: name.into(),
        schema: Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        ])),
        metadata: vec![],
        primary_key: vec![],
        // A real connector that would fail if it were used (no such folder): mocks check
        // the options but read and write nothing.
        options: [
            ("connector", "filesystem"),
            ("path", "/nonexistent/weir-mock-test"),
            ("format", "debezium-json"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        base_dir: ".".into(),
    }
}

/// Event time = the `ts` column.
struct TsColumn;
impl EventTimeExtractor for TsColumn {
    fn max_watermark(&self, batch: &RecordBatch) -> EngineResult<Option<i64>> {
        Ok(self.row_watermarks(batch)?.into_iter().flatten().max())
    }
    fn row_watermarks(&self, batch: &RecordBatch) -> EngineResult<Vec<Option<i64>>> {
        let ts = batch
            .column(1)
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        Ok(ts)
    }
}

/// Records what reaches it: `a:1` for row id 1 from input 0, `wm:N` for watermarks.
struct Recorder(Arc<Mutex<Vec<String>>>);
impl Operator for Recorder {
    fn process_batch(
        &mut self,
        input: usize,
        batch: RecordBatch,
        _: &mut Output,
    ) -> EngineResult<()> {
        let ids = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .cloned();
        let mut log = self.0.lock().unwrap();
        for id in ids.iter().flat_map(|a| a.iter()) {
            log.push(format!("{}:{}", ["a", "b"][input], id.unwrap_or(-1)));
        }
        Ok(())
    }
    fn process_watermark(&mut self, w: Watermark, _: &mut Output) -> EngineResult<()> {
        if w != Watermark::MAX {
            self.0.lock().unwrap().push(format!("wm:{}", w.0));
        }
        Ok(())
    }
}

fn node(name: &str, inputs: Vec<Edge>, kind: NodeKind, parallelism: usize) -> Node {
    Node {
        id: OperatorId::derive(name, &[]),
        name: name.into(),
        detail: String::new(),
        parallelism,
        inputs,
        kind,
        changelog: ChangelogKind::AppendOnly,
        is_sink: true,
        schema: descriptor(name).schema,
    }
}

/// Two mocked sources `a` (parallelism 2) and `b` into one recorder (parallelism 1),
/// planned inside the run's scope.
async fn graph(run: &MockRun) -> (JobGraph, Arc<Mutex<Vec<String>>>) {
    let (a, b) = run
        .scope(async {
            (
                crate::create_source(&descriptor("a")).unwrap(),
                crate::create_source(&descriptor("b")).unwrap(),
            )
        })
        .await;
    let mut graph = JobGraph::default();
    let mut inputs = Vec::new();
    for (name, binding, parallelism) in [("a", a, 2), ("b", b, 1)] {
        let spec = SourceSpec {
            factory: binding.factory,
            prepare: None,
            event_time: Some(Arc::new(TsColumn)),
        };
        let mut source = node(name, vec![], NodeKind::Source(spec), parallelism);
        source.is_sink = false;
        inputs.push(Edge {
            from: graph.add(source),
            kind: EdgeKind::Rebalance,
        });
    }
    let log = Arc::new(Mutex::new(Vec::new()));
    let recorder = log.clone();
    let factory = move |_: &SubtaskContext| -> EngineResult<Box<dyn Operator>> {
        Ok(Box::new(Recorder(recorder.clone())))
    };
    graph.add(node(
        "sink",
        inputs,
        NodeKind::Operator(Arc::new(factory)),
        1,
    ));
    (graph, log)
}

fn json(table: &str, line: u64, text: &str) -> MockStep {
    MockStep::Rows {
        table: table.into(),
        rows: MockRows {
            format: MockFormat::Json,
            origin: "case.toml".into(),
            chunks: vec![(line, text.into())],
        },
    }
}

async fn play(steps: Vec<MockStep>) -> Vec<String> {
    let run = MockRun::new();
    let (graph, log) = graph(&run).await;
    run.load(steps).unwrap();
    let config = JobConfig {
        auto_watermark_interval: Duration::ZERO,
        ..JobConfig::default()
    };
    let handle = weir_runtime::job::start(&graph, &config).unwrap();
    let metrics = handle.metrics();
    run.drive(&metrics).await;
    handle.wait().await.unwrap();
    let log = log.lock().unwrap().clone();
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_arrive_in_script_order_across_sources() {
    for _ in 0..5 {
        let log = play(vec![
            json("b", 1, r#"{"id": 1}"#),
            json("a", 2, "{\"id\": 2}\n{\"id\": 3}"),
            json("b", 4, r#"{"id": 4}"#),
            json("a", 5, r#"{"id": 5}"#),
        ])
        .await;
        assert_eq!(log, ["b:1", "a:2", "a:3", "b:4", "a:5"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watermarks_come_from_rows_unless_the_script_sets_them() {
    // 1000 and 5000 ms: the rows' event time gives watermarks on `b`; `a` has none of
    // its own but its second subtask ended (so it does not hold the minimum back).
    let from_rows = play(vec![
        json("a", 1, r#"{"id": 1, "ts": 1000}"#),
        json("b", 2, r#"{"id": 2, "ts": 5000}"#),
        json("a", 3, r#"{"id": 3, "ts": 7000}"#),
    ])
    .await;
    // (After the script the sources end in any order: what follows is end-of-input.)
    assert_eq!(from_rows[..5], ["a:1", "b:2", "wm:1000", "a:3", "wm:5000"]);

    let scripted = play(vec![
        json("a", 1, r#"{"id": 1, "ts": 1000}"#),
        MockStep::Watermark {
            table: "a".into(),
            millis: 500,
        },
        json("b", 2, r#"{"id": 2, "ts": 5000}"#),
        json("a", 3, r#"{"id": 3, "ts": 9000}"#),
        MockStep::Watermark {
            table: "a".into(),
            millis: 8000,
        },
    ])
    .await;
    // a's rows (ts 1000, 9000) do not move its watermark: only the script's 500 and 8000.
    assert_eq!(scripted[..5], ["a:1", "b:2", "wm:500", "a:3", "wm:5000"]);
    assert!(!scripted.contains(&"wm:1000".to_string()), "{scripted:?}");
    assert!(!scripted.contains(&"wm:9000".to_string()), "{scripted:?}");
}

#[tokio::test]
async fn bad_rows_and_unknown_tables_are_errors_with_their_line() {
    let run = MockRun::new();
    let _ = graph(&run).await;
    let err = run
        .load(vec![json("a", 7, "{\"id\": 1}\n{\"id\": \"x\"}")])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("case.toml:8: source 'a': cannot read row"),
        "{err}"
    );
    let err = run.load(vec![json("c", 1, "{}")]).unwrap_err().to_string();
    assert_eq!(err, "the job does not read table 'c' (it reads: a, b)");
}

#[tokio::test]
async fn the_sink_renders_rows_like_print() {
    let run = MockRun::new();
    let binding = run
        .scope(async { crate::create_sink(&descriptor("out"), ChangelogKind::Updating) })
        .await
        .unwrap();
    let mut sink = binding
        .factory
        .create(&SubtaskContext::single("out"))
        .unwrap();
    let kinds = arrow::array::Int8Array::from(vec![0, 1, 2]);
    let batch = RecordBatch::try_from_iter(vec![
        (
            "id",
            Arc::new(Int64Array::from(vec![1, 1, 1])) as arrow::array::ArrayRef,
        ),
        (weir_types::ROW_KIND_COLUMN, Arc::new(kinds)),
    ])
    .unwrap();
    sink.process_batch(0, batch, &mut Output::default())
        .unwrap();
    let sinks = run.sinks();
    assert_eq!(sinks[0].name, "out");
    assert_eq!(sinks[0].changelog, ChangelogKind::Updating);
    assert_eq!(sinks[0].rows, ["+I[1]", "-U[1]", "+U[1]"]);
}
