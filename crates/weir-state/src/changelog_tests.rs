//! Unit tests of incremental chains: replaying equals the full state, and when a base
//! is written.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{Int64Array, UInt16Array};
use arrow::datatypes::{DataType, Field, Schema};

use super::*;
use crate::metadata::TableEntry;

fn keys() -> BTreeMap<String, Vec<String>> {
    BTreeMap::from([(
        "acc".to_string(),
        vec![KEY_GROUP_COLUMN.to_string(), "k".to_string()],
    )])
}

/// Rows `(key group, key, value)` of table `acc`.
fn acc(rows: &[(u16, i64, i64)]) -> RecordBatch {
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new(KEY_GROUP_COLUMN, DataType::UInt16, false),
            Field::new("k", DataType::Int64, true),
            Field::new("value", DataType::Int64, false),
        ])),
        vec![
            Arc::new(UInt16Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))),
        ],
    )
    .unwrap()
}

/// Removed keys `(key group, key)` of table `acc`.
fn removed(rows: &[(u16, i64)]) -> RecordBatch {
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new(KEY_GROUP_COLUMN, DataType::UInt16, false),
            Field::new("k", DataType::Int64, true),
        ])),
        vec![
            Arc::new(UInt16Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
        ],
    )
    .unwrap()
}

fn delta(upserts: &[(u16, i64, i64)], removals: &[(u16, i64)]) -> StateSnapshot {
    let mut s = StateSnapshot::new();
    s.add_keyed("acc", acc(upserts)).unwrap();
    s.add_keyed("acc.removed", removed(removals)).unwrap();
    s
}

fn rows_of(snapshot: &StateSnapshot) -> BTreeSet<(u16, i64, i64)> {
    let mut out = BTreeSet::new();
    let Some(table) = snapshot.table("acc") else {
        return out;
    };
    for batch in table.batches() {
        let kg = batch
            .column(0)
            .as_any()
            .downcast_ref::<UInt16Array>()
            .unwrap();
        let k = batch
            .column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        let v = batch
            .column(2)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        for i in 0..batch.num_rows() {
            assert!(
                out.insert((kg.value(i), k.value(i), v.value(i))),
                "a key restored twice"
            );
        }
    }
    out
}

#[test]
fn a_replayed_chain_equals_the_full_state_with_updates_removals_and_readded_keys() {
    // Base: keys 1..=5. Delta 1: 2 updated, 3 removed (as by TTL expiry), 6 added.
    // Delta 2: 3 added again, 6 removed, 2 updated again, 1 removed and re-added in
    // the same interval (both a removal and an upsert).
    let mut base = StateSnapshot::new();
    base.add_keyed(
        "acc",
        acc(&[(0, 1, 10), (1, 2, 20), (1, 3, 30), (2, 4, 40)]),
    )
    .unwrap();
    base.add_keyed("acc", acc(&[(2, 5, 50)])).unwrap();
    let chain = [
        base,
        delta(&[(1, 2, 21), (3, 6, 60)], &[(1, 3)]),
        delta(&[(1, 3, 31), (1, 2, 22), (0, 1, 11)], &[(3, 6), (0, 1)]),
    ];
    let full: BTreeSet<_> = [(0, 1, 11), (1, 2, 22), (1, 3, 31), (2, 4, 40), (2, 5, 50)]
        .into_iter()
        .collect();
    assert_eq!(
        rows_of(&replay(chain.first(), &chain[1..], &keys()).unwrap()),
        full
    );
    // A prefix of the chain is the state at that checkpoint.
    let first: BTreeSet<_> = [(0, 1, 10), (1, 2, 21), (2, 4, 40), (2, 5, 50), (3, 6, 60)]
        .into_iter()
        .collect();
    assert_eq!(
        rows_of(&replay(chain.first(), &chain[1..2], &keys()).unwrap()),
        first
    );
    // A base alone is itself.
    assert_eq!(
        rows_of(&replay(chain.first(), &[], &keys()).unwrap()).len(),
        5
    );
    // Everything removed leaves no rows.
    let gone = [
        chain[0].clone(),
        delta(&[], &[(0, 1), (1, 2), (1, 3), (2, 4), (2, 5)]),
    ];
    assert!(rows_of(&replay(gone.first(), &gone[1..], &keys()).unwrap()).is_empty());
    // A chain whose base held no key starts with a delta.
    let no_base = replay(None, &chain[1..], &keys()).unwrap();
    let from_nothing: BTreeSet<_> = [(1, 2, 22), (1, 3, 31), (0, 1, 11)].into_iter().collect();
    assert_eq!(rows_of(&no_base), from_nothing);
}

#[test]
fn replay_rejects_undeclared_key_columns() {
    let mut base = StateSnapshot::new();
    base.add_keyed("acc", acc(&[(0, 1, 10)])).unwrap();
    let bad = BTreeMap::from([("acc".to_string(), vec!["nope".to_string()])]);
    let err = replay(Some(&base), &[], &bad).unwrap_err();
    assert!(err.to_string().contains("no key column \"nope\""), "{err}");
    let bad = BTreeMap::from([("acc".to_string(), vec!["k".to_string()])]);
    let err = replay(Some(&base), &[], &bad).unwrap_err();
    assert!(err.to_string().contains("must start with"), "{err}");
}

fn stored(log: &Changelog, id: u64, full: bool, size: u64, rows: u64) {
    let file = ChangelogFile {
        checkpoint_id: id,
        full,
        file: StoredFile {
            path: format!("shared/op/0-{id}.arrow"),
            size,
            checksum: "crc32c:00000000".into(),
            tables: vec![TableEntry {
                name: "acc".into(),
                kind: TableKind::Keyed,
                offset: 0,
                length: size,
                rows,
                key_groups: None,
                schema_fingerprint: String::new(),
            }],
        },
    };
    log.written
        .lock()
        .unwrap()
        .insert(id, ("loc".to_string(), file));
}

/// Checkpoint `id` of `log` is a completed delta of `size` bytes and `rows` rows.
fn completed_delta(log: &mut Changelog, id: u64, size: u64, rows: u64) {
    let _ = log.snapshot(id, false, delta(&[(0, 1, 1)], &[])).unwrap();
    stored(log, id, false, size, rows);
    log.checkpoint_complete(id);
}

#[test]
fn a_base_is_written_first_and_after_a_failed_checkpoint() {
    let mut log = Changelog::new([0, 127], keys());
    assert!(log.wants_full(0), "no chain yet");
    let err = log.snapshot(1, false, StateSnapshot::new()).unwrap_err();
    assert!(err.to_string().contains("needs a completed base"), "{err}");
    let s = log.snapshot(1, true, StateSnapshot::new()).unwrap();
    assert!(s.changelog().is_some_and(|c| c.full));
    stored(&log, 1, true, 10 * MIN_BASE_BYTES, 1000);
    assert!(log.wants_full(1000), "checkpoint 1 not completed yet");
    log.checkpoint_complete(1);
    assert!(!log.wants_full(1000));

    let s = log.snapshot(2, false, delta(&[(0, 1, 1)], &[])).unwrap();
    let c = s.changelog().unwrap();
    assert!(!c.full);
    assert_eq!(c.previous.len(), 1, "continues the base");
    stored(&log, 2, false, MIN_BASE_BYTES, 100);
    // Checkpoint 2 declined: its delta is not part of any chain, so the next
    // snapshot must be a base.
    assert!(log.wants_full(1000));
    log.checkpoint_complete(1);
    assert!(
        log.wants_full(1000),
        "a late notice of an older checkpoint changes nothing"
    );

    // A delta without changes writes no file and keeps the chain.
    let mut log = Changelog::new([0, 127], keys());
    let _ = log.snapshot(1, true, StateSnapshot::new()).unwrap();
    stored(&log, 1, true, 100, 1);
    log.checkpoint_complete(1);
    let _ = log.snapshot(2, false, StateSnapshot::new()).unwrap();
    log.checkpoint_complete(2);
    assert!(!log.wants_full(1));
    let s = log.snapshot(3, false, StateSnapshot::new()).unwrap();
    assert_eq!(s.changelog().unwrap().previous.len(), 1);
}

#[test]
fn a_base_is_written_when_the_chain_holds_twice_the_live_rows() {
    let base = |log: &mut Changelog, rows: u64| {
        let _ = log.snapshot(1, true, StateSnapshot::new()).unwrap();
        stored(log, 1, true, 10 * MIN_BASE_BYTES, rows);
        log.checkpoint_complete(1);
    };
    // The same 1000 keys updated: after 1000 rows of deltas the chain holds twice the
    // state; one more delta and the next snapshot is a base.
    let mut log = Changelog::new([0, 127], keys());
    base(&mut log, 1000);
    for id in 2..=3 {
        completed_delta(&mut log, id, 5 * MIN_BASE_BYTES, 500);
        assert!(!log.wants_full(1000), "{} delta rows", (id - 1) * 500);
    }
    completed_delta(&mut log, 4, 5 * MIN_BASE_BYTES, 500);
    assert!(log.wants_full(1000), "2500 rows in the chain, 1000 live");
    // Removed keys make rows dead too.
    assert!(log.wants_full(1100));
    assert!(!log.wants_full(1250));

    // New keys only: the chain stays twice the size of the base's bytes and more,
    // and holds no dead row, so it keeps growing, up to MAX_DELTAS deltas.
    let mut log = Changelog::new([0, 127], keys());
    base(&mut log, 1000);
    let mut live = 1000;
    for id in 2..(MAX_DELTAS as u64 + 1) {
        completed_delta(&mut log, id, 5 * MIN_BASE_BYTES, 500);
        live += 500;
        assert!(!log.wants_full(live), "delta {id}");
    }
    completed_delta(&mut log, MAX_DELTAS as u64 + 1, MIN_BASE_BYTES, 500);
    assert!(log.wants_full(live + 500), "{MAX_DELTAS} deltas");

    // A chain of at most MIN_BASE_BYTES is kept, however many of its rows are dead.
    let mut log = Changelog::new([0, 127], keys());
    let _ = log.snapshot(1, true, StateSnapshot::new()).unwrap();
    stored(&log, 1, true, MIN_BASE_BYTES / 2, 1000);
    log.checkpoint_complete(1);
    completed_delta(&mut log, 2, MIN_BASE_BYTES / 2, 5000);
    assert!(!log.wants_full(10));
    completed_delta(&mut log, 3, 1, 1);
    assert!(log.wants_full(10));
}

#[test]
fn snapshot_refuses_union_undeclared_and_removed_tables_in_a_base() {
    let mut log = Changelog::new([0, 127], keys());
    let mut s = StateSnapshot::new();
    s.add_union("acc", acc(&[(0, 1, 1)])).unwrap();
    let err = log.snapshot(1, true, s).unwrap_err();
    assert!(err.to_string().contains("not a keyed table"), "{err}");
    let err = log.snapshot(1, true, delta(&[], &[(0, 1)])).unwrap_err();
    assert!(err.to_string().contains("no removed keys"), "{err}");
}
