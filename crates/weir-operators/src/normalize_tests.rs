//! Tests of the changelog normalization: hand-written upsert streams and the changelogs
//! they must become, a checkpoint restored into a new subtask, and state TTL.

use std::sync::atomic::{AtomicI64, Ordering};

use arrow::array::{Array, Int64Array, StringArray};
use weir_types::{Message, ROW_KIND_COLUMN};

use super::*;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, true),
        Field::new("v", DataType::Utf8, true),
    ]))
}

fn operator(ttl: Option<i64>, now: Arc<AtomicI64>) -> NormalizeOperator {
    let def = ChangelogNormalize {
        schema: schema(),
        key_columns: vec![0],
        state_ttl_ms: ttl,
    };
    let clock: Clock = Arc::new(move || now.load(Ordering::SeqCst));
    NormalizeOperator::with_clock(Arc::new(def), Arc::new(JobMetrics::default()), clock).unwrap()
}

/// Pushes upsert rows `(kind, key, value)` and returns the output as `+I[k, v]` lines.
fn push(op: &mut NormalizeOperator, rows: &[(RowKind, i64, Option<&str>)]) -> Vec<String> {
    let mut fields: Vec<Field> = schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(ROW_KIND_COLUMN, DataType::Int8, false));
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )),
            Arc::new(Int8Array::from_iter_values(rows.iter().map(|r| r.0 as i8))),
        ],
    )
    .unwrap();
    let mut out = Output::default();
    op.process_batch(0, batch, &mut out).unwrap();
    let mut lines = Vec::new();
    for message in out.drain() {
        let Message::Batch(b) = message else { continue };
        let keys = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        let values = b.column(1).as_any().downcast_ref::<StringArray>().unwrap();
        let kinds = b.column(2).as_primitive::<Int8Type>();
        for i in 0..b.num_rows() {
            let kind = RowKind::from_i8(kinds.value(i)).unwrap().short_string();
            let value = if values.is_null(i) {
                "NULL"
            } else {
                values.value(i)
            };
            lines.push(format!("{kind}[{}, {value}]", keys.value(i)));
        }
    }
    lines
}

use RowKind::{Delete as D, Insert as I, UpdateAfter as UA, UpdateBefore as UB};

#[test]
fn upserts_and_tombstones_become_a_full_changelog() {
    let mut op = operator(None, Arc::new(AtomicI64::new(0)));
    assert_eq!(
        push(
            &mut op,
            &[(I, 1, Some("a")), (UA, 2, Some("x")), (UA, 1, Some("b"))]
        ),
        vec!["+I[1, a]", "+I[2, x]", "-U[1, a]", "+U[1, b]"]
    );
    // The same row again changes nothing; -U input is ignored.
    assert_eq!(
        push(&mut op, &[(UA, 1, Some("b")), (UB, 2, Some("x"))]),
        Vec::<String>::new()
    );
    // A tombstone carries only the key: the retraction is of the kept row.
    assert_eq!(
        push(&mut op, &[(D, 1, None), (D, 3, None), (I, 1, Some("c"))]),
        vec!["-D[1, b]", "+I[1, c]"]
    );
}

#[test]
fn a_restored_subtask_retracts_the_rows_kept_before_the_checkpoint() {
    let now = Arc::new(AtomicI64::new(0));
    let mut op = operator(None, Arc::clone(&now));
    push(
        &mut op,
        &[
            (I, 1, Some("a")),
            (I, 2, Some("b")),
            (D, 2, None),
            (I, 3, Some("c")),
        ],
    );
    let snapshot = op.snapshot_state(1).unwrap();
    let mut restored = operator(None, now);
    restored.restore_state(snapshot).unwrap();
    assert_eq!(
        push(
            &mut restored,
            &[(UA, 1, Some("a2")), (D, 3, None), (I, 2, Some("b2"))]
        ),
        vec!["-U[1, a]", "+U[1, a2]", "-D[3, c]", "+I[2, b2]"]
    );
}

#[test]
fn keys_not_written_for_the_ttl_start_afresh() {
    let now = Arc::new(AtomicI64::new(0));
    let mut op = operator(Some(1_000), Arc::clone(&now));
    push(&mut op, &[(I, 1, Some("a")), (I, 2, Some("b"))]);
    now.store(600, Ordering::SeqCst);
    assert_eq!(
        push(&mut op, &[(UA, 2, Some("b2"))]),
        vec!["-U[2, b]", "+U[2, b2]"]
    );
    now.store(1_200, Ordering::SeqCst);
    // Key 1 expired (written at 0); key 2 was written at 600.
    assert_eq!(
        push(&mut op, &[(UA, 1, Some("a2")), (D, 2, None)]),
        vec!["+I[1, a2]", "-D[2, b2]"]
    );
    assert_eq!(op.metrics.state_keys_expired.load(Ordering::SeqCst), 1);
}
