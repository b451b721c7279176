//! Tests of the temporal join with a changelog left input (each left row's kind passed
//! on) and with a versioned view's right input (rows older than the key's newest version
//! dropped). Expected outputs computed by hand.

use super::*;

/// `def` with a changelog left input (its output updating) and, with `keeps_last`, the
/// right input of a versioned view.
fn changelog_def(kind: JoinKind, keeps_last: bool) -> TemporalJoin {
    let mut def = def(kind, false, None, None);
    def.left.updating = true;
    def.right_keeps_last = keeps_last;
    let mut fields: Vec<Field> = def
        .output_schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(ROW_KIND_COLUMN, DataType::Int8, false));
    def.output_schema = Arc::new(Schema::new(fields));
    def
}

fn left_changes(rows: &[Row<'_>], kinds: &[RowKind]) -> RecordBatch {
    let mut columns = columns(rows);
    columns.push(Arc::new(Int8Array::from(
        kinds.iter().map(|k| *k as i8).collect::<Vec<_>>(),
    )));
    RecordBatch::try_new(
        left_input_schema(&changelog_def(JoinKind::Inner, false).left),
        columns,
    )
    .unwrap()
}

/// Output rows as `+I[k, a, ts, k, b, ts]`, sorted, then watermarks.
fn render_kinds(out: &mut Output) -> Vec<String> {
    let (mut rows, watermarks): (Vec<String>, Vec<String>) = render(out)
        .into_iter()
        .map(|line| match line.rsplit_once(", ") {
            Some((row, kind)) if line.starts_with('[') => {
                let kind = kind.trim_end_matches(']').parse::<i8>().unwrap();
                format!("{}{row}]", RowKind::from_i8(kind).unwrap())
            }
            _ => line,
        })
        .partition(|line| !line.starts_with('W'));
    rows.sort();
    rows.extend(watermarks);
    rows
}

#[test]
fn left_rows_of_a_changelog_keep_their_kinds() {
    let mut h = Harness::new(changelog_def(JoinKind::Left, false));
    h.right(
        &[(Some(1), "v0", Some(0)), (Some(1), "v20", Some(20))],
        None,
    );
    let mut out = Output::default();
    // Order x inserted at 5, updated to y at 25 (its before image keeps time 5); order z
    // of key 2 (no version) inserted and deleted; a row without time is padded at once.
    let batch = left_changes(
        &[
            (Some(1), "x", Some(5)),
            (Some(2), "z", Some(6)),
            (Some(1), "x", Some(5)),
            (Some(1), "y", Some(25)),
            (Some(2), "z", Some(6)),
            (Some(1), "t", None),
        ],
        &[
            RowKind::Insert,
            RowKind::Insert,
            RowKind::UpdateBefore,
            RowKind::UpdateAfter,
            RowKind::Delete,
            RowKind::Insert,
        ],
    );
    h.op.process_batch(0, batch, &mut out).unwrap();
    assert_eq!(render_kinds(&mut out), ["+I[1, t, null, null, null, null]"]);
    let mut out = Output::default();
    h.op.process_watermark(Watermark(10), &mut out).unwrap();
    assert_eq!(
        render_kinds(&mut out),
        [
            "+I[1, x, 5, 1, v0, 0]",
            "+I[2, z, 6, null, null, null]",
            "-D[2, z, 6, null, null, null]",
            "-U[1, x, 5, 1, v0, 0]",
            "W10"
        ]
    );
    let mut out = Output::default();
    h.op.process_watermark(Watermark(30), &mut out).unwrap();
    assert_eq!(render_kinds(&mut out), ["+U[1, y, 25, 1, v20, 20]", "W30"]);
}

#[test]
fn a_versioned_views_rows_older_than_the_newest_version_are_dropped() {
    let mut h = Harness::new(def(JoinKind::Left, false, None, None));
    let mut keeps_last = def(JoinKind::Left, false, None, None);
    keeps_last.right_keeps_last = true;
    let mut view = Harness::new(keeps_last);
    for h in [&mut h, &mut view] {
        // 10 arrives after 20 (out of order within the key); key 2's 5 after key 1's 20
        // (out of order across keys only); 20 again replaces 20.
        h.right(
            &[
                (Some(1), "v0", Some(0)),
                (Some(1), "v20", Some(20)),
                (Some(1), "v10", Some(10)),
                (Some(2), "w5", Some(5)),
                (Some(1), "v20b", Some(20)),
            ],
            None,
        );
        h.left(&[
            (Some(1), "a", Some(12)),
            (Some(1), "b", Some(20)),
            (Some(2), "c", Some(5)),
        ]);
    }
    assert_eq!(
        h.watermark(30),
        [
            "[1, a, 12, 1, v10, 10]",
            "[1, b, 20, 1, v20b, 20]",
            "[2, c, 5, 2, w5, 5]",
            "W30"
        ]
    );
    // The deduplication dropped v10: order a finds v0.
    assert_eq!(
        view.watermark(30),
        [
            "[1, a, 12, 1, v0, 0]",
            "[1, b, 20, 1, v20b, 20]",
            "[2, c, 5, 2, w5, 5]",
            "W30"
        ]
    );
}
