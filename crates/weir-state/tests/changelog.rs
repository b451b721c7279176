//! Incremental in-memory chains through checkpoint storage: a delta chain restores
//! what a full checkpoint would (at the same and at another parallelism), a corrupt
//! delta makes the previous checkpoint the latest, retention keeps every file a
//! retained checkpoint references, and savepoints refuse chains.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Int64Array, UInt16Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use common::MAX_PARALLELISM;
use weir_state::{
    Changelog, CheckpointMetadata, CheckpointStorage, StateSnapshot, KEY_GROUP_COLUMN,
};
use weir_types::keygroup::key_group_range;

/// The state of the test job: key -> value, with key group `key % MAX_PARALLELISM`.
type State = BTreeMap<i64, i64>;

fn group(key: i64) -> u16 {
    (key as usize % MAX_PARALLELISM) as u16
}

fn acc(rows: &[(i64, i64)]) -> RecordBatch {
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new(KEY_GROUP_COLUMN, DataType::UInt16, false),
            Field::new("k", DataType::Int64, true),
            Field::new("value", DataType::Int64, false),
        ])),
        vec![
            Arc::new(UInt16Array::from_iter_values(
                rows.iter().map(|r| group(r.0)),
            )),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
        ],
    )
    .expect("batch")
}

fn removed(keys: &[i64]) -> RecordBatch {
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new(KEY_GROUP_COLUMN, DataType::UInt16, false),
            Field::new("k", DataType::Int64, true),
        ])),
        vec![
            Arc::new(UInt16Array::from_iter_values(
                keys.iter().map(|k| group(*k)),
            )),
            Arc::new(Int64Array::from_iter_values(keys.iter().copied())),
        ],
    )
    .expect("batch")
}

/// One subtask of the test job: its state, its chain, and its changes since the
/// last snapshot.
struct Subtask {
    index: usize,
    parallelism: usize,
    state: State,
    changed: BTreeSet<i64>,
    removed: BTreeSet<i64>,
    log: Changelog,
}

impl Subtask {
    fn new(index: usize, parallelism: usize) -> Subtask {
        let range = key_group_range(index, MAX_PARALLELISM, parallelism);
        let keys = BTreeMap::from([(
            "acc".to_string(),
            vec![KEY_GROUP_COLUMN.to_string(), "k".to_string()],
        )]);
        Subtask {
            index,
            parallelism,
            state: State::new(),
            changed: BTreeSet::new(),
            removed: BTreeSet::new(),
            log: Changelog::new([range.start as u32, range.end as u32 - 1], keys),
        }
    }

    fn owns(&self, key: i64) -> bool {
        key_group_range(self.index, MAX_PARALLELISM, self.parallelism)
            .contains(&(group(key) as usize))
    }

    fn put(&mut self, key: i64, value: i64) {
        self.state.insert(key, value);
        self.changed.insert(key);
    }

    fn remove(&mut self, key: i64) {
        if self.state.remove(&key).is_some() {
            self.changed.remove(&key);
            self.removed.insert(key);
        }
    }

    fn snapshot(&mut self, id: u64) -> (bool, StateSnapshot) {
        let full = self.log.wants_full(self.state.len() as u64);
        let mut s = StateSnapshot::new();
        let rows: Vec<(i64, i64)> = if full {
            self.state.iter().map(|(k, v)| (*k, *v)).collect()
        } else {
            self.changed.iter().map(|k| (*k, self.state[k])).collect()
        };
        s.add_keyed("acc", acc(&rows)).expect("rows");
        if !full {
            let keys: Vec<i64> = self.removed.iter().copied().collect();
            s.add_keyed("acc.removed", removed(&keys)).expect("removed");
        }
        self.changed.clear();
        self.removed.clear();
        (
            full,
            self.log.snapshot(id, full, s).expect("chain snapshot"),
        )
    }
}

/// Checkpoint `id` of all subtasks; returns how many were bases, and bytes written.
async fn checkpoint(
    storage: &CheckpointStorage,
    id: u64,
    subtasks: &mut [Subtask],
) -> (usize, u64) {
    let writer = storage.checkpoint(id);
    let mut handles = Vec::new();
    let mut bases = 0;
    for subtask in subtasks.iter_mut() {
        let (full, snapshot) = subtask.snapshot(id);
        bases += usize::from(full);
        handles.push(
            writer
                .write_snapshot("agg", subtask.index, &snapshot)
                .await
                .expect("write"),
        );
    }
    let mut metadata = CheckpointMetadata::new(
        id,
        1_700_000_000_000,
        MAX_PARALLELISM,
        serde_json::json!({}),
    );
    metadata
        .add_operator("agg", subtasks.len(), handles)
        .expect("operator");
    let done = writer.complete(metadata).await.expect("complete");
    for subtask in subtasks.iter_mut() {
        subtask.log.checkpoint_complete(id);
    }
    (bases, done.metadata().total_size())
}

fn restored_state(snapshot: &StateSnapshot) -> State {
    let mut state = State::new();
    let Some(table) = snapshot.table("acc") else {
        return state;
    };
    for batch in table.batches() {
        let k = batch
            .column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("k");
        let v = batch
            .column(2)
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("v");
        for i in 0..batch.num_rows() {
            assert!(state.insert(k.value(i), v.value(i)).is_none(), "key twice");
        }
    }
    state
}

/// Runs a job of 2 subtasks over 4 checkpoints (a base, then deltas with updates,
/// removals and re-added keys); returns the storage and the state after each.
async fn run(dir: &Path) -> (CheckpointStorage, Vec<State>) {
    let storage = CheckpointStorage::open(dir.to_str().expect("utf-8"))
        .await
        .expect("open");
    let mut subtasks = vec![Subtask::new(0, 2), Subtask::new(1, 2)];
    let mut states = Vec::new();
    let apply = |subtasks: &mut Vec<Subtask>, key: i64, value: Option<i64>| {
        for s in subtasks.iter_mut().filter(|s| s.owns(key)) {
            match value {
                Some(v) => s.put(key, v),
                None => s.remove(key),
            }
        }
    };
    for k in 0..1000 {
        apply(&mut subtasks, k, Some(k));
    }
    let (bases, base_bytes) = checkpoint(&storage, 1, &mut subtasks).await;
    assert_eq!(bases, 2, "the first checkpoint writes bases");
    for round in 2..=4i64 {
        for k in (0..1000).step_by(50) {
            apply(&mut subtasks, k + round, Some(k * round));
        }
        for k in (0..1000).step_by(97) {
            apply(&mut subtasks, k + round, None);
        }
        apply(&mut subtasks, 5000 + round, Some(round));
        apply(&mut subtasks, 3, Some(round * 100));
        let state: State = subtasks.iter().flat_map(|s| s.state.clone()).collect();
        let (bases, bytes) = checkpoint(&storage, round as u64, &mut subtasks).await;
        assert_eq!(bases, 0, "checkpoint {round} writes deltas");
        // About 25 changed keys of 1000, plus the Arrow IPC framing of 4 small tables.
        assert!(
            bytes * 3 < base_bytes,
            "checkpoint {round} wrote {bytes} bytes, the bases {base_bytes}"
        );
        states.push(state);
    }
    let first: State = (0..1000).map(|k| (k, k)).collect();
    states.insert(0, first);
    (storage, states)
}

async fn restore_all(storage: &CheckpointStorage, parallelism: usize) -> (u64, State) {
    let latest = storage.latest_completed().await.expect("latest");
    let checkpoint = latest.checkpoint.expect("a checkpoint");
    let mut state = State::new();
    for subtask in 0..parallelism {
        let snapshot = checkpoint
            .restore("agg", subtask, parallelism)
            .await
            .expect("restore");
        let part = restored_state(&snapshot);
        for key in part.keys() {
            let range = key_group_range(subtask, MAX_PARALLELISM, parallelism);
            assert!(
                range.contains(&(group(*key) as usize)),
                "key {key} at {subtask}"
            );
        }
        let before = state.len();
        let added = part.len();
        state.extend(part);
        assert_eq!(state.len(), before + added, "a key restored twice");
    }
    (checkpoint.id(), state)
}

#[tokio::test]
async fn a_delta_chain_restores_the_full_state_at_any_parallelism() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (storage, states) = run(dir.path()).await;
    for parallelism in [1, 2, 3, 4] {
        let (id, state) = restore_all(&storage, parallelism).await;
        assert_eq!(id, 4);
        assert_eq!(state, states[3], "at parallelism {parallelism}");
    }
    let metadata = std::fs::read_to_string(dir.path().join("chk-4/_metadata")).expect("md");
    assert!(metadata.contains("\"format_version\": 3"), "{metadata}");
}

#[tokio::test]
async fn a_corrupt_delta_in_the_latest_checkpoint_falls_back_to_the_previous_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (storage, states) = run(dir.path()).await;
    let metadata: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("chk-4/_metadata")).expect("md"),
    )
    .expect("json");
    let files = metadata["operators"]["agg"]["changelog"][1]["files"]
        .as_array()
        .expect("chain of subtask 1");
    assert_eq!(files.len(), 4, "a base and three deltas");
    let newest = files[3]["file"]["path"].as_str().expect("path");
    let path = dir.path().join(newest);
    let mut bytes = std::fs::read(&path).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&path, bytes).expect("damage");
    let latest = storage.latest_completed().await.expect("latest");
    assert_eq!(latest.checkpoint.as_ref().map(|c| c.id()), Some(3));
    let message = latest.skipped[0].to_string();
    assert!(message.starts_with("checkpoint 4 at "), "{message}");
    assert!(
        message.contains(newest) && message.contains("checksum"),
        "{message}"
    );
    let (id, state) = restore_all(&storage, 2).await;
    assert_eq!(id, 3);
    assert_eq!(state, states[2]);
    // A missing delta is reported the same way.
    std::fs::remove_file(&path).expect("remove");
    let latest = storage.latest_completed().await.expect("latest");
    assert_eq!(latest.checkpoint.map(|c| c.id()), Some(3));
    assert!(latest.skipped[0].to_string().contains("is missing"));
}

#[tokio::test]
async fn retention_keeps_every_file_a_retained_checkpoint_references() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (storage, states) = run(dir.path()).await;
    // A file no checkpoint references (a declined checkpoint's upload).
    let stray = dir.path().join("shared/agg/0-99-deadbeef.arrow");
    std::fs::write(&stray, b"stray").expect("stray");
    let deleted = storage.retain(1).await.expect("retain");
    assert_eq!(deleted, vec![3, 2, 1]);
    assert!(!stray.exists(), "unreferenced files are deleted");
    // Checkpoint 4 references the bases of checkpoint 1 and the deltas since.
    let (id, state) = restore_all(&storage, 2).await;
    assert_eq!(id, 4);
    assert_eq!(state, states[3]);
    let checkpoint = storage
        .latest_completed()
        .await
        .expect("latest")
        .checkpoint
        .expect("checkpoint 4");
    let files: Vec<_> = checkpoint.metadata().changelog_files().collect();
    assert_eq!(files.len(), 8);
    assert!(files.iter().any(|f| f.checkpoint_id == 1 && f.full));
}

#[tokio::test]
async fn savepoints_refuse_incremental_snapshots() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut subtask = Subtask::new(0, 1);
    subtask.put(1, 1);
    let (_, snapshot) = subtask.snapshot(1);
    let writer = CheckpointStorage::savepoint(dir.path().to_str().expect("utf-8"), 1)
        .await
        .expect("writer");
    let err = writer
        .write_snapshot("agg", 0, &snapshot)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("savepoints hold full Arrow tables"),
        "{err}"
    );
}
