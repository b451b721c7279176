//! Tests of the datagen source's checkpointed positions: random values, sequences and
//! `number-of-rows` continue after a restore at any parallelism exactly as an
//! uninterrupted run.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, Schema};
use weir_runtime::{SourceEvent, SourceReader, SubtaskContext};

use crate::create_source;
use crate::descriptor::TableDescriptor;
use crate::nexmark::tests_rewind::{check_rewind, rows_of, uninterrupted};
use crate::SourceBinding;

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

fn random_fields() -> Vec<Field> {
    let item = Arc::new(Field::new("item", DataType::Int32, true));
    vec![
        Field::new("n", DataType::Int64, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("d", DataType::Float64, true),
        Field::new("l", DataType::List(item), true),
        Field::new(
            "r",
            DataType::Struct(Fields::from(vec![
                Field::new("a", DataType::Int32, true),
                Field::new("b", DataType::Utf8, true),
            ])),
            true,
        ),
    ]
}

const RANDOM_OPTIONS: &[(&str, &str)] = &[
    ("rows-per-second", "100"),
    ("number-of-rows", "97"),
    ("fields.s.length", "6"),
    ("fields.s.var-len", "true"),
    ("fields.s.null-rate", "0.3"),
    ("fields.l.null-rate", "0.2"),
    ("fields.l.length", "2"),
];

fn ctx(subtask: usize, parallelism: usize) -> SubtaskContext {
    SubtaskContext {
        subtask,
        parallelism,
        ..SubtaskContext::single("datagen")
    }
}

const PAIRS: &[(usize, usize)] = &[(1, 1), (2, 1), (2, 3), (3, 2)];

#[tokio::test(start_paused = true)]
async fn random_rows_resume_exactly_at_every_batch() {
    let make = || create_source(&table(random_fields(), RANDOM_OPTIONS)).unwrap();
    check_rewind(make, PAIRS).await;
}

#[tokio::test(start_paused = true)]
async fn sequences_resume_exactly_at_every_batch() {
    let fields = vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("v", DataType::Int32, true),
    ];
    let options = [
        ("rows-per-second", "50"),
        ("fields.id.kind", "sequence"),
        ("fields.id.start", "10"),
        ("fields.id.end", "70"),
        ("fields.name.kind", "sequence"),
        ("fields.name.start", "1"),
        ("fields.name.end", "1000"),
        ("fields.v.min", "0"),
        ("fields.v.max", "9"),
    ];
    let make = || create_source(&table(fields.clone(), &options)).unwrap();
    let rows = uninterrupted(&make(), 1).await;
    assert_eq!(rows.len(), 61);
    check_rewind(make, PAIRS).await;
}

#[tokio::test(start_paused = true)]
async fn a_rows_values_do_not_depend_on_parallelism_but_on_the_seed() {
    let binding = create_source(&table(random_fields(), RANDOM_OPTIONS)).unwrap();
    let one = uninterrupted(&binding, 1).await;
    assert_eq!(one, uninterrupted(&binding, 3).await);
    let other = create_source(&table(random_fields(), RANDOM_OPTIONS)).unwrap();
    assert_ne!(one, uninterrupted(&other, 1).await, "another seed");
}

/// The first `batches` batches of a fresh reader (subtask 0 of 1).
async fn first_batches(reader: &mut dyn SourceReader, batches: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..batches {
        match reader.next().await.unwrap() {
            SourceEvent::Batch { batch, .. } => out.push(batch),
            other => panic!("unexpected {other:?}"),
        }
    }
    rows_of(&out)
}

#[tokio::test(start_paused = true)]
async fn an_unbounded_source_continues_its_rows() {
    let options = [("rows-per-second", "100")];
    let binding: SourceBinding = create_source(&table(random_fields(), &options)).unwrap();
    let mut reference = binding.factory.create_reader(&ctx(0, 1)).unwrap();
    let expected = first_batches(reference.as_mut(), 6).await;
    let mut first = binding.factory.create_reader(&ctx(0, 1)).unwrap();
    let mut got = first_batches(first.as_mut(), 2).await;
    let snapshot = first.snapshot_position().unwrap();
    let other = create_source(&table(random_fields(), &options)).unwrap();
    let mut restored = other.factory.create_reader(&ctx(0, 1)).unwrap();
    restored.restore_position(snapshot.clone()).unwrap();
    got.extend(first_batches(restored.as_mut(), 4).await);
    assert_eq!(got, expected);
    // A subtask left without shards (restored at a higher parallelism) idles.
    let mut idle = other.factory.create_reader(&ctx(1, 2)).unwrap();
    idle.restore_position(snapshot).unwrap();
    assert_eq!(idle.split_count(), 0);
    let next = tokio::time::timeout(std::time::Duration::from_secs(5), idle.next()).await;
    assert!(
        next.is_err(),
        "an unbounded subtask without shards never ends"
    );
}

#[tokio::test]
async fn a_checkpoint_of_other_columns_is_refused() {
    let a = create_source(&table(random_fields(), RANDOM_OPTIONS)).unwrap();
    let mut options = RANDOM_OPTIONS.to_vec();
    options[2] = ("fields.s.length", "7");
    let b = create_source(&table(random_fields(), &options)).unwrap();
    let snapshot = a
        .factory
        .create_reader(&ctx(0, 1))
        .unwrap()
        .snapshot_position()
        .unwrap();
    let err = b
        .factory
        .create_reader(&ctx(0, 1))
        .unwrap()
        .restore_position(snapshot)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("generated for other columns or options"),
        "{err}"
    );
}
