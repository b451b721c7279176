//! Bad checkpoints: each kind of damage is detected with a clear message, the previous
//! checkpoint is chosen, an explicitly named bad one is an error; and retention.

mod common;

use std::path::Path;

use common::*;
use weir_state::{CheckpointStorage, StateError};

async fn storage_with_two_checkpoints(dir: &Path) -> CheckpointStorage {
    let storage = CheckpointStorage::open(dir.to_str().expect("utf-8"))
        .await
        .expect("open");
    write_checkpoint(&storage, 1, 2).await;
    write_checkpoint(&storage, 2, 2).await;
    storage
}

/// Damages checkpoint 2, then checks checkpoint 1 is chosen, the reason mentions
/// `expected`, and opening checkpoint 2 explicitly fails with the same reason.
async fn check_skipped(damage: impl FnOnce(&Path), expected: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = storage_with_two_checkpoints(dir.path()).await;
    damage(&dir.path().join("chk-2"));
    let latest = storage.latest_completed().await.expect("latest");
    let checkpoint = latest.checkpoint.expect("previous checkpoint used");
    assert_eq!(checkpoint.id(), 1);
    assert_eq!(latest.skipped.len(), 1);
    let message = latest.skipped[0].to_string();
    assert!(message.starts_with("checkpoint 2 at "), "{message}");
    assert!(message.contains("chk-2"), "{message}");
    assert!(message.contains(expected), "{message}");
    let explicit = dir.path().join("chk-2");
    let err = CheckpointStorage::open_checkpoint(explicit.to_str().expect("utf-8"))
        .await
        .unwrap_err();
    // Named explicitly, a folder without metadata is not "incomplete" but "not one".
    let expected_explicit = if expected.contains("no _metadata") {
        "no _metadata file: it is not a completed checkpoint"
    } else {
        expected
    };
    assert!(err.to_string().contains(expected_explicit), "{err}");
    // The previous one still restores.
    let restored = checkpoint.restore("agg", 0, 1).await.expect("restore");
    assert_eq!(
        keyed_rows(&restored).len(),
        MAX_PARALLELISM * ROWS_PER_GROUP as usize
    );
}

#[tokio::test]
async fn a_truncated_file_is_skipped() {
    check_skipped(
        |chk| {
            let file = chk.join("agg/1.arrow");
            let bytes = std::fs::read(&file).expect("read");
            std::fs::write(&file, &bytes[..bytes.len() / 2]).expect("truncate");
        },
        "file agg/1.arrow has",
    )
    .await;
}

#[tokio::test]
async fn a_flipped_byte_is_caught_by_the_checksum() {
    check_skipped(
        |chk| {
            let file = chk.join("agg/0.arrow");
            let mut bytes = std::fs::read(&file).expect("read");
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x01;
            std::fs::write(&file, &bytes).expect("write");
        },
        "file agg/0.arrow has checksum crc32c:",
    )
    .await;
}

#[tokio::test]
async fn a_missing_file_is_skipped() {
    check_skipped(
        |chk| std::fs::remove_file(chk.join("agg/0.arrow")).expect("remove"),
        "file agg/0.arrow is missing",
    )
    .await;
}

#[tokio::test]
async fn a_missing_metadata_means_incomplete() {
    check_skipped(
        |chk| std::fs::remove_file(chk.join("_metadata")).expect("remove"),
        "is incomplete: no _metadata (the process probably died",
    )
    .await;
}

#[tokio::test]
async fn a_metadata_cut_in_the_middle_is_skipped() {
    check_skipped(
        |chk| {
            let file = chk.join("_metadata");
            let bytes = std::fs::read(&file).expect("read");
            std::fs::write(&file, &bytes[..bytes.len() / 2]).expect("cut");
        },
        "is not valid JSON, probably cut short",
    )
    .await;
}

#[tokio::test]
async fn a_newer_format_version_is_skipped() {
    check_skipped(
        |chk| {
            let file = chk.join("_metadata");
            let text = std::fs::read_to_string(&file).expect("read");
            let text = text.replace("\"format_version\": 1", "\"format_version\": 99");
            std::fs::write(&file, text).expect("write");
        },
        "has format version 99, this Weir reads versions up to 3",
    )
    .await;
}

#[tokio::test]
async fn several_bad_checkpoints_are_all_reported_newest_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = storage_with_two_checkpoints(dir.path()).await;
    write_checkpoint(&storage, 3, 1).await;
    std::fs::remove_file(dir.path().join("chk-3/_metadata")).expect("remove");
    std::fs::write(dir.path().join("chk-2/agg/0.arrow"), b"x").expect("overwrite");
    std::fs::create_dir_all(dir.path().join("not-a-checkpoint")).expect("mkdir");
    let latest = storage.latest_completed().await.expect("latest");
    assert_eq!(latest.checkpoint.expect("checkpoint 1").id(), 1);
    let ids: Vec<String> = latest.skipped.iter().map(ToString::to_string).collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(matches!(
        latest.skipped[0],
        StateError::Incomplete {
            checkpoint_id: 3,
            ..
        }
    ));
    assert!(ids[1].starts_with("checkpoint 2 at"), "{ids:?}");
    assert_eq!(storage.checkpoint_ids().await.expect("ids"), vec![3, 2, 1]);
}

#[tokio::test]
async fn no_checkpoint_at_all_is_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = CheckpointStorage::open(dir.path().join("new").to_str().expect("utf-8"))
        .await
        .expect("open creates the folder");
    let latest = storage.latest_completed().await.expect("latest");
    assert!(latest.checkpoint.is_none());
    assert!(latest.skipped.is_empty());
}

#[tokio::test]
async fn open_checkpoint_needs_a_checkpoint_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    storage_with_two_checkpoints(dir.path()).await;
    let good = dir.path().join("chk-2");
    let opened = CheckpointStorage::open_checkpoint(good.to_str().expect("utf-8"))
        .await
        .expect("open");
    assert_eq!(opened.id(), 2);
    let url = format!("file://{}", good.display());
    assert_eq!(
        CheckpointStorage::open_checkpoint(&url)
            .await
            .expect("file:// URL")
            .id(),
        2
    );
    let err = CheckpointStorage::open_checkpoint(dir.path().to_str().expect("utf-8"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("give the chk-<id>"), "{err}");
    let missing = dir.path().join("chk-77");
    let err = CheckpointStorage::open_checkpoint(missing.to_str().expect("utf-8"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no such folder"), "{err}");
    let err = CheckpointStorage::open("gs://bucket/x").await.unwrap_err();
    assert!(err.to_string().contains("gs:// is not supported"), "{err}");
}

#[tokio::test]
async fn retain_keeps_the_newest_completed_and_in_progress_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = CheckpointStorage::open(dir.path().to_str().expect("utf-8"))
        .await
        .expect("open");
    for id in 1..=4 {
        write_checkpoint(&storage, id, 2).await;
    }
    // 2 never completed; 5 is in progress (files, no metadata yet).
    std::fs::remove_file(dir.path().join("chk-2/_metadata")).expect("remove");
    storage
        .write_snapshot(5, "agg", 0, &snapshot(0, 1))
        .await
        .expect("write");
    assert!(storage.retain(0).await.is_err());
    let deleted = storage.retain(2).await.expect("retain");
    assert_eq!(deleted, vec![2, 1]);
    assert_eq!(storage.checkpoint_ids().await.expect("ids"), vec![5, 4, 3]);
    assert!(!dir.path().join("chk-1").exists());
    assert!(!dir.path().join("chk-2").exists());
    let deleted = storage.retain(1).await.expect("retain");
    assert_eq!(deleted, vec![3]);
    assert_eq!(storage.checkpoint_ids().await.expect("ids"), vec![5, 4]);
    assert_eq!(
        storage
            .latest_completed()
            .await
            .expect("latest")
            .checkpoint
            .expect("checkpoint")
            .id(),
        4
    );
}

#[tokio::test]
async fn abort_removes_a_declined_checkpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = CheckpointStorage::open(dir.path().to_str().expect("utf-8"))
        .await
        .expect("open");
    let writer = storage.checkpoint(8);
    writer
        .write_snapshot("agg", 0, &snapshot(0, 1))
        .await
        .expect("write");
    assert_eq!(storage.checkpoint_ids().await.expect("ids"), vec![8]);
    writer.abort().await.expect("abort");
    assert!(storage.checkpoint_ids().await.expect("ids").is_empty());
}
