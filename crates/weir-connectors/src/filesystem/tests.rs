//! Tests of the `filesystem` source and sink, on temporary folders.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Int32Array, Int8Array, StringArray};
use arrow::datatypes::{DataType, Field, Int32Type, Int64Type, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use weir_runtime::{JobMetrics, Output, SourceEvent, SubtaskContext};
use weir_types::{ChangelogKind, ROW_KIND_COLUMN};

use super::source::build_source;
use crate::descriptor::{MetadataColumn, TableDescriptor};
use crate::{create_sink, create_source};

pub(super) fn table(
    base: &Path,
    options: &[(&str, &str)],
    metadata: &[(&str, &str)],
) -> TableDescriptor {
    let mut fields = vec![
        Field::new("id", DataType::Int32, true),
        Field::new("name", DataType::Utf8, true),
    ];
    let mut meta = Vec::new();
    for (column, key) in metadata {
        let data_type = match *key {
            "file.size" => DataType::Int64,
            "file.modification-time" => {
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
            }
            _ => DataType::Utf8,
        };
        fields.push(Field::new(*column, data_type, true));
        meta.push(MetadataColumn {
            column: column.to_string(),
            key: key.to_string(),
            is_virtual: true,
        });
    }
    let mut all = vec![("connector", "filesystem")];
    all.extend_from_slice(options);
    TableDescriptor {
        name: "t".into(),
        schema: Arc::new(Schema::new(fields)),
        metadata: meta,
        primary_key: vec![],
        options: all
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        base_dir: base.to_path_buf(),
    }
}

pub(super) fn ctx(subtask: usize, parallelism: usize, metrics: &Arc<JobMetrics>) -> SubtaskContext {
    SubtaskContext {
        node_name: "source".into(),
        subtask,
        parallelism,
        max_parallelism: 128,
        metrics: metrics.clone(),
        late_rows: None,
        checkpointing: false,
        checkpoint_interval: None,
        state_backend: Default::default(),
    }
}

/// Reads a subtask to the end: its batches and finished splits, or the first error.
pub(super) async fn read_all(
    table: &TableDescriptor,
    chunk_size: usize,
    ctx: &SubtaskContext,
) -> Result<(Vec<(usize, RecordBatch)>, Vec<usize>), String> {
    let binding = build_source(table, chunk_size).map_err(|e| e.to_string())?;
    let mut reader = binding
        .factory
        .create_reader(ctx)
        .map_err(|e| e.to_string())?;
    let mut batches = Vec::new();
    let mut finished = Vec::new();
    loop {
        match reader.next().await.map_err(|e| e.to_string())? {
            SourceEvent::Batch { split, batch } => batches.push((split, batch)),
            SourceEvent::SplitFinished(split) => finished.push(split),
            SourceEvent::Finished => return Ok((batches, finished)),
            SourceEvent::Watermark(w) => panic!("this reader emits no watermarks: {w:?}"),
        }
    }
}

pub(super) fn ids(batches: &[(usize, RecordBatch)]) -> Vec<i32> {
    batches
        .iter()
        .flat_map(|(_, b)| b.column(0).as_primitive::<Int32Type>().values().to_vec())
        .collect()
}

#[tokio::test]
async fn reads_a_folder_with_metadata_split_over_subtasks() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    fs::create_dir_all(data.join("sub")).unwrap();
    fs::write(
        data.join("a.json"),
        "{\"id\":1,\"name\":\"x\"}\n{\"id\":2}\n",
    )
    .unwrap();
    fs::write(data.join("sub/b.json"), "{\"id\":3}").unwrap();
    fs::write(data.join("c.json"), "{\"id\":4}\n").unwrap();
    fs::write(data.join("_SUCCESS"), "").unwrap();
    let t = table(
        dir.path(),
        &[("path", "data"), ("format", "json")],
        &[
            ("file", "file.name"),
            ("size", "file.size"),
            ("path", "file.path"),
        ],
    );
    let metrics = Arc::new(JobMetrics::default());
    let (batches, finished) = read_all(&t, 4096, &ctx(0, 2, &metrics)).await.unwrap();
    // Sorted: a.json, c.json, sub/b.json; subtask 0 of 2 reads the first and the third.
    assert_eq!(ids(&batches), vec![1, 2, 3]);
    assert_eq!(finished, vec![0, 1]);
    let first = &batches[0].1;
    assert_eq!(first.schema(), t.schema);
    assert_eq!(first.column(2).as_string::<i32>().value(1), "a.json");
    assert_eq!(first.column(3).as_primitive::<Int64Type>().value(0), 29);
    let path = first.column(4).as_string::<i32>().value(0).to_string();
    assert!(
        path.ends_with("/data/a.json") && Path::new(&path).is_absolute(),
        "{path}"
    );
    let (other, _) = read_all(&t, 4096, &ctx(1, 2, &metrics)).await.unwrap();
    assert_eq!(ids(&other), vec![4]);
}

#[tokio::test]
async fn malformed_line_names_path_and_line_across_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..100 {
        text.push_str(&format!("{{\"id\":{i}}}\n"));
    }
    text.push_str("{\"id\":oops}\n");
    fs::write(dir.path().join("in.json"), text).unwrap();
    let t = table(dir.path(), &[("path", "in.json"), ("format", "json")], &[]);
    let metrics = Arc::new(JobMetrics::default());
    let err = read_all(&t, 64, &ctx(0, 1, &metrics)).await.unwrap_err();
    assert!(
        err.starts_with("in.json:101: cannot parse JSON record: "),
        "{err}"
    );
    assert!(err.contains("(record: {\"id\":oops})"), "{err}");
}

#[tokio::test]
async fn ignore_parse_errors_counts_skipped_records() {
    let dir = tempfile::tempdir().unwrap();
    let text = "{\"id\":1}\nnot json\n{\"id\":\"x\"}\n{\"id\":3,\n{\"id\":4}\n";
    fs::write(dir.path().join("in.json"), text).unwrap();
    let t = table(
        dir.path(),
        &[
            ("path", "in.json"),
            ("format", "json"),
            ("json.ignore-parse-errors", "true"),
        ],
        &[],
    );
    let metrics = Arc::new(JobMetrics::default());
    let (batches, _) = read_all(&t, 4096, &ctx(0, 1, &metrics)).await.unwrap();
    let ids: Vec<Option<i32>> = batches
        .iter()
        .flat_map(|(_, b)| {
            b.column(0)
                .as_primitive::<Int32Type>()
                .iter()
                .collect::<Vec<_>>()
        })
        .collect();
    // A value of the wrong type is NULL (as in Flink); malformed records are skipped.
    assert_eq!(ids, vec![Some(1), None, Some(4)]);
    assert_eq!(JobMetrics::get(&metrics.records_skipped), 2);
}

#[test]
fn creation_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let err = |options: &[(&str, &str)], metadata: &[(&str, &str)]| {
        create_source(&table(dir.path(), options, metadata))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let missing = err(&[("path", "data/missing.json"), ("format", "json")], &[]);
    assert!(
        missing.starts_with("table 't': path 'data/missing.json' does not exist (resolved to /"),
        "{missing}"
    );
    fs::write(dir.path().join("in.json"), "").unwrap();
    let e = err(
        &[("path", "in.json"), ("format", "json"), ("json.foo", "1")],
        &[],
    );
    assert!(
        e.contains("unsupported option(s) for format 'json': json.foo"),
        "{e}"
    );
    let e = err(
        &[
            ("path", "in.json"),
            ("format", "json"),
            ("csv.field-delimiter", ";"),
        ],
        &[],
    );
    assert!(
        e.contains("unsupported option(s) for connector 'filesystem': csv.field-delimiter"),
        "{e}"
    );
    let e = err(&[("path", "in.json")], &[]);
    assert!(e.contains("missing required option 'format'"), "{e}");
    let e = err(&[("path", "in.json"), ("format", "xml")], &[]);
    assert!(e.contains("invalid value 'xml' for option 'format'"), "{e}");
    let e = err(&[("path", "in.json"), ("format", "avro")], &[]);
    assert!(
        e.starts_with("table 't': format 'avro' reads and writes single Avro datums in messages"),
        "{e}"
    );
    let e = err(
        &[("path", "in.json"), ("format", "json")],
        &[("m", "file.owner")],
    );
    assert!(e.contains("no metadata key 'file.owner'"), "{e}");
    assert!(e.contains("available keys: file.path, file.name, file.size, file.modification-time"));
    let e = err(
        &[
            ("path", "in.json"),
            ("format", "debezium-json"),
            ("debezium-json.schema-includes", "true"),
        ],
        &[],
    );
    assert!(e.contains("debezium-json.schema-include"), "{e}");
    assert!(create_source(&table(
        dir.path(),
        &[("path", "in.json"), ("format", "json")],
        &[]
    ))
    .is_ok());
}

#[tokio::test]
async fn reads_a_debezium_changelog_with_metadata() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("cdc.json"),
        "{\"before\":null,\"after\":{\"id\":1,\"name\":\"a\"},\"op\":\"c\"}\n\
         {\"before\":{\"id\":1,\"name\":\"a\"},\"after\":{\"id\":1,\"name\":\"b\"},\"op\":\"u\"}\n\
         {\"before\":{\"id\":1,\"name\":\"b\"},\"after\":null,\"op\":\"d\"}\n",
    )
    .unwrap();
    let t = table(
        dir.path(),
        &[("path", "cdc.json"), ("format", "debezium-json")],
        &[("file", "file.name")],
    );
    let binding = build_source(&t, 4096).unwrap();
    assert_eq!(binding.changelog, ChangelogKind::Updating);
    let metrics = Arc::new(JobMetrics::default());
    let (batches, _) = read_all(&t, 4096, &ctx(0, 1, &metrics)).await.unwrap();
    let b = &batches[0].1;
    assert_eq!(b.num_columns(), 4);
    assert_eq!(b.schema().field(3).name(), ROW_KIND_COLUMN);
    assert_eq!(b.column(2).as_string::<i32>().value(2), "cdc.json");
    let kinds: &Int8Array = b.column(3).as_primitive();
    assert_eq!(kinds.values().to_vec(), vec![0, 1, 2, 3]);
    assert_eq!(b.column(1).as_string::<i32>().value(2), "b");
}

fn sink_batch(kinds: Option<Vec<i8>>) -> RecordBatch {
    let id: ArrayRef = Arc::new(Int32Array::from(vec![1, 2]));
    let name: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), None]));
    let mut columns = vec![("id", id), ("name", name)];
    if let Some(kinds) = kinds {
        columns.push((
            ROW_KIND_COLUMN,
            Arc::new(Int8Array::from(kinds)) as ArrayRef,
        ));
    }
    RecordBatch::try_from_iter(columns).unwrap()
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn sink_part_files_are_invisible_until_finish() {
    let dir = tempfile::tempdir().unwrap();
    let t = table(dir.path(), &[("path", "out"), ("format", "json")], &[]);
    let binding = create_sink(&t, ChangelogKind::AppendOnly).unwrap();
    let metrics = Arc::new(JobMetrics::default());
    let mut sink = binding.factory.create(&ctx(1, 2, &metrics)).unwrap();
    let mut out = Output::default();
    sink.process_batch(0, sink_batch(None), &mut out).unwrap();
    let out_dir = dir.path().join("out");
    let before = names_in(&out_dir);
    assert_eq!(before.len(), 1);
    assert!(
        before[0].starts_with(".part-") && before[0].contains("-1-0.inprogress."),
        "{before:?}"
    );
    sink.finish(&mut out).unwrap();
    let after = names_in(&out_dir);
    assert_eq!(after.len(), 1);
    assert!(
        after[0].starts_with("part-") && after[0].ends_with("-1-0"),
        "{after:?}"
    );
    let text = fs::read_to_string(out_dir.join(&after[0])).unwrap();
    assert_eq!(
        text,
        "{\"id\":1,\"name\":\"a\"}\n{\"id\":2,\"name\":null}\n"
    );
    assert!(out.is_empty());
}

#[test]
fn sink_rolls_files_and_cleans_up_when_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let t = table(
        dir.path(),
        &[
            ("path", "out"),
            ("format", "csv"),
            ("sink.rolling-policy.file-size", "1b"),
        ],
        &[],
    );
    let binding = create_sink(&t, ChangelogKind::AppendOnly).unwrap();
    let metrics = Arc::new(JobMetrics::default());
    let mut sink = binding.factory.create(&ctx(0, 1, &metrics)).unwrap();
    let mut out = Output::default();
    sink.process_batch(0, sink_batch(None), &mut out).unwrap();
    sink.process_batch(0, sink_batch(None), &mut out).unwrap();
    let names = names_in(&dir.path().join("out"));
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("part-")));
    let text = fs::read_to_string(dir.path().join("out").join(&names[0])).unwrap();
    assert_eq!(text, "1,a\n2,\n");

    let t = table(dir.path(), &[("path", "out2"), ("format", "json")], &[]);
    let binding = create_sink(&t, ChangelogKind::AppendOnly).unwrap();
    let mut sink = binding.factory.create(&ctx(0, 1, &metrics)).unwrap();
    sink.process_batch(0, sink_batch(None), &mut out).unwrap();
    drop(sink);
    assert!(names_in(&dir.path().join("out2")).is_empty());
}

#[test]
fn sink_refuses_updates_unless_debezium_json() {
    let dir = tempfile::tempdir().unwrap();
    let t = table(dir.path(), &[("path", "out"), ("format", "json")], &[]);
    let err = create_sink(&t, ChangelogKind::Updating)
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        err,
        "table 't': sink format 'json' cannot write an updating stream (rows with -U/+U/-D); \
         use 'debezium-json' or an upsert sink"
    );
    let t = table(
        dir.path(),
        &[("path", "out"), ("format", "debezium-json")],
        &[],
    );
    let binding = create_sink(&t, ChangelogKind::Updating).unwrap();
    let metrics = Arc::new(JobMetrics::default());
    let mut sink = binding.factory.create(&ctx(0, 1, &metrics)).unwrap();
    let mut out = Output::default();
    sink.process_batch(0, sink_batch(Some(vec![0, 3])), &mut out)
        .unwrap();
    sink.finish(&mut out).unwrap();
    let names = names_in(&dir.path().join("out"));
    let text = fs::read_to_string(dir.path().join("out").join(&names[0])).unwrap();
    assert_eq!(
        text,
        "{\"before\":null,\"after\":{\"id\":1,\"name\":\"a\"},\"op\":\"c\"}\n\
         {\"before\":{\"id\":2,\"name\":null},\"after\":null,\"op\":\"d\"}\n"
    );
}

#[test]
fn sink_option_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = |options: &[(&str, &str)]| {
        create_sink(&table(dir.path(), options, &[]), ChangelogKind::AppendOnly)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let e = err(&[
        ("path", "o"),
        ("format", "json"),
        ("sink.rolling-policy.file-size", "big"),
    ]);
    assert!(
        e.contains("invalid value 'big' for option 'sink.rolling-policy.file-size'"),
        "{e}"
    );
    let e = err(&[("path", "o"), ("format", "json"), ("sink.parallelism", "0")]);
    assert!(e.contains("'sink.parallelism'"), "{e}");
    let e = err(&[("format", "json")]);
    assert!(e.contains("missing required option 'path'"), "{e}");
    let ok = create_sink(
        &table(
            dir.path(),
            &[
                ("path", "o"),
                ("format", "csv"),
                ("sink.rolling-policy.file-size", "128 MB"),
                ("sink.rolling-policy.rollover-interval", "10 min"),
                ("sink.rolling-policy.check-interval", "1 min"),
                ("sink.parallelism", "3"),
            ],
            &[],
        ),
        ChangelogKind::AppendOnly,
    )
    .unwrap();
    assert_eq!(ok.parallelism, Some(3));
    assert_eq!(ok.description, "filesystem(path=o, format=csv)");
}
