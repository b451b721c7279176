//! Checkpoint tests of the window Top-N: snapshot after every event, restore at the
//! same and at other parallelisms, compare with an uninterrupted run.

use arrow::datatypes::{Field, Schema};

use super::*;
use crate::window::tests_harness::{check_restores, ranked_input, ranked_script, Event, Subtasks};

fn top_n(limit: usize, order: Vec<(usize, SortOptions)>) -> Arc<dyn OperatorFactory> {
    let mut fields: Vec<Field> = ranked_input()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("rn", DataType::Int64, false));
    WindowTopN {
        window_end_column: 1,
        partition_columns: vec![0, 1, 2],
        order,
        limit,
        output_schema: Arc::new(Schema::new(fields)),
        shift: None,
    }
    .into_factory()
}

const DESC: SortOptions = SortOptions {
    descending: true,
    nulls_first: false,
};

#[test]
fn top_n_restores_at_every_split_and_parallelism() {
    for (seed, limit) in [(1, 1), (2, 2), (3, 3)] {
        let events = ranked_script(seed, 14);
        let f = top_n(limit, vec![(4, DESC)]);
        let expected = check_restores(&f, &[0, 1, 2], &events, 1, 1);
        assert!(expected.len() > 5, "{expected:?}");
        assert_eq!(check_restores(&f, &[0, 1, 2], &events, 2, 1), expected);
        assert_eq!(check_restores(&f, &[0, 1, 2], &events, 2, 3), expected);
    }
}

#[test]
fn a_restored_watermark_is_not_moved_back_by_a_lower_one() {
    let events = ranked_script(7, 6);
    let f = top_n(2, vec![(4, DESC)]);
    let mut first = Subtasks::new(&f, 1, &[0, 1, 2]);
    first.run(&events);
    first.run(&[Event::Watermark(100_000)]);
    let snapshot = first.snapshot();
    let mut second = Subtasks::new(&f, 1, &[0, 1, 2]);
    second.restore(&snapshot);
    // A lower watermark, then rows of long fired windows: late, never emitted.
    let mut again = second.run(&[Event::Watermark(10)]);
    again.extend(second.run(&events));
    again.extend(second.finish());
    assert!(again.is_empty(), "{again:?}");
}

#[test]
fn a_changed_limit_is_refused() {
    let events = ranked_script(8, 3);
    let mut first = Subtasks::new(&top_n(2, vec![(4, DESC)]), 1, &[0, 1, 2]);
    first.run(&events);
    let snapshot = first.snapshot().remove(0);
    let mut op = top_n(3, vec![(4, DESC)])
        .create(&SubtaskContext::single("t"))
        .unwrap();
    let err = op.restore_state(snapshot).unwrap_err().to_string();
    assert!(err.contains("SQL changed"), "{err}");
}

#[test]
fn the_stored_layout_is_stable() {
    let events = ranked_script(9, 4);
    let mut first = Subtasks::new(&top_n(2, vec![(4, DESC)]), 1, &[0, 1, 2]);
    first.run(&events);
    let snapshot = first.snapshot().remove(0);
    let layout: Vec<String> = snapshot
        .tables()
        .iter()
        .map(|t| {
            let columns: Vec<String> = t
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            format!("{}: {}", t.name(), columns.join(", "))
        })
        .collect();
    assert_eq!(
        layout,
        [
            "rows: __weir_key_group, col0, col1, col2, col3, col4",
            "watermark: watermark",
            "definition: definition"
        ]
    );
}
