//! The exactly-once state machine against a transaction coordinator double: barriers,
//! completions, failures at every step, restores in this process and in another one, at
//! other parallelisms, and lingering transactions.

use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use weir_runtime::StateSnapshot;
use weir_types::ChangelogKind;

use super::encode::{Encoded, MessageEncoder};
use super::options::SinkOptions;
use super::tests_options::table_with;
use super::tests_txn_double::{FakeBroker, FakeClient};
use super::transactions::TxnWriter;
use super::txn_state;
use crate::filesystem::state::union_of;

/// Records whose values are `values` (the `name` column alone, as CSV).
fn records(values: &[&str]) -> Encoded {
    let t = table_with(
        &[
            ("connector", "kafka"),
            ("properties.bootstrap.servers", "127.0.0.1:9092"),
            ("topic", "t"),
            ("value.format", "csv"),
            ("key.format", "csv"),
            ("key.fields", "user_id;amount"),
            ("value.fields-include", "EXCEPT_KEY"),
        ],
        &[],
        vec![],
        vec![],
    );
    let options = SinkOptions::read(&t, ChangelogKind::AppendOnly, false).unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
    ]));
    let n = values.len();
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(0..n as i64)),
            Arc::new(StringArray::from(values.to_vec())),
            Arc::new(Float64Array::from(vec![0.0; n])),
        ],
    )
    .unwrap();
    let mut out = Encoded::default();
    MessageEncoder::new(&options)
        .unwrap()
        .encode(&batch, &mut out)
        .unwrap();
    out
}

fn writer(client: FakeClient, subtask: usize, parallelism: usize) -> TxnWriter<FakeClient> {
    TxnWriter::new(client, "orders", "job", subtask, parallelism)
}

fn restore(old: &[StateSnapshot]) -> txn_state::Restored {
    txn_state::restore(union_of(old)).unwrap()
}

#[test]
fn a_checkpoint_interval_is_visible_only_when_its_checkpoint_completes() {
    let broker = FakeBroker::default();
    let mut w = writer(broker.process(), 0, 1);
    w.write(&records(&["a", "b"])).unwrap();
    let snapshot = w.pre_commit(1).unwrap();
    let restored = txn_state::restore(snapshot).unwrap();
    assert_eq!(restored.pending.len(), 1);
    assert_eq!(restored.pending[0].id, "job-0-1");
    assert_eq!(restored.writers[0].next, 2);
    assert!(
        broker.committed().is_empty(),
        "nothing visible before completion"
    );
    // The next interval writes in the next transaction while checkpoint 1 completes.
    w.write(&records(&["c"])).unwrap();
    w.commit_up_to(1).unwrap();
    assert_eq!(broker.committed(), ["a", "b"]);
    w.pre_commit(2).unwrap();
    w.commit_up_to(2).unwrap();
    assert_eq!(broker.committed(), ["a", "b", "c"]);
    assert!(broker.open().is_empty());
    // The fresh start probed job-0-1 (unused) and job-0-2 for a lingering owner 1.
    let calls = &w.client().calls;
    assert_eq!(calls[0], "init job-0-1");
    assert!(calls.contains(&"commit job-0-2".to_string()), "{calls:?}");
}

#[test]
fn an_interval_without_rows_opens_no_transaction() {
    let broker = FakeBroker::default();
    let mut w = writer(broker.process(), 0, 1);
    let snapshot = w.pre_commit(1).unwrap();
    assert!(txn_state::restore(snapshot).unwrap().pending.is_empty());
    w.commit_up_to(1).unwrap();
    assert!(!w.client().calls.iter().any(|c| c.starts_with("begin")));
}

#[test]
fn a_failed_checkpoint_is_committed_by_the_next_one() {
    let broker = FakeBroker::default();
    let mut w = writer(broker.process(), 0, 1);
    w.write(&records(&["a"])).unwrap();
    w.pre_commit(1).unwrap(); // checkpoint 1 never completes (another task declined it)
    w.write(&records(&["b"])).unwrap();
    let restored = txn_state::restore(w.pre_commit(2).unwrap()).unwrap();
    let ids: Vec<&str> = restored.pending.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["job-0-1", "job-0-2"]);
    w.commit_up_to(2).unwrap();
    assert_eq!(broker.committed(), ["a", "b"]);
}

#[test]
fn a_failed_delivery_fails_the_barrier_and_the_open_transaction_is_aborted() {
    let broker = FakeBroker::default();
    let mut w = writer(broker.process(), 0, 1);
    w.write(&records(&["a"])).unwrap();
    broker.fail_flush("job-0-1");
    let err = w.pre_commit(1).unwrap_err().to_string();
    assert!(err.contains("could not be delivered"), "{err}");
    drop(w); // the job fails
    assert!(broker.committed().is_empty());
    assert_eq!(broker.aborted(), ["a"]);
    assert!(broker.open().is_empty());
}

#[test]
fn restart_in_this_process_commits_a_pre_committed_checkpoint() {
    // The job fails after checkpoint 1's snapshot, before its completion reached the
    // sink; it restarts in-process from checkpoint 1.
    let broker = FakeBroker::default();
    let first = broker.process();
    let restarted = first.restarted();
    let mut w = writer(first, 0, 1);
    w.write(&records(&["a"])).unwrap();
    let snapshot = w.pre_commit(1).unwrap();
    w.write(&records(&["b"])).unwrap(); // after the barrier: not in checkpoint 1
    drop(w);
    assert!(broker.committed().is_empty());
    let mut w = writer(restarted, 0, 1);
    w.recover(&txn_state::restore(snapshot).unwrap()).unwrap();
    assert_eq!(
        broker.committed(),
        ["a"],
        "checkpoint 1's rows, exactly once"
    );
    assert_eq!(broker.aborted(), ["b"]);
    // The next transaction continues after the ones the failed run used.
    w.write(&records(&["b"])).unwrap();
    w.pre_commit(2).unwrap();
    w.commit_up_to(2).unwrap();
    assert_eq!(broker.committed(), ["a", "b"]);
    assert!(broker.open().is_empty());
}

#[test]
fn process_death_after_the_commit_request_keeps_the_checkpoint() {
    let broker = FakeBroker::default();
    let mut w = writer(broker.process(), 0, 1);
    w.write(&records(&["a"])).unwrap();
    let snapshot = w.pre_commit(1).unwrap();
    broker.die_during_commit("job-0-1");
    assert!(w.commit_up_to(1).is_err());
    std::mem::forget(w); // the process is gone: no abort, no parking
    let mut w = writer(broker.process(), 0, 1);
    w.recover(&txn_state::restore(snapshot).unwrap()).unwrap();
    assert_eq!(broker.committed(), ["a"]);
    assert!(broker.open().is_empty());
}

#[test]
fn process_death_between_pre_commit_and_commit_request_loses_that_checkpoint() {
    // The documented window: librdkafka cannot resume another process's transaction, and
    // InitProducerId aborts one whose commit was not requested.
    let broker = FakeBroker::default();
    let mut w = writer(broker.process(), 0, 1);
    w.write(&records(&["a"])).unwrap();
    let snapshot = w.pre_commit(1).unwrap();
    std::mem::forget(w); // killed before checkpoint 1's completion reached it
    let mut w = writer(broker.process(), 0, 1);
    w.recover(&txn_state::restore(snapshot).unwrap()).unwrap();
    assert!(broker.committed().is_empty());
    assert_eq!(broker.aborted(), ["a"]);
    assert!(broker.open().is_empty());
}

#[test]
fn lingering_transactions_of_a_dead_process_are_aborted() {
    let broker = FakeBroker::default();
    let mut w = writer(broker.process(), 0, 1);
    w.write(&records(&["a"])).unwrap();
    let s1 = w.pre_commit(1).unwrap();
    w.commit_up_to(1).unwrap();
    w.write(&records(&["b"])).unwrap();
    w.pre_commit(2).unwrap(); // checkpoint 2 never completes
    w.write(&records(&["c"])).unwrap(); // open
    std::mem::forget(w);
    assert_eq!(broker.open(), ["job-0-2", "job-0-3"]);
    let mut w = writer(broker.process(), 0, 1);
    w.recover(&txn_state::restore(s1).unwrap()).unwrap();
    assert!(broker.open().is_empty());
    assert_eq!(broker.committed(), ["a"]);
    assert_eq!(broker.aborted(), ["b", "c"]);
    w.write(&records(&["b2"])).unwrap();
    let restored = txn_state::restore(w.pre_commit(2).unwrap()).unwrap();
    assert_eq!(
        restored.pending[0].id, "job-0-4",
        "past every id found used"
    );
}

#[test]
fn a_fresh_start_aborts_what_an_earlier_run_left_open() {
    let broker = FakeBroker::default();
    broker.leave_open("job-0-1", &["x"]);
    broker.leave_open("job-1-1", &["y"]); // a subtask of a run with parallelism 2
    let mut w = writer(broker.process(), 0, 1);
    w.write(&records(&["a"])).unwrap();
    assert_eq!(broker.aborted(), ["x", "y"]);
    w.pre_commit(1).unwrap();
    w.commit_up_to(1).unwrap();
    assert_eq!(broker.committed(), ["a"]);
    assert!(broker.known("job-0-2"));
    assert!(!broker.known("job-0-3"));
}

#[test]
fn restore_at_a_lower_parallelism_finishes_every_old_subtask() {
    let broker = FakeBroker::default();
    let clients: Vec<FakeClient> = (0..3).map(|_| broker.process()).collect();
    let mut snapshots = Vec::new();
    for (i, client) in clients.into_iter().enumerate() {
        let mut w = writer(client, i, 3);
        w.write(&records(&[&format!("r{i}")])).unwrap();
        snapshots.push(w.pre_commit(5).unwrap());
        w.write(&records(&[&format!("late{i}")])).unwrap(); // open, after the barrier
        std::mem::forget(w);
    }
    // Checkpoint 5 completed, but the process died before any commit request: the rows
    // are lost (see above); the restore still leaves nothing open.
    let restored = restore(&snapshots);
    let mut writers: Vec<_> = (0..2).map(|i| writer(broker.process(), i, 2)).collect();
    for w in &mut writers {
        w.recover(&restored).unwrap();
    }
    assert!(broker.open().is_empty(), "{:?}", broker.open());
    let mut aborted = broker.aborted();
    aborted.sort();
    assert_eq!(aborted, ["late0", "late1", "late2", "r0", "r1", "r2"]);
}

#[test]
fn restore_in_this_process_at_another_parallelism_commits_every_old_subtask() {
    let broker = FakeBroker::default();
    let process = broker.process();
    let mut snapshots = Vec::new();
    for i in 0..2 {
        let mut w = writer(process.restarted(), i, 2);
        w.write(&records(&[&format!("r{i}")])).unwrap();
        snapshots.push(w.pre_commit(3).unwrap());
        drop(w); // the job fails before checkpoint 3's completion reaches the sink
    }
    let restored = restore(&snapshots);
    for i in 0..3 {
        let mut w = writer(process.restarted(), i, 3);
        w.recover(&restored).unwrap();
        w.write(&records(&[&format!("n{i}")])).unwrap();
        w.pre_commit(4).unwrap();
        w.commit_up_to(4).unwrap();
    }
    let mut committed = broker.committed();
    committed.sort();
    assert_eq!(committed, ["n0", "n1", "n2", "r0", "r1"]);
    assert!(broker.open().is_empty());
}

#[test]
fn a_fenced_producer_cannot_commit() {
    // Two jobs share a prefix: the second one's InitProducerId fences the first.
    let broker = FakeBroker::default();
    let mut a = writer(broker.process(), 0, 1);
    a.write(&records(&["a"])).unwrap();
    a.pre_commit(1).unwrap();
    let mut b = writer(broker.process(), 0, 1);
    b.write(&records(&["b"])).unwrap();
    let err = a.commit_up_to(1).unwrap_err().to_string();
    assert!(
        err.contains("cannot commit Kafka transaction 'job-0-1' of checkpoint 1"),
        "{err}"
    );
    std::mem::forget(a);
    b.pre_commit(1).unwrap();
    b.commit_up_to(1).unwrap();
    assert_eq!(broker.committed(), ["b"]);
}
