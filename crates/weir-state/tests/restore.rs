//! Writing snapshots and restoring them at the same and at other parallelisms,
//! savepoints, and concurrent writes.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::*;
use weir_state::{CheckpointMetadata, CheckpointStorage, StateSnapshot};
use weir_types::keygroup::key_group_range;

#[tokio::test]
async fn keyed_and_union_tables_round_trip_at_the_same_parallelism() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = CheckpointStorage::open(dir.path().to_str().expect("utf-8"))
        .await
        .expect("open");
    let written = write_checkpoint(&storage, 1, 2).await;
    assert!(!written.is_savepoint());
    assert!(dir.path().join("chk-1/_metadata").is_file());
    assert!(dir.path().join("chk-1/agg/0.arrow").is_file());

    let latest = storage.latest_completed().await.expect("latest");
    assert!(latest.skipped.is_empty(), "{:?}", latest.skipped);
    let checkpoint = latest.checkpoint.expect("a checkpoint");
    assert_eq!(checkpoint.id(), 1);
    assert_eq!(checkpoint.metadata().job["sql"], "fingerprint");
    assert_eq!(checkpoint.operator_ids().collect::<Vec<_>>(), vec!["agg"]);
    assert_eq!(checkpoint.operator_parallelism("agg"), Some(2));
    for subtask in 0..2 {
        let restored = checkpoint
            .restore("agg", subtask, 2)
            .await
            .expect("restore");
        let expected = snapshot(subtask, 2);
        assert_eq!(
            restored
                .table("acc")
                .expect("acc")
                .concat()
                .expect("concat"),
            expected
                .table("acc")
                .expect("acc")
                .concat()
                .expect("concat")
        );
        assert_eq!(splits(&restored), vec!["split-0", "split-1"]);
    }
    let unknown = checkpoint.restore("new-op", 0, 1).await.expect("restore");
    assert!(unknown.tables().is_empty());
    let err = checkpoint.restore("agg", 2, 2).await.unwrap_err();
    assert!(
        err.to_string().contains("subtask 2 of parallelism 2"),
        "{err}"
    );
}

/// Restores every subtask at `new_parallelism` and checks each key group's rows arrive
/// exactly once, at the subtask that owns it.
async fn check_rescale(new_parallelism: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = CheckpointStorage::open(dir.path().to_str().expect("utf-8"))
        .await
        .expect("open");
    let checkpoint = write_checkpoint(&storage, 5, 2).await;
    let mut seen: BTreeMap<(u16, i64), usize> = BTreeMap::new();
    for subtask in 0..new_parallelism {
        let restored = checkpoint
            .restore("agg", subtask, new_parallelism)
            .await
            .expect("restore");
        let range = key_group_range(subtask, MAX_PARALLELISM, new_parallelism);
        for (kg, value) in keyed_rows(&restored) {
            assert!(
                range.contains(&usize::from(kg)),
                "kg {kg} at subtask {subtask}"
            );
            *seen.entry((kg, value)).or_default() += 1;
        }
        assert_eq!(splits(&restored), vec!["split-0", "split-1"]);
    }
    let mut expected = BTreeMap::new();
    for kg in 0..MAX_PARALLELISM as u16 {
        for j in 0..ROWS_PER_GROUP {
            expected.insert((kg, i64::from(kg) * 1000 + j), 1usize);
        }
    }
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn restore_from_parallelism_2_at_1_gives_every_row_once() {
    check_rescale(1).await;
}

#[tokio::test]
async fn restore_from_parallelism_2_at_4_gives_every_row_once() {
    check_rescale(4).await;
}

#[tokio::test]
async fn restore_at_3_with_uneven_ranges_gives_every_row_once() {
    check_rescale(3).await;
}

#[tokio::test]
async fn a_subtask_reads_only_files_holding_its_key_groups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = CheckpointStorage::open(dir.path().to_str().expect("utf-8"))
        .await
        .expect("open");
    // Keyed table only: a union table would make every file needed.
    let writer = storage.checkpoint(1);
    let mut handles = Vec::new();
    for subtask in 0..2 {
        let mut s = StateSnapshot::new();
        s.add_keyed("acc", keyed_batch(subtask, 2)).expect("keyed");
        handles.push(
            writer
                .write_snapshot("agg", subtask, &s)
                .await
                .expect("write"),
        );
    }
    let mut metadata = CheckpointMetadata::new(1, 0, MAX_PARALLELISM, serde_json::Value::Null);
    metadata.add_operator("agg", 2, handles).expect("add");
    let checkpoint = writer.complete(metadata).await.expect("complete");
    // Damage subtask 1's file after validation: subtask 0 never reads it...
    std::fs::write(dir.path().join("chk-1/agg/1.arrow"), b"garbage").expect("overwrite");
    let restored = checkpoint.restore("agg", 0, 2).await.expect("restore");
    assert_eq!(keyed_rows(&restored).len(), 64 * ROWS_PER_GROUP as usize);
    // ...but subtask 1 does, and notices.
    let err = checkpoint.restore("agg", 1, 2).await.unwrap_err();
    assert!(
        err.to_string().contains("has 7 bytes, metadata says"),
        "{err}"
    );
}

#[tokio::test]
async fn empty_snapshots_store_no_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = CheckpointStorage::open(dir.path().to_str().expect("utf-8"))
        .await
        .expect("open");
    let handle = storage
        .write_snapshot(3, "calc", 0, &StateSnapshot::new())
        .await
        .expect("write");
    assert_eq!(handle.file, None);
    assert_eq!(handle.size(), 0);
    let mut metadata = CheckpointMetadata::new(3, 0, MAX_PARALLELISM, serde_json::Value::Null);
    metadata.add_operator("calc", 1, vec![handle]).expect("add");
    let checkpoint = storage.complete(metadata).await.expect("complete");
    assert!(!dir.path().join("chk-3/calc").exists());
    assert_eq!(checkpoint.operator_ids().collect::<Vec<_>>(), vec!["calc"]);
    let restored = checkpoint.restore("calc", 0, 3).await.expect("restore");
    assert!(restored.is_empty());
}

#[tokio::test]
async fn complete_refuses_metadata_whose_files_are_not_there() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = CheckpointStorage::open(dir.path().to_str().expect("utf-8"))
        .await
        .expect("open");
    let handle = storage
        .write_snapshot(4, "agg", 0, &snapshot(0, 1))
        .await
        .expect("write");
    std::fs::remove_file(dir.path().join("chk-4/agg/0.arrow")).expect("remove");
    let mut metadata = CheckpointMetadata::new(4, 0, MAX_PARALLELISM, serde_json::Value::Null);
    metadata.add_operator("agg", 1, vec![handle]).expect("add");
    let err = storage.complete(metadata.clone()).await.unwrap_err();
    assert!(err.to_string().contains("cannot be read back"), "{err}");
    assert!(!dir.path().join("chk-4/_metadata").exists());
    let err = storage.checkpoint(5).complete(metadata).await.unwrap_err();
    assert!(err.to_string().contains("writer of checkpoint 5"), "{err}");
}

#[tokio::test]
async fn a_completed_checkpoint_is_never_completed_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = CheckpointStorage::open(dir.path().to_str().expect("utf-8"))
        .await
        .expect("open");
    assert_eq!(storage.next_checkpoint_id().await.expect("next"), 1);
    let first = write_checkpoint(&storage, 6, 1).await;
    assert_eq!(storage.next_checkpoint_id().await.expect("next"), 7);
    let mut metadata = CheckpointMetadata::new(6, 0, MAX_PARALLELISM, serde_json::Value::Null);
    let handle = storage
        .write_snapshot(6, "other", 0, &StateSnapshot::new())
        .await
        .expect("write");
    metadata
        .add_operator("other", 1, vec![handle])
        .expect("add");
    let err = storage.complete(metadata).await.unwrap_err();
    assert!(err.to_string().contains("already has a _metadata"), "{err}");
    let err = storage
        .write_snapshot(6, "agg", 0, &snapshot(0, 1))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("must not be reused"), "{err}");
    let latest = storage.latest_completed().await.expect("latest");
    let kept = latest.checkpoint.expect("checkpoint 6");
    assert_eq!(kept.metadata(), first.metadata());
}

#[tokio::test]
async fn many_subtasks_write_concurrently() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = CheckpointStorage::open(dir.path().to_str().expect("utf-8"))
        .await
        .expect("open");
    let parallelism = 16;
    let writer = Arc::new(storage.checkpoint(9));
    let tasks: Vec<_> = (0..parallelism)
        .map(|subtask| {
            let writer = Arc::clone(&writer);
            tokio::spawn(async move {
                writer
                    .write_snapshot("agg", subtask, &snapshot(subtask, parallelism))
                    .await
            })
        })
        .collect();
    let mut handles = Vec::new();
    for task in tasks {
        handles.push(task.await.expect("join").expect("write"));
    }
    handles.reverse();
    let mut metadata = CheckpointMetadata::new(9, 0, MAX_PARALLELISM, serde_json::Value::Null);
    metadata
        .add_operator("agg", parallelism, handles)
        .expect("add");
    storage.complete(metadata).await.expect("complete");
    let checkpoint = storage
        .latest_completed()
        .await
        .expect("latest")
        .checkpoint
        .expect("checkpoint");
    let mut total = 0;
    for subtask in 0..parallelism {
        let restored = checkpoint
            .restore("agg", subtask, parallelism)
            .await
            .expect("restore");
        let expected = keyed_batch(subtask, parallelism);
        assert_eq!(keyed_rows(&restored).len(), expected.num_rows());
        assert_eq!(splits(&restored).len(), parallelism);
        total += expected.num_rows();
    }
    assert_eq!(total, MAX_PARALLELISM * ROWS_PER_GROUP as usize);
}

#[tokio::test]
async fn savepoints_use_their_own_folder_and_restore_at_another_parallelism() {
    let dir = tempfile::tempdir().expect("tempdir");
    let savepoints = dir.path().join("savepoints");
    let writer = CheckpointStorage::savepoint(savepoints.to_str().expect("utf-8"), 12)
        .await
        .expect("savepoint writer");
    assert!(writer.is_savepoint());
    let written = write_with(&writer, 12, 2).await;
    assert!(written.is_savepoint());
    let folder = writer.location().to_string();
    assert!(
        folder.contains("/savepoints/savepoint-12-"),
        "savepoint folder {folder}"
    );
    let opened = CheckpointStorage::open_checkpoint(&folder)
        .await
        .expect("open");
    assert!(opened.is_savepoint());
    assert_eq!(opened.id(), 12);
    let restored = opened.restore("agg", 0, 1).await.expect("restore");
    assert_eq!(
        keyed_rows(&restored).len(),
        MAX_PARALLELISM * ROWS_PER_GROUP as usize
    );
    let again = CheckpointStorage::savepoint(savepoints.to_str().expect("utf-8"), 12)
        .await
        .expect("second writer");
    assert_ne!(again.location(), writer.location());
}
