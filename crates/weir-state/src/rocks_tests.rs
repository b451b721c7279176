//! Tests of the RocksDB keyed store and of its native snapshots through checkpoint
//! storage: incremental uploads, restore at the same and at other parallelisms,
//! retention of shared files, corruption.

use std::collections::BTreeMap;
use std::path::Path;

use weir_types::keygroup::key_group_range;

use super::*;
use crate::{CheckpointMetadata, CheckpointStorage, StateSnapshot};

const MAX_PARALLELISM: usize = 128;

fn config(dir: &Path, incremental: bool) -> RocksConfig {
    RocksConfig {
        local_dir: dir.to_path_buf(),
        incremental,
        cache_keys: 16,
    }
}

fn groups_of(subtask: usize, parallelism: usize) -> [u32; 2] {
    let range = key_group_range(subtask, MAX_PARALLELISM, parallelism);
    [range.start as u32, range.end as u32 - 1]
}

/// Writes `key-<i>` = `value-<i>-<round>` for `keys`, each in key group `i % 128`,
/// into the stores owning the group.
fn fill(stores: &[KeyedStore], keys: std::ops::Range<u32>, round: u32) {
    let mut batches: Vec<StoreBatch> = stores.iter().map(|_| StoreBatch::new()).collect();
    for i in keys {
        let group = i % MAX_PARALLELISM as u32;
        let owner = stores
            .iter()
            .position(|s| (s.key_groups()[0]..=s.key_groups()[1]).contains(&group))
            .expect("an owner");
        batches[owner].put(
            &store_key(group, format!("key-{i}").as_bytes()),
            format!("value-{i}-{round}").as_bytes(),
        );
    }
    for (store, batch) in stores.iter().zip(batches) {
        store.write(batch).expect("write");
    }
}

fn contents(stores: &[KeyedStore]) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut all = BTreeMap::new();
    for store in stores {
        store
            .scan(|k, v| {
                let (group, _) = split_store_key(k).expect("a store key");
                assert!((store.key_groups()[0]..=store.key_groups()[1]).contains(&group));
                assert!(all.insert(k.to_vec(), v.to_vec()).is_none(), "key twice");
                Ok(())
            })
            .expect("scan");
    }
    all
}

/// Takes checkpoint `id` of `stores` (operator `op`) into `storage`, completes it and
/// tells the stores.
async fn checkpoint(storage: &CheckpointStorage, stores: &mut [KeyedStore], id: u64) -> u64 {
    let writer = storage.checkpoint(id);
    let mut handles = Vec::new();
    for (subtask, store) in stores.iter_mut().enumerate() {
        let mut snapshot = StateSnapshot::new();
        snapshot.add_native(store.snapshot(id).expect("snapshot"));
        handles.push(
            writer
                .write_snapshot("op", subtask, &snapshot)
                .await
                .expect("write"),
        );
    }
    let mut metadata = CheckpointMetadata::new(id, 0, MAX_PARALLELISM, serde_json::json!({}));
    metadata
        .add_operator("op", stores.len(), handles)
        .expect("add");
    let uploaded = metadata.total_size();
    writer.complete(metadata).await.expect("complete");
    for store in stores.iter_mut() {
        store.checkpoint_complete(id);
    }
    storage.retain(1).await.expect("retain");
    uploaded
}

/// A fresh store of subtask `subtask` of `parallelism` (operator `op`).
fn fresh_store(local: &Path, incremental: bool, subtask: usize, parallelism: usize) -> KeyedStore {
    KeyedStore::open(
        &config(local, incremental),
        &format!("op-{subtask}"),
        groups_of(subtask, parallelism),
        None,
        Vec::new(),
    )
    .expect("open")
}

async fn restore(storage: &CheckpointStorage, local: &Path, parallelism: usize) -> Vec<KeyedStore> {
    let checkpoint = storage
        .latest_completed()
        .await
        .expect("latest")
        .checkpoint
        .expect("a checkpoint");
    assert!(checkpoint.has_native("op"));
    let mut stores = Vec::new();
    for subtask in 0..parallelism {
        let restored = checkpoint
            .restore_native("op", subtask, parallelism, local)
            .await
            .expect("restore");
        stores.push(
            KeyedStore::open(
                &config(local, true),
                &format!("op-{subtask}"),
                groups_of(subtask, parallelism),
                None,
                restored,
            )
            .expect("open"),
        );
    }
    stores
}

#[tokio::test]
async fn incremental_checkpoints_upload_only_new_files_and_restore_at_any_parallelism() {
    let local = tempfile::tempdir().expect("tempdir");
    let remote = tempfile::tempdir().expect("tempdir");
    let storage = CheckpointStorage::open(remote.path().to_str().expect("utf-8"))
        .await
        .expect("open");
    let mut stores: Vec<KeyedStore> = (0..2)
        .map(|s| fresh_store(local.path(), true, s, 2))
        .collect();
    fill(&stores, 0..20_000, 0);
    let full = checkpoint(&storage, &mut stores, 1).await;
    // 1% of the keys change: the next checkpoint uploads a small new file, and
    // references the big ones the first checkpoint stored.
    fill(&stores, 0..200, 1);
    let incremental = checkpoint(&storage, &mut stores, 2).await;
    assert!(
        incremental * 10 < full,
        "incremental checkpoint uploaded {incremental} bytes, the full one {full}"
    );
    let expected = contents(&stores);
    assert_eq!(expected.len(), 20_000);
    assert_eq!(
        expected[&store_key(5, b"key-5")],
        b"value-5-1".to_vec(),
        "the second round's value"
    );
    // Checkpoint 1 is gone (one retained), but the files checkpoint 2 shares with it
    // are kept.
    assert!(!remote.path().join("chk-1").exists());
    for parallelism in [2, 1, 3] {
        let restored = restore(&storage, local.path(), parallelism).await;
        assert_eq!(
            contents(&restored),
            expected,
            "at parallelism {parallelism}"
        );
    }
    // Reopened on its own checkpoint's files (same parallelism), a store's next
    // checkpoint references them: it uploads about what changed, not everything.
    let mut reopened = restore(&storage, local.path(), 2).await;
    fill(&reopened, 0..200, 2);
    let after_restore = checkpoint(&storage, &mut reopened, 3).await;
    assert!(
        after_restore * 10 < full,
        "the first checkpoint after a restore uploaded {after_restore} bytes, a full one {full}"
    );
    drop(reopened);
    // Checkpoint 3 restores whole, its referenced and its new files together.
    let again = restore(&storage, local.path(), 2).await;
    let restored = contents(&again);
    assert_eq!(restored.len(), 20_000);
    assert_eq!(restored[&store_key(5, b"key-5")], b"value-5-2".to_vec());
    assert_eq!(
        restored[&store_key(72, b"key-200")],
        b"value-200-0".to_vec()
    );
    drop(again);
    // The local folders of restores and stores go away with them.
    drop(stores);
    let left: Vec<_> = std::fs::read_dir(local.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test]
async fn a_non_incremental_store_uploads_everything_each_time() {
    let local = tempfile::tempdir().expect("tempdir");
    let remote = tempfile::tempdir().expect("tempdir");
    let storage = CheckpointStorage::open(remote.path().to_str().expect("utf-8"))
        .await
        .expect("open");
    let mut stores = vec![fresh_store(local.path(), false, 0, 1)];
    fill(&stores, 0..5_000, 0);
    let first = checkpoint(&storage, &mut stores, 1).await;
    fill(&stores, 0..10, 1);
    let second = checkpoint(&storage, &mut stores, 2).await;
    assert!(second >= first, "second {second} < first {first}");
}

#[tokio::test]
async fn a_corrupt_shared_file_is_detected() {
    let local = tempfile::tempdir().expect("tempdir");
    let remote = tempfile::tempdir().expect("tempdir");
    let storage = CheckpointStorage::open(remote.path().to_str().expect("utf-8"))
        .await
        .expect("open");
    let mut stores = vec![fresh_store(local.path(), true, 0, 1)];
    fill(&stores, 0..1_000, 0);
    checkpoint(&storage, &mut stores, 1).await;
    let shared = remote.path().join("shared/op");
    let file = std::fs::read_dir(&shared)
        .expect("shared folder")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "sst"))
        .expect("an sst file");
    let mut bytes = std::fs::read(&file).expect("read");
    bytes[0] ^= 0xff;
    std::fs::write(&file, bytes).expect("write");
    let latest = storage.latest_completed().await.expect("latest");
    assert!(latest.checkpoint.is_none());
    let reason = latest.skipped[0].to_string();
    assert!(reason.contains("checksum"), "{reason}");
}

#[test]
fn ttl_compaction_drops_entries_not_written_for_the_ttl() {
    let local = tempfile::tempdir().expect("tempdir");
    let now = 1_000_000;
    let store = KeyedStore::open(
        &config(local.path(), false),
        "op",
        [0, 127],
        Some(StoreTtl {
            ttl_ms: 60_000,
            clock: Arc::new(move || now),
        }),
        Vec::new(),
    )
    .expect("open");
    let mut batch = StoreBatch::new();
    let value = |written: i64| {
        let mut v = written.to_be_bytes().to_vec();
        v.extend_from_slice(b"state");
        v
    };
    batch.put(&store_key(1, b"old"), &value(now - 120_000));
    batch.put(&store_key(1, b"fresh"), &value(now));
    store.write(batch).expect("write");
    store.db.flush().expect("flush");
    store.db.compact_range::<&[u8], &[u8]>(None, None);
    let keys = store
        .get_many(&[store_key(1, b"old"), store_key(1, b"fresh")])
        .expect("get");
    assert_eq!(keys[0], None, "expired entry kept");
    assert_eq!(keys[1], Some(value(now)));
}

/// A store restored from another location's checkpoint (`--from-checkpoint` of another
/// job) uploads its files into its own location: the new checkpoint does not depend on
/// the old location, which may be deleted.
#[tokio::test]
async fn files_restored_from_another_location_are_uploaded_again() {
    let local = tempfile::tempdir().expect("tempdir");
    let first_remote = tempfile::tempdir().expect("tempdir");
    let second_remote = tempfile::tempdir().expect("tempdir");
    let first = CheckpointStorage::open(first_remote.path().to_str().expect("utf-8"))
        .await
        .expect("open");
    let second = CheckpointStorage::open(second_remote.path().to_str().expect("utf-8"))
        .await
        .expect("open");
    let mut stores = vec![fresh_store(local.path(), true, 0, 1)];
    fill(&stores, 0..5_000, 0);
    let full = checkpoint(&first, &mut stores, 1).await;
    let expected = contents(&stores);
    drop(stores);
    let mut moved = restore(&first, local.path(), 1).await;
    let uploaded = checkpoint(&second, &mut moved, 2).await;
    assert!(
        uploaded >= full,
        "uploaded {uploaded} bytes into the new location, the checkpoint holds {full}"
    );
    drop(moved);
    drop(first_remote);
    let restored = restore(&second, local.path(), 1).await;
    assert_eq!(contents(&restored), expected);
}
