//! Tests of the datagen connector: row counts, sequences, bounds, rates, types, option errors.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{
    Array, AsArray, Decimal128Array, Float64Array, Int32Array, Int64Array, Int8Array, RecordBatch,
    StringArray,
};
use arrow::datatypes::{DataType, Field, Fields, Int32Type, Schema, TimeUnit};
use weir_runtime::{SourceEvent, SubtaskContext};

use crate::descriptor::{MetadataColumn, TableDescriptor};
use crate::{create_source, SourceBinding};

fn table(fields: Vec<Field>, options: &[(&str, &str)]) -> TableDescriptor {
    let mut opts = BTreeMap::from([("connector".to_string(), "datagen".to_string())]);
    opts.extend(options.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    TableDescriptor {
        name: "t".into(),
        schema: Arc::new(Schema::new(fields)),
        metadata: vec![],
        primary_key: vec![],
        options: opts,
        base_dir: PathBuf::new(),
    }
}

fn ctx(subtask: usize, parallelism: usize) -> SubtaskContext {
    let mut ctx = SubtaskContext::single("datagen");
    ctx.subtask = subtask;
    ctx.parallelism = parallelism;
    ctx
}

/// Runs every subtask to its end; returns the batches of each subtask.
async fn run(binding: &SourceBinding, parallelism: usize) -> Vec<Vec<RecordBatch>> {
    let mut out = Vec::new();
    for i in 0..parallelism {
        let mut reader = binding.factory.create_reader(&ctx(i, parallelism)).unwrap();
        assert_eq!(reader.split_count(), 1);
        let mut batches = Vec::new();
        let mut split_finished = false;
        loop {
            match reader.next().await.unwrap() {
                SourceEvent::Batch { split, batch } => {
                    assert_eq!(split, 0);
                    assert!(!split_finished);
                    batches.push(batch);
                }
                SourceEvent::SplitFinished(0) => split_finished = true,
                SourceEvent::SplitFinished(s) => panic!("unexpected split {s}"),
                SourceEvent::Finished => break,
                SourceEvent::Watermark(w) => panic!("this reader emits no watermarks: {w:?}"),
            }
        }
        assert!(split_finished);
        out.push(batches);
    }
    out
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

fn i64_values(batches: &[Vec<RecordBatch>], column: usize) -> Vec<i64> {
    batches
        .iter()
        .flatten()
        .flat_map(|b| {
            let a = b
                .column(column)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap();
            a.values().to_vec()
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn number_of_rows_is_exact_at_any_parallelism() {
    let t = table(
        vec![Field::new("a", DataType::Int32, true)],
        &[("number-of-rows", "1000"), ("rows-per-second", "100000")],
    );
    let binding = create_source(&t).unwrap();
    assert!(binding.bounded && binding.factory.is_bounded());
    let p1 = run(&binding, 1).await;
    assert_eq!(rows(&p1[0]), 1000);
    let p3 = run(&binding, 3).await;
    let per: Vec<usize> = p3.iter().map(|b| rows(b)).collect();
    assert_eq!(per, vec![334, 333, 333]);
    // More subtasks than rows: some subtasks make nothing, the total stays exact.
    let t = table(
        vec![Field::new("a", DataType::Int32, true)],
        &[("number-of-rows", "2")],
    );
    let p4 = run(&create_source(&t).unwrap(), 4).await;
    assert_eq!(p4.iter().map(|b| rows(b)).sum::<usize>(), 2);
}

#[tokio::test(start_paused = true)]
async fn sequences_are_complete_without_overlap() {
    let t = table(
        vec![
            Field::new("id", DataType::Int64, false),
            Field::new("s", DataType::Utf8, true),
            Field::new("small", DataType::Int8, true),
        ],
        &[
            ("fields.id.kind", "sequence"),
            ("fields.id.start", "-5"),
            ("fields.id.end", "994"),
            ("fields.s.kind", "sequence"),
            ("fields.s.start", "0"),
            ("fields.s.end", "5000"),
            ("rows-per-second", "1000000"),
        ],
    );
    let binding = create_source(&t).unwrap();
    assert!(binding.bounded, "a sequence bounds the source");
    for parallelism in [1, 3] {
        let batches = run(&binding, parallelism).await;
        let mut ids = i64_values(&batches, 0);
        assert_eq!(ids.len(), 1000);
        ids.sort();
        assert_eq!(ids, (-5..=994).collect::<Vec<_>>());
        // The string sequence runs alongside: row k of the id sequence is row k of s.
        for b in batches.iter().flatten() {
            let id = b.column(0).as_primitive::<arrow::datatypes::Int64Type>();
            let s = b.column(1).as_any().downcast_ref::<StringArray>().unwrap();
            for i in 0..b.num_rows() {
                assert_eq!(s.value(i).parse::<i64>().unwrap(), id.value(i) + 5);
            }
        }
    }
    // The shortest sequence and number-of-rows bound the source together.
    let t = table(
        vec![Field::new("id", DataType::Int32, false)],
        &[
            ("fields.id.kind", "sequence"),
            ("fields.id.start", "1"),
            ("fields.id.end", "50"),
            ("number-of-rows", "20"),
        ],
    );
    let batches = run(&create_source(&t).unwrap(), 2).await;
    let mut ids: Vec<i32> = batches
        .iter()
        .flatten()
        .flat_map(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<Int32Array>()
                .unwrap()
                .values()
                .to_vec()
        })
        .collect();
    ids.sort();
    assert_eq!(ids.len(), 20);
    ids.dedup();
    assert_eq!(ids.len(), 20);
}

#[tokio::test(start_paused = true)]
async fn random_values_respect_min_and_max() {
    let t = table(
        vec![
            Field::new("i", DataType::Int32, true),
            Field::new("t", DataType::Int8, true),
            Field::new("d", DataType::Float64, true),
            Field::new("m", DataType::Decimal128(5, 2), true),
        ],
        &[
            ("fields.i.min", "5"),
            ("fields.i.max", "10"),
            ("fields.t.min", "-3"),
            ("fields.t.max", "-3"),
            ("fields.d.min", "-1.5"),
            ("fields.d.max", "2.5"),
            ("fields.m.min", "1"),
            ("fields.m.max", "2"),
            ("number-of-rows", "3000"),
        ],
    );
    let batches = run(&create_source(&t).unwrap(), 1).await;
    let mut seen = std::collections::BTreeSet::new();
    for b in &batches[0] {
        let i = b.column(0).as_any().downcast_ref::<Int32Array>().unwrap();
        assert_eq!(i.null_count(), 0);
        assert!(i.values().iter().all(|v| (5..=10).contains(v)));
        seen.extend(i.values().iter().copied());
        let t = b.column(1).as_any().downcast_ref::<Int8Array>().unwrap();
        assert!(t.values().iter().all(|v| *v == -3));
        let d = b.column(2).as_any().downcast_ref::<Float64Array>().unwrap();
        assert!(d.values().iter().all(|v| (-1.5..=2.5).contains(v)));
        let m = b
            .column(3)
            .as_any()
            .downcast_ref::<Decimal128Array>()
            .unwrap();
        assert!(m.values().iter().all(|v| (100..=200).contains(v)));
    }
    assert_eq!(seen.len(), 6, "every value of 5..=10 appears");
}

#[tokio::test(start_paused = true)]
async fn string_lengths_and_null_rate() {
    let t = table(
        vec![
            Field::new("fixed", DataType::Utf8, true),
            Field::new("var", DataType::Utf8, true),
            Field::new("default", DataType::Utf8, true),
            Field::new("half", DataType::Int64, true),
            Field::new("none", DataType::Utf8, true),
        ],
        &[
            ("fields.fixed.length", "7"),
            ("fields.var.length", "5"),
            ("fields.var.var-len", "true"),
            ("fields.half.null-rate", "0.5"),
            ("fields.none.null-rate", "1"),
            ("number-of-rows", "2000"),
        ],
    );
    let batches = run(&create_source(&t).unwrap(), 1).await;
    let mut var_lengths = std::collections::BTreeSet::new();
    let mut nulls = 0;
    for b in &batches[0] {
        let fixed = b.column(0).as_string::<i32>();
        assert!(fixed.iter().all(
            |s| s.is_some_and(|s| s.len() == 7 && s.chars().all(|c| c.is_ascii_alphanumeric()))
        ));
        var_lengths.extend(
            b.column(1)
                .as_string::<i32>()
                .iter()
                .map(|s| s.map_or(0, str::len)),
        );
        assert!(b
            .column(2)
            .as_string::<i32>()
            .iter()
            .all(|s| s.is_some_and(|s| s.len() == 100)));
        nulls += b.column(3).null_count();
        assert_eq!(b.column(4).null_count(), b.num_rows());
    }
    assert_eq!(var_lengths, (1..=5).collect());
    assert!(
        (700..1300).contains(&nulls),
        "about half of 2000 rows are null: {nulls}"
    );
}

#[tokio::test(start_paused = true)]
async fn rate_limit_holds() {
    let t = table(
        vec![Field::new("a", DataType::Int64, true)],
        &[("rows-per-second", "1000"), ("number-of-rows", "5000")],
    );
    let binding = create_source(&t).unwrap();
    for parallelism in [1, 2] {
        let mut readers: Vec<_> = (0..parallelism)
            .map(|i| binding.factory.create_reader(&ctx(i, parallelism)).unwrap())
            .collect();
        let start = tokio::time::Instant::now();
        let mut total = 0;
        // Interleave the subtasks as concurrent tasks would run.
        let mut done = vec![false; parallelism];
        while done.iter().any(|d| !d) {
            for (i, reader) in readers.iter_mut().enumerate() {
                if done[i] {
                    continue;
                }
                match reader.next().await.unwrap() {
                    SourceEvent::Batch { batch, .. } => {
                        assert!(
                            batch.num_rows() <= 100 / parallelism,
                            "batches of a tenth of a second"
                        );
                        total += batch.num_rows();
                        // Never ahead of the rate by more than a batch.
                        let elapsed = start.elapsed().as_secs_f64();
                        assert!(
                            total as f64 <= elapsed * 1000.0 + 100.0 * parallelism as f64 + 1.0
                        );
                    }
                    SourceEvent::SplitFinished(_) => {}
                    SourceEvent::Finished => done[i] = true,
                    SourceEvent::Watermark(w) => panic!("this reader emits no watermarks: {w:?}"),
                }
            }
        }
        assert_eq!(total, 5000);
        let elapsed = start.elapsed().as_secs_f64();
        assert!(
            (4.8..=5.1).contains(&elapsed),
            "5000 rows at 1000/s took {elapsed} s"
        );
    }
}

#[test]
fn unknown_and_inapplicable_field_options_are_errors() {
    let fields = || {
        vec![
            Field::new("id", DataType::Int32, false),
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        ]
    };
    let err = |options: &[(&str, &str)]| match create_source(&table(fields(), options)) {
        Ok(_) => panic!("expected an error for {options:?}"),
        Err(e) => e.to_string(),
    };
    let e = err(&[("fields.nope.kind", "random")]);
    assert!(
        e.contains("fields.nope.kind") && e.contains("'nope'") && e.contains("id, ts"),
        "{e}"
    );
    let e = err(&[("fields.id.length", "3")]);
    assert!(
        e.contains("fields.id.length") && e.contains("fields.id.max"),
        "{e}"
    );
    let e = err(&[("fields.ts.kind", "sequence")]);
    assert!(e.contains("sequence") && e.contains("ts"), "{e}");
    let e = err(&[("fields.id.kind", "sequence"), ("fields.id.start", "1")]);
    assert!(e.contains("fields.id.end"), "{e}");
    let e = err(&[
        ("fields.id.kind", "sequence"),
        ("fields.id.start", "1"),
        ("fields.id.end", "5"),
        ("fields.id.min", "1"),
    ]);
    assert!(e.contains("fields.id.min"), "{e}");
    let e = err(&[("fields.id.min", "9"), ("fields.id.max", "1")]);
    assert!(e.contains("min (9) is above max (1)"), "{e}");
    let e = err(&[("fields.id.null-rate", "0.1")]);
    assert!(e.contains("NOT NULL"), "{e}");
    let e = err(&[("fields.id.kind", "zigzag")]);
    assert!(e.contains("'random' or 'sequence'"), "{e}");
    let e = err(&[("rows-per-second", "0")]);
    assert!(e.contains("rows-per-second"), "{e}");
    let e = err(&[("number-of-row", "5")]);
    assert!(e.contains("number-of-row"), "{e}");
    let mut t = table(fields(), &[]);
    t.metadata.push(MetadataColumn {
        column: "ts".into(),
        key: "ts".into(),
        is_virtual: true,
    });
    assert!(create_source(&t).is_err());
    // Field names match case-insensitively (the planner may lower-case identifiers).
    assert!(create_source(&table(fields(), &[("fields.ID.min", "1")])).is_ok());
}

#[tokio::test(start_paused = true)]
async fn every_type_generates_batches_of_the_declared_schema() {
    let row = Fields::from(vec![
        Field::new("a", DataType::Int16, true),
        Field::new("b", DataType::Utf8, false),
    ]);
    let entries = Fields::from(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("value", DataType::Float32, true),
    ]);
    let fields = vec![
        Field::new("tiny", DataType::Int8, true),
        Field::new("small", DataType::Int16, true),
        Field::new("int", DataType::Int32, true),
        Field::new("big", DataType::Int64, true),
        Field::new("f", DataType::Float32, true),
        Field::new("d", DataType::Float64, true),
        Field::new("dec", DataType::Decimal128(10, 3), true),
        Field::new("flag", DataType::Boolean, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("sv", DataType::Utf8View, true),
        Field::new("bytes", DataType::Binary, true),
        Field::new("day", DataType::Date32, true),
        Field::new("tod", DataType::Time32(TimeUnit::Millisecond), true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        Field::new(
            "ts6",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            true,
        ),
        Field::new(
            "ltz",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
        Field::new(
            "arr",
            DataType::List(Arc::new(Field::new("item", DataType::Int32, true))),
            true,
        ),
        Field::new(
            "m",
            DataType::Map(
                Arc::new(Field::new("entries", DataType::Struct(entries), false)),
                false,
            ),
            true,
        ),
        Field::new("r", DataType::Struct(row), true),
    ];
    let t = table(
        fields,
        &[
            ("number-of-rows", "500"),
            ("fields.ts.max-past", "1 h"),
            ("fields.arr.length", "4"),
            ("fields.arr.null-rate", "0.3"),
            ("fields.arr.element.min", "1"),
            ("fields.arr.element.max", "3"),
            ("fields.m.key.length", "2"),
            ("fields.r.a.min", "7"),
            ("fields.r.a.max", "7"),
            ("fields.r.b.length", "3"),
            ("fields.r.null-rate", "0.5"),
            ("fields.bytes.length", "4"),
        ],
    );
    let batches = run(&create_source(&t).unwrap(), 1).await;
    assert_eq!(rows(&batches[0]), 500);
    let now = chrono::Utc::now().timestamp_millis();
    for b in &batches[0] {
        assert_eq!(b.schema(), t.schema);
        let ts = b
            .column_by_name("ts")
            .unwrap()
            .as_primitive::<arrow::datatypes::TimestampMillisecondType>();
        assert!(ts
            .values()
            .iter()
            .all(|v| *v <= now && *v > now - 3_600_000 - 60_000));
        let arr = b.column_by_name("arr").unwrap().as_list::<i32>();
        for i in 0..arr.len() {
            if arr.is_valid(i) {
                let v = arr.value(i);
                let v = v.as_primitive::<Int32Type>();
                assert_eq!(v.len(), 4);
                assert!(v.values().iter().all(|x| (1..=3).contains(x)));
            }
        }
        let r = b.column_by_name("r").unwrap().as_struct();
        let a = r.column(0).as_primitive::<arrow::datatypes::Int16Type>();
        assert!(a.values().iter().all(|x| *x == 7));
        let m = b.column_by_name("m").unwrap().as_map();
        assert!(m
            .keys()
            .as_string::<i32>()
            .iter()
            .all(|k| k.is_some_and(|k| k.len() == 2)));
    }
}
