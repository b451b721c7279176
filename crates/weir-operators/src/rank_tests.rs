//! Tests of the unbounded Top-N: hand-computed changelogs in both output modes, keep-last
//! deduplication, retractions of the leader, and the append-only first-row mode.

use arrow::array::{Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::ScalarValue;
use weir_types::Message;

use super::*;

fn data_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, true),
        Field::new("v", DataType::Int64, true),
    ]))
}

fn def(
    limit: usize,
    descending: bool,
    emit_rank: bool,
    updating_in: bool,
    updating_out: bool,
) -> Rank {
    let mut fields: Vec<Field> = data_schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("rn", DataType::Int64, false));
    if updating_out {
        fields.push(Field::new(ROW_KIND_COLUMN, DataType::Int8, false));
    }
    Rank {
        input_schema: data_schema(),
        input_updating: updating_in,
        partition_columns: vec![0],
        order: vec![(
            1,
            SortOptions {
                descending,
                nulls_first: false,
            },
        )],
        limit,
        latest_first_on_ties: descending,
        emit_rank,
        output_schema: Arc::new(Schema::new(fields)),
        state_ttl_ms: None,
    }
}

fn push(op: &mut RankOperator, rows: &[(RowKind, &str, i64)]) -> Vec<String> {
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        )),
    ];
    let mut fields: Vec<Field> = data_schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    if op.def.input_updating {
        columns.push(Arc::new(Int8Array::from(
            rows.iter().map(|r| r.0 as i8).collect::<Vec<_>>(),
        )));
        fields.push(Field::new(ROW_KIND_COLUMN, DataType::Int8, false));
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
    let mut out = Output::default();
    op.process_batch(0, batch, &mut out).unwrap();
    let mut lines = Vec::new();
    for message in out.drain() {
        let Message::Batch(b) = message else { continue };
        let updating = b.schema().fields().last().unwrap().name() == ROW_KIND_COLUMN;
        let width = b.num_columns() - usize::from(updating);
        for row in 0..b.num_rows() {
            let values: Vec<String> = (0..width)
                .map(|c| {
                    ScalarValue::try_from_array(b.column(c), row)
                        .unwrap()
                        .to_string()
                })
                .collect();
            let kind = if updating {
                let kinds = b.column(width).as_primitive::<Int8Type>();
                RowKind::from_i8(kinds.value(row)).unwrap()
            } else {
                RowKind::Insert
            };
            lines.push(format!("{kind}[{}]", values.join(", ")));
        }
    }
    lines
}

use RowKind::{Insert as I, UpdateAfter as UA, UpdateBefore as UB};

#[test]
fn top_two_with_row_numbers_updates_every_shifted_rank() {
    let mut op = RankOperator::new(Arc::new(def(2, true, true, false, true))).unwrap();
    assert_eq!(
        push(&mut op, &[(I, "a", 5), (I, "a", 9), (I, "b", 1)]),
        vec!["+I[a, 9, 1]", "+I[a, 5, 2]", "+I[b, 1, 1]"]
    );
    assert_eq!(
        push(&mut op, &[(I, "a", 7)]),
        vec!["-U[a, 5, 2]", "+U[a, 7, 2]"]
    );
    assert!(push(&mut op, &[(I, "a", 2)]).is_empty());
    assert_eq!(
        push(&mut op, &[(I, "a", 10)]),
        vec!["-U[a, 9, 1]", "+U[a, 10, 1]", "-U[a, 7, 2]", "+U[a, 9, 2]"]
    );
}

#[test]
fn top_two_without_row_numbers_replaces_the_row_that_left() {
    let mut op = RankOperator::new(Arc::new(def(2, true, false, false, true))).unwrap();
    assert_eq!(
        push(&mut op, &[(I, "a", 5), (I, "a", 9)]),
        vec!["+I[a, 9, 0]", "+I[a, 5, 0]"]
    );
    assert_eq!(
        push(&mut op, &[(I, "a", 10)]),
        vec!["-U[a, 5, 0]", "+U[a, 10, 0]"]
    );
    assert_eq!(
        push(&mut op, &[(I, "a", 11), (I, "a", 12)]),
        vec![
            "-D[a, 10, 0]",
            "-D[a, 9, 0]",
            "+I[a, 12, 0]",
            "+I[a, 11, 0]"
        ]
    );
}

#[test]
fn keep_last_row_deduplication_prefers_later_rows_on_ties() {
    let mut op = RankOperator::new(Arc::new(def(1, true, false, false, true))).unwrap();
    assert_eq!(
        push(&mut op, &[(I, "a", 1), (I, "a", 1)]),
        vec!["+I[a, 1, 0]"]
    );
    // Same time, arrives later: replaces the row; its content is the same, so nothing
    // changes downstream.
    assert!(push(&mut op, &[(I, "a", 1)]).is_empty());
    assert!(push(&mut op, &[(I, "a", 0)]).is_empty());
    assert_eq!(
        push(&mut op, &[(I, "a", 2)]),
        vec!["-U[a, 1, 0]", "+U[a, 2, 0]"]
    );
}

#[test]
fn retracting_the_leader_promotes_the_next_row() {
    let mut op = RankOperator::new(Arc::new(def(1, true, false, true, true))).unwrap();
    assert_eq!(
        push(&mut op, &[(I, "a", 5), (I, "a", 9)]),
        vec!["+I[a, 9, 0]"]
    );
    assert_eq!(
        push(&mut op, &[(UB, "a", 9), (UA, "a", 3)]),
        vec!["-U[a, 9, 0]", "+U[a, 5, 0]"]
    );
    assert_eq!(
        push(
            &mut op,
            &[(RowKind::Delete, "a", 5), (RowKind::Delete, "a", 3)]
        ),
        vec!["-D[a, 5, 0]"]
    );
    assert_eq!(op.partitions(), 0);
}

#[test]
fn first_row_mode_is_append_only() {
    let mut op = RankOperator::new(Arc::new(def(1, false, false, false, false))).unwrap();
    assert_eq!(
        push(&mut op, &[(I, "a", 5), (I, "a", 5), (I, "b", 2)]),
        vec!["+I[a, 5, 0]", "+I[b, 2, 0]"]
    );
    assert!(push(&mut op, &[(I, "a", 6)]).is_empty());
}

#[test]
fn state_ttl_drops_idle_partitions_without_retracting() {
    use std::sync::atomic::{AtomicI64, Ordering};
    let now = Arc::new(AtomicI64::new(1_000));
    let clock = {
        let now = Arc::clone(&now);
        Arc::new(move || now.load(Ordering::SeqCst))
    };
    let mut ttl_def = def(1, true, false, false, true);
    ttl_def.state_ttl_ms = Some(10_000);
    let metrics = Arc::new(weir_runtime::JobMetrics::default());
    let mut op = RankOperator::with_clock(Arc::new(ttl_def), Arc::clone(&metrics), clock).unwrap();
    assert_eq!(
        push(&mut op, &[(I, "a", 5), (I, "b", 3)]),
        vec!["+I[a, 5, 0]", "+I[b, 3, 0]"]
    );
    // b is written at 6 s; a is not, so a expires at 11 s and b at 16 s.
    now.store(6_000, Ordering::SeqCst);
    assert_eq!(
        push(&mut op, &[(I, "b", 4)]),
        vec!["-U[b, 3, 0]", "+U[b, 4, 0]"]
    );
    now.store(12_000, Ordering::SeqCst);
    // a's top row is gone: a lower price is a new first row, nothing is retracted.
    assert_eq!(push(&mut op, &[(I, "a", 1)]), vec!["+I[a, 1, 0]"]);
    assert_eq!(push(&mut op, &[(I, "b", 2)]), Vec::<String>::new());
    assert_eq!(metrics.state_keys_expired.load(Ordering::Relaxed), 1);
    assert_eq!(op.partitions(), 2);
}

#[test]
fn equal_rows_tie_by_arrival_and_unchanged_content_emits_nothing() {
    // Top 2 ascending: equal values rank by arrival, the earlier first.
    let mut op = RankOperator::new(Arc::new(def(2, false, true, false, true))).unwrap();
    assert_eq!(
        push(&mut op, &[(I, "a", 5), (I, "a", 5)]),
        vec!["+I[a, 5, 1]", "+I[a, 5, 2]"]
    );
    // A third 5 ranks after both: dropped.
    assert!(push(&mut op, &[(I, "a", 5)]).is_empty());
    // 4 takes rank 1; rank 2 is now the first 5, whose content equals the second's.
    assert_eq!(
        push(&mut op, &[(I, "a", 4)]),
        vec!["-U[a, 5, 1]", "+U[a, 4, 1]"]
    );
    assert_eq!(op.partitions(), 1);
}

#[test]
fn retractions_over_an_updating_input_shift_the_row_numbers() {
    let mut op = RankOperator::new(Arc::new(def(2, true, true, true, true))).unwrap();
    assert_eq!(
        push(&mut op, &[(I, "a", 9), (I, "a", 5), (I, "a", 3)]),
        vec!["+I[a, 9, 1]", "+I[a, 5, 2]"]
    );
    assert_eq!(
        push(&mut op, &[(UB, "a", 9), (UA, "a", 7)]),
        vec!["-U[a, 9, 1]", "+U[a, 7, 1]"]
    );
    // The third row, kept though outside the top 2, moves up.
    assert_eq!(
        push(&mut op, &[(RowKind::Delete, "a", 7)]),
        vec!["-U[a, 7, 1]", "+U[a, 5, 1]", "-U[a, 5, 2]", "+U[a, 3, 2]"]
    );
    // A retraction of a row never kept changes nothing.
    assert!(push(&mut op, &[(RowKind::Delete, "a", 8)]).is_empty());
    assert_eq!(
        push(
            &mut op,
            &[(RowKind::Delete, "a", 5), (RowKind::Delete, "a", 3)]
        ),
        vec!["-D[a, 5, 1]", "-D[a, 3, 2]"]
    );
    assert_eq!(op.partitions(), 0);
}

#[test]
fn an_expired_partition_is_absent_to_retractions_and_starts_afresh() {
    use std::sync::atomic::{AtomicI64, Ordering};
    let now = Arc::new(AtomicI64::new(1_000));
    let clock = {
        let now = Arc::clone(&now);
        Arc::new(move || now.load(Ordering::SeqCst))
    };
    let mut ttl_def = def(1, true, false, true, true);
    ttl_def.state_ttl_ms = Some(10_000);
    let metrics = Arc::new(weir_runtime::JobMetrics::default());
    let mut op = RankOperator::with_clock(Arc::new(ttl_def), Arc::clone(&metrics), clock).unwrap();
    assert_eq!(
        push(&mut op, &[(I, "a", 5), (I, "b", 6)]),
        vec!["+I[a, 5, 0]", "+I[b, 6, 0]"]
    );
    // A sweep at 10.5 s finds nothing expired and schedules the next for 13 s, so at
    // 12 s a and b expire when read.
    now.store(10_500, Ordering::SeqCst);
    assert_eq!(push(&mut op, &[(I, "c", 1)]), vec!["+I[c, 1, 0]"]);
    now.store(12_000, Ordering::SeqCst);
    // Retracting an expired row does nothing, and 7 and 3 are new first rows (b comes
    // first in the output as the batch touches it first).
    assert_eq!(
        push(
            &mut op,
            &[
                (RowKind::Delete, "b", 6),
                (RowKind::Delete, "a", 5),
                (I, "b", 7),
                (I, "a", 3)
            ]
        ),
        vec!["+I[b, 7, 0]", "+I[a, 3, 0]"]
    );
    assert_eq!(metrics.state_keys_expired.load(Ordering::Relaxed), 2);
    assert_eq!(op.partitions(), 3);
    // The sweep at 20 s drops nothing (next one at 22.5 s).
    now.store(20_000, Ordering::SeqCst);
    assert_eq!(
        push(&mut op, &[(I, "b", 9)]),
        vec!["-U[b, 7, 0]", "+U[b, 9, 0]"]
    );
    now.store(22_400, Ordering::SeqCst);
    // Only a retraction reads a: it expires and is dropped; nothing is emitted.
    assert!(push(&mut op, &[(RowKind::Delete, "a", 3)]).is_empty());
    assert_eq!(metrics.state_keys_expired.load(Ordering::Relaxed), 3);
    assert_eq!(op.partitions(), 2);
}
