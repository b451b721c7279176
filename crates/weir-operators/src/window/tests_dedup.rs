//! Checkpoint tests of the window deduplication: snapshot after every event, restore at
//! the same and at other parallelisms, compare with an uninterrupted run; ties of the
//! order time are broken by arrival across a restore.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use weir_runtime::{OperatorFactory, SubtaskContext};

use super::dedup::WindowDeduplicate;
use super::tests_harness::{check_restores, ranked_input, ranked_script};

fn dedup(keep_last: bool, nulls_first: bool) -> Arc<dyn OperatorFactory> {
    let mut fields: Vec<Field> = ranked_input()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("rn", DataType::Int64, false));
    WindowDeduplicate {
        window_end_column: 1,
        partition_columns: vec![0, 1, 2],
        order_column: 3,
        keep_last,
        nulls_first,
        output_schema: Arc::new(Schema::new(fields)),
        shift: None,
    }
    .into_factory()
}

#[test]
fn dedup_restores_at_every_split_and_parallelism() {
    for (seed, keep_last, nulls_first) in [(11, false, false), (12, true, false), (13, false, true)]
    {
        let events = ranked_script(seed, 14);
        let f = dedup(keep_last, nulls_first);
        let keys = [0, 1, 2];
        let expected = check_restores(&f, &keys, &events, 1, 1);
        assert!(expected.len() > 5, "{expected:?}");
        assert_eq!(check_restores(&f, &keys, &events, 2, 1), expected);
        assert_eq!(check_restores(&f, &keys, &events, 2, 3), expected);
    }
}

#[test]
fn a_changed_direction_is_refused() {
    use super::tests_harness::Subtasks;
    let events = ranked_script(14, 3);
    let mut first = Subtasks::new(&dedup(false, false), 1, &[0, 1, 2]);
    first.run(&events);
    let snapshot = first.snapshot().remove(0);
    let mut op = dedup(true, false)
        .create(&SubtaskContext::single("d"))
        .unwrap();
    let err = op.restore_state(snapshot).unwrap_err().to_string();
    assert!(err.contains("SQL changed"), "{err}");
}

#[test]
fn the_stored_layout_is_stable() {
    use super::tests_harness::Subtasks;
    let events = ranked_script(15, 4);
    let mut first = Subtasks::new(&dedup(false, false), 1, &[0, 1, 2]);
    first.run(&events);
    let snapshot = first.snapshot().remove(0);
    assert_eq!(
        super::tests_checkpoint::layout(&snapshot),
        [
            "rows (Keyed): __weir_key_group, col0, col1, col2, col3, col4, arrival",
            "arrivals (Union): next_arrival",
            "watermark (Union): watermark",
            "definition (Union): definition"
        ]
    );
}
