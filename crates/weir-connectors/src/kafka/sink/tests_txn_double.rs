//! A test double of [`TxnClient`] for the transaction state machine's unit tests: a
//! transaction coordinator in memory, with Kafka's rules for transactional ids
//! (`InitProducerId` bumps the epoch, fences older producers, completes a transaction
//! whose commit was requested and aborts an ongoing one), and what a `read_committed`
//! consumer would see. Only the state machine's tests use it; the sink runs
//! `RdKafkaTxnClient`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use weir_types::{EngineError, EngineResult};

use super::encode::Encoded;
use super::transactions::TxnClient;

/// A transaction's state at the coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Txn {
    /// No transaction open.
    Empty,
    /// Open, with the values written so far.
    Ongoing(Vec<String>),
    /// `EndTxn(commit)` accepted, markers not all written yet.
    PrepareCommit(Vec<String>),
}

#[derive(Debug, Default)]
struct Coordinator {
    /// Per transactional id: its epoch and transaction.
    ids: HashMap<String, (i16, Txn)>,
    /// What `read_committed` consumers see, in commit order.
    committed: Vec<String>,
    /// Values of aborted transactions.
    aborted: Vec<String>,
    /// Ids whose next commit request is accepted and then the process "dies".
    die_during_commit: Vec<String>,
    /// Ids whose next flush fails.
    fail_flush: Vec<String>,
}

/// The broker side, shared by every client of a test (several processes, restarts).
#[derive(Debug, Clone, Default)]
pub(super) struct FakeBroker(Arc<Mutex<Coordinator>>);

impl FakeBroker {
    fn with<T>(&self, f: impl FnOnce(&mut Coordinator) -> T) -> T {
        f(&mut self.0.lock().unwrap())
    }

    /// Values a `read_committed` consumer reads.
    pub(super) fn committed(&self) -> Vec<String> {
        self.with(|c| c.committed.clone())
    }

    /// Values of aborted transactions.
    pub(super) fn aborted(&self) -> Vec<String> {
        self.with(|c| c.aborted.clone())
    }

    /// Ids with a transaction still open or awaiting its commit.
    pub(super) fn open(&self) -> Vec<String> {
        let mut open: Vec<String> = self.with(|c| {
            c.ids
                .iter()
                .filter(|(_, (_, t))| *t != Txn::Empty)
                .map(|(id, _)| id.clone())
                .collect()
        });
        open.sort();
        open
    }

    /// Whether `id` was ever initialised.
    pub(super) fn known(&self, id: &str) -> bool {
        self.with(|c| c.ids.contains_key(id))
    }

    /// The next commit of `id` is accepted by the coordinator, then the process dies
    /// before it hears back (the commit call fails).
    pub(super) fn die_during_commit(&self, id: &str) {
        self.with(|c| c.die_during_commit.push(id.to_string()));
    }

    /// The next flush of `id` fails (a record could not be delivered).
    pub(super) fn fail_flush(&self, id: &str) {
        self.with(|c| c.fail_flush.push(id.to_string()));
    }

    /// A producer of an earlier process left `id` with these values open.
    pub(super) fn leave_open(&self, id: &str, values: &[&str]) {
        self.with(|c| {
            let entry = c.ids.entry(id.to_string()).or_insert((-1, Txn::Empty));
            entry.0 += 1;
            entry.1 = Txn::Ongoing(values.iter().map(|v| v.to_string()).collect());
        });
    }

    /// A client of this broker in a new process (an empty parking lot).
    pub(super) fn process(&self) -> FakeClient {
        FakeClient {
            broker: self.clone(),
            producers: HashMap::new(),
            parked: Arc::default(),
            calls: Vec::new(),
        }
    }
}

/// One process's producers: transactional id → the epoch each was initialised with.
pub(super) struct FakeClient {
    broker: FakeBroker,
    producers: HashMap<String, i16>,
    parked: Arc<Mutex<HashMap<String, i16>>>,
    /// The calls made, e.g. `init p-0-1`.
    pub(super) calls: Vec<String>,
}

impl FakeClient {
    /// Another client of the same process (sharing its parking lot: a restart of the job
    /// in this process).
    pub(super) fn restarted(&self) -> FakeClient {
        FakeClient {
            broker: self.broker.clone(),
            producers: HashMap::new(),
            parked: self.parked.clone(),
            calls: Vec::new(),
        }
    }

    fn fenced(&self, id: &str) -> EngineResult<()> {
        let mine = self.producers.get(id).copied();
        let current = self.broker.with(|c| c.ids.get(id).map(|(e, _)| *e));
        match (mine, current) {
            (Some(m), Some(c)) if m == c => Ok(()),
            (None, _) => Err(EngineError::Internal(format!("no producer for '{id}'"))),
            _ => Err(EngineError::Config(format!(
                "producer of '{id}' fenced by a newer one"
            ))),
        }
    }

    /// InitProducerId: returns the new epoch.
    fn init_id(&mut self, id: &str) -> i16 {
        self.calls.push(format!("init {id}"));
        let epoch = self.broker.with(|c| {
            let entry = c.ids.entry(id.to_string()).or_insert((-1, Txn::Empty));
            entry.0 += 1;
            match std::mem::replace(&mut entry.1, Txn::Empty) {
                Txn::Empty => {}
                Txn::Ongoing(values) => c.aborted.extend(values),
                Txn::PrepareCommit(values) => c.committed.extend(values),
            }
            c.ids[id].0
        });
        self.producers.insert(id.to_string(), epoch);
        epoch
    }

    fn end(&mut self, id: &str, commit: bool) -> EngineResult<()> {
        self.fenced(id)?;
        let dies = self.broker.with(|c| {
            let dies = commit && c.die_during_commit.iter().any(|d| d == id);
            c.die_during_commit.retain(|d| d != id);
            let entry = c.ids.get_mut(id).expect("initialised");
            let values = match std::mem::replace(&mut entry.1, Txn::Empty) {
                Txn::Ongoing(v) | Txn::PrepareCommit(v) => v,
                Txn::Empty => Vec::new(),
            };
            if dies {
                entry.1 = Txn::PrepareCommit(values);
            } else if commit {
                c.committed.extend(values);
            } else {
                c.aborted.extend(values);
            }
            dies
        });
        if dies {
            return Err(EngineError::Config(format!(
                "the process died while committing '{id}'"
            )));
        }
        Ok(())
    }
}

impl TxnClient for FakeClient {
    fn init(&mut self, id: &str) -> EngineResult<()> {
        self.parked.lock().unwrap().remove(id);
        self.init_id(id);
        Ok(())
    }

    fn probe(&mut self, id: &str) -> EngineResult<Option<bool>> {
        self.parked.lock().unwrap().remove(id);
        let epoch = self.init_id(id);
        self.producers.remove(id);
        Ok(Some(epoch > 0))
    }

    fn begin(&mut self, id: &str) -> EngineResult<()> {
        self.calls.push(format!("begin {id}"));
        self.fenced(id)?;
        self.broker.with(|c| {
            c.ids.get_mut(id).expect("initialised").1 = Txn::Ongoing(Vec::new());
        });
        Ok(())
    }

    fn produce(&mut self, id: &str, records: &Encoded) -> EngineResult<()> {
        self.fenced(id)?;
        let values: Vec<String> = records
            .records()
            .iter()
            .map(|r| String::from_utf8_lossy(records.value(r).unwrap_or_default()).into_owned())
            .collect();
        self.broker
            .with(|c| match &mut c.ids.get_mut(id).expect("initialised").1 {
                Txn::Ongoing(v) => {
                    v.extend(values);
                    Ok(())
                }
                other => Err(EngineError::Internal(format!(
                    "produce to '{id}' outside a transaction ({other:?})"
                ))),
            })
    }

    fn flush(&mut self, id: &str) -> EngineResult<()> {
        self.calls.push(format!("flush {id}"));
        self.fenced(id)?;
        let fail = self.broker.with(|c| {
            let fail = c.fail_flush.iter().any(|f| f == id);
            c.fail_flush.retain(|f| f != id);
            fail
        });
        if fail {
            return Err(EngineError::Config(format!(
                "a record of '{id}' could not be delivered"
            )));
        }
        Ok(())
    }

    fn commit(&mut self, id: &str) -> EngineResult<()> {
        self.calls.push(format!("commit {id}"));
        self.end(id, true)
    }

    fn abort(&mut self, id: &str) -> EngineResult<()> {
        self.calls.push(format!("abort {id}"));
        self.end(id, false)
    }

    fn close(&mut self, id: &str) {
        self.producers.remove(id);
    }

    fn park(&mut self, id: &str) {
        if let Some(epoch) = self.producers.remove(id) {
            self.parked.lock().unwrap().insert(id.to_string(), epoch);
        }
    }

    fn unpark(&mut self, id: &str) -> bool {
        match self.parked.lock().unwrap().remove(id) {
            Some(epoch) => {
                self.producers.insert(id.to_string(), epoch);
                true
            }
            None => false,
        }
    }
}
