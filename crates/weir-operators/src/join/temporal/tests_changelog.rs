//! Tests of the temporal join with a changelog left input (each left row's kind passed
//! on) and with a versioned view's right input (rows older than the key's newest version
//! dropped). Expected outputs computed by hand.

use super::*;
use crate::join::test_support::{check_checkpoints, Step};

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

/// Random batches: left rows of every kind, append-only right rows (versions, out of
/// order within keys too), and watermarks; some rows late.
fn random_changes(seed: u64, count: usize) -> Vec<Step> {
    use RowKind::*;
    let mut rng = SmallRng::seed_from_u64(seed);
    let values = ["a", "m", "z"];
    let mut now = 0i64;
    let mut watermark = i64::MIN;
    let mut steps = Vec::new();
    for _ in 0..count {
        let input = rng.random_range(0..2);
        let n = rng.random_range(1..5);
        let mut rows = Vec::new();
        let mut kinds = Vec::new();
        for _ in 0..n {
            now += rng.random_range(0..2000);
            let t = now - rng.random_range(0..8000);
            let k = rng.random_bool(0.9).then(|| rng.random_range(0..3));
            rows.push((k, values[rng.random_range(0..values.len())], Some(t)));
            kinds.push([Insert, UpdateAfter, Delete, UpdateBefore][rng.random_range(0..4)]);
        }
        let batch = if input == 0 {
            left_changes(&rows, &kinds)
        } else {
            right_batch(&rows, None)
        };
        steps.push(Step::Batch(input, batch));
        if rng.random_bool(0.4) && now - 3000 > watermark {
            watermark = now - 3000;
            steps.push(Step::Watermark(watermark));
        }
    }
    steps.push(Step::Watermark(i64::MAX));
    steps
}

#[test]
fn changelog_left_inputs_and_versioned_views_continue_exactly_after_restore() {
    for (seed, kind, keeps_last) in [
        (4, JoinKind::Inner, true),
        (5, JoinKind::Left, false),
        (6, JoinKind::Left, true),
    ] {
        let join = Arc::new(changelog_def(kind, keeps_last));
        let steps = random_changes(seed, 24);
        let make = {
            let join = Arc::clone(&join);
            move |_: usize, _: usize, now: Arc<AtomicI64>| -> Box<dyn Operator> {
                Box::new(
                    TemporalJoinOperator::with_clock(
                        Arc::clone(&join),
                        Arc::new(JobMetrics::default()),
                        Arc::new(move || now.load(Ordering::SeqCst)),
                    )
                    .unwrap()
                    .with_max_parallelism(crate::group_agg::test_support::MAX_PARALLELISM),
                )
            }
        };
        let out = check_checkpoints(&make, &[vec![0], vec![0]], &steps);
        // The row kind is the last column: -U is 1, -D is 3.
        let rows: Vec<&String> = out.iter().flatten().collect();
        let retractions = rows
            .iter()
            .filter(|l| l.ends_with("|1") || l.ends_with("|3"))
            .count();
        let joined = rows
            .iter()
            .filter(|l| !l.contains("NULL|NULL|NULL"))
            .count();
        assert!(
            retractions > 2 && joined > 5,
            "{kind:?}: the scenario joins rows and retractions: {out:?}"
        );
    }
}
