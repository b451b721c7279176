//! Tests of the `filesystem` source's checkpointed positions: read k events, snapshot,
//! restore new readers at the same and at another parallelism, read the rest; together
//! they read every row exactly once.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use weir_runtime::{SourceEvent, SourceReader, StateSnapshot, SubtaskContext};

use super::source::build_source;
use super::state::union_of;
use crate::descriptor::TableDescriptor;

fn table(base: &Path, options: &[(&str, &str)]) -> TableDescriptor {
    let mut all = vec![("connector", "filesystem")];
    all.extend_from_slice(options);
    TableDescriptor {
        name: "t".into(),
        schema: Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ])),
        metadata: vec![],
        primary_key: vec![],
        options: all
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        base_dir: base.to_path_buf(),
    }
}

fn ctx(subtask: usize, parallelism: usize) -> SubtaskContext {
    SubtaskContext {
        subtask,
        parallelism,
        ..SubtaskContext::single("source")
    }
}

fn readers(
    t: &TableDescriptor,
    chunk_size: usize,
    parallelism: usize,
) -> Vec<Box<dyn SourceReader>> {
    let binding = build_source(t, chunk_size).unwrap();
    (0..parallelism)
        .map(|i| binding.factory.create_reader(&ctx(i, parallelism)).unwrap())
        .collect()
}

/// What a reader returned: row ids, finished split ids, whether it ended.
#[derive(Default)]
struct Read {
    ids: Vec<i64>,
    finished_splits: Vec<String>,
    ended: bool,
    events: usize,
}

fn ids_of(batch: &RecordBatch) -> Vec<i64> {
    batch
        .column(0)
        .as_primitive::<Int64Type>()
        .values()
        .to_vec()
}

/// Calls `next` up to `limit` times (or to the end).
async fn read(reader: &mut dyn SourceReader, limit: usize, into: &mut Read) {
    while into.events < limit && !into.ended {
        into.events += 1;
        match reader.next().await.unwrap() {
            SourceEvent::Batch { batch, .. } => into.ids.extend(ids_of(&batch)),
            SourceEvent::SplitFinished(split) => into.finished_splits.push(reader.split_id(split)),
            SourceEvent::Finished => into.ended = true,
            SourceEvent::Watermark(w) => panic!("no watermarks expected: {w:?}"),
        }
    }
}

/// Reads `k` events of each of `old` subtasks, snapshots, restores `new` subtasks and
/// reads them to the end; returns all ids read (sorted) and whether the old readers
/// had all ended before the snapshot.
async fn interrupted(
    t: &TableDescriptor,
    chunk_size: usize,
    old: usize,
    new: usize,
    k: usize,
) -> (Vec<i64>, bool) {
    let mut ids = Vec::new();
    let mut snapshots = Vec::new();
    let mut all_ended = true;
    let mut finished_before = Vec::new();
    for mut reader in readers(t, chunk_size, old) {
        let mut r = Read::default();
        read(reader.as_mut(), k, &mut r).await;
        all_ended &= r.ended;
        ids.extend(r.ids);
        finished_before.extend(r.finished_splits);
        assert!(reader.is_rewindable());
        snapshots.push(reader.snapshot_position().unwrap());
    }
    let restored = union_of(&snapshots);
    let mut finished_after = Vec::new();
    for mut reader in readers(t, chunk_size, new) {
        reader.restore_position(restored.clone()).unwrap();
        let mut r = Read::default();
        read(reader.as_mut(), usize::MAX, &mut r).await;
        ids.extend(r.ids);
        finished_after.extend(r.finished_splits);
    }
    // Every split reports its end after the restore (finished ones at once), so none
    // holds the watermark back.
    for split in &finished_before {
        assert!(finished_after.contains(split), "{split} not reported");
    }
    ids.sort_unstable();
    (ids, all_ended)
}

/// Checks every k, from 0 until the old readers had ended before the snapshot.
async fn check_every_k(t: &TableDescriptor, chunk_size: usize, expected: &[i64]) {
    for (old, new) in [(1, 1), (2, 1), (2, 3), (3, 2)] {
        for k in 0.. {
            let (ids, ended) = interrupted(t, chunk_size, old, new, k).await;
            assert_eq!(
                ids, expected,
                "{old} -> {new} subtasks, snapshot after {k} events"
            );
            if ended {
                break;
            }
        }
    }
}

/// Writes `rows` JSON lines with ids from `first`, with blank and (when `bad`)
/// malformed lines between them.
fn json_lines(first: i64, rows: i64, bad: bool) -> String {
    let mut text = String::new();
    for id in first..first + rows {
        text.push_str(&format!("{{\"id\":{id},\"name\":\"n{id}\"}}\n"));
        if id % 7 == 3 {
            text.push('\n');
        }
        if bad && id % 11 == 5 {
            text.push_str("{not json\n");
        }
    }
    text
}

#[tokio::test]
async fn json_folder_resumes_exactly_once_at_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    fs::create_dir_all(data.join("sub")).unwrap();
    fs::write(data.join("a.json"), json_lines(0, 30, true)).unwrap();
    let bom = format!("\u{feff}{}", json_lines(100, 12, false));
    fs::write(data.join("b.json"), bom).unwrap();
    let no_newline = json_lines(200, 9, true);
    fs::write(data.join("sub/c.json"), no_newline.trim_end()).unwrap();
    fs::write(data.join("d.json"), "").unwrap();
    fs::write(data.join("e.json"), json_lines(300, 1, false)).unwrap();
    let t = table(
        dir.path(),
        &[
            ("path", "data"),
            ("format", "json"),
            ("json.ignore-parse-errors", "true"),
        ],
    );
    let mut expected: Vec<i64> = (0..30).chain(100..112).chain(200..209).collect();
    expected.push(300);
    check_every_k(&t, 64, &expected).await;
}

#[tokio::test]
async fn csv_file_resumes_exactly_once_at_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for id in 0..40 {
        text.push_str(&format!("{id},\"x,{id}\"\n"));
    }
    fs::write(dir.path().join("in.csv"), text).unwrap();
    let t = table(dir.path(), &[("path", "in.csv"), ("format", "csv")]);
    let expected: Vec<i64> = (0..40).collect();
    check_every_k(&t, 50, &expected).await;
}

#[tokio::test]
async fn a_position_inside_a_chunk_of_several_batches_skips_the_emitted_rows() {
    // More rows than a decoded batch holds, in one chunk: positions between batches
    // count the rows emitted from the chunk's start.
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("big.json"), json_lines(0, 20_000, false)).unwrap();
    let t = table(dir.path(), &[("path", "big.json"), ("format", "json")]);
    let mut first = readers(&t, 1 << 22, 1).pop().unwrap();
    let mut r = Read::default();
    read(first.as_mut(), 1, &mut r).await;
    let emitted = r.ids.len();
    assert!(emitted > 0 && emitted < 20_000, "{emitted}");
    let snapshot = first.snapshot_position().unwrap();
    // Restored with another chunk size: the rows are counted from the offset, not by
    // chunk.
    for chunk_size in [1 << 22, 1000] {
        let mut reader = readers(&t, chunk_size, 1).pop().unwrap();
        reader.restore_position(snapshot.clone()).unwrap();
        let mut rest = Read::default();
        read(reader.as_mut(), usize::MAX, &mut rest).await;
        let mut all = r.ids.clone();
        all.extend(rest.ids);
        assert_eq!(all, (0..20_000).collect::<Vec<i64>>(), "chunk {chunk_size}");
    }
    let expected: Vec<i64> = (0..20_000).collect();
    check_every_k(&t, 1 << 22, &expected).await;
}

#[tokio::test]
async fn restore_refuses_positions_of_another_source() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.json"), json_lines(0, 3, false)).unwrap();
    fs::write(dir.path().join("b.json"), json_lines(3, 3, false)).unwrap();
    let a = table(dir.path(), &[("path", "a.json"), ("format", "json")]);
    let b = table(dir.path(), &[("path", "b.json"), ("format", "json")]);
    let snapshot = readers(&a, 64, 1)[0].snapshot_position().unwrap();
    let err = readers(&b, 64, 1)[0]
        .restore_position(snapshot)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("positions of files (a.json, ...) none of which"),
        "{err}"
    );
    let mut other = StateSnapshot::new();
    let batch = RecordBatch::try_from_iter(vec![(
        "x",
        Arc::new(arrow::array::Int32Array::from(vec![1])) as _,
    )])
    .unwrap();
    other.add_union("shards", batch.clone()).unwrap();
    let err = readers(&a, 64, 1)[0]
        .restore_position(other)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("a table \"shards\" that the filesystem source"),
        "{err}"
    );
    let mut wrong = StateSnapshot::new();
    wrong.add_union("file_positions", batch).unwrap();
    let err = readers(&a, 64, 1)[0]
        .restore_position(wrong)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("has columns (x Int32), expected (split_id Utf8"),
        "{err}"
    );
}
