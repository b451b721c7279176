//! A small tokio runtime of its own for an operator that talks to an external store
//! (a lookup join's client, a Redis or PostgreSQL sink).
//!
//! Operators are synchronous ([`crate::Operator`]): a subtask that must wait for a
//! network answer runs the request on its [`IoRuntime`] and blocks until it is done. The
//! store's connections live on that runtime (tokio I/O is bound to the runtime that
//! created it), whatever runtime the job's tasks run on. While it waits, a task on the
//! job's multi-threaded runtime hands its other work to another worker
//! (`block_in_place`), so one slow store does not stall unrelated tasks.

use std::future::Future;

use tokio::runtime::{Builder, Handle, Runtime, RuntimeFlavor};
use weir_types::{EngineError, EngineResult};

/// A one-thread tokio runtime owned by one subtask.
pub struct IoRuntime {
    runtime: Option<Runtime>,
}

impl IoRuntime {
    /// Starts the runtime; `name` names its thread (e.g. `weir-lookup`).
    pub fn new(name: &str) -> EngineResult<IoRuntime> {
        let runtime = Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(name)
            .enable_all()
            .build()
            .map_err(|e| EngineError::io(format!("cannot start the {name} I/O thread"), e))?;
        Ok(IoRuntime {
            runtime: Some(runtime),
        })
    }

    /// Runs `future` on this runtime and waits for its result.
    pub fn block_on<F, T>(&self, future: F) -> EngineResult<T>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| EngineError::Internal("I/O runtime used after shutdown".into()))?;
        let task = runtime.spawn(future);
        let wait = move || futures::executor::block_on(task);
        let joined = match Handle::try_current() {
            Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)
            }
            _ => wait(),
        };
        joined.map_err(|e| EngineError::Internal(format!("an I/O task failed: {e}")))
    }

    /// Spawns `future` to run in the background on this runtime.
    pub fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if let Some(runtime) = &self.runtime {
            runtime.spawn(future);
        }
    }
}

impl Drop for IoRuntime {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which tokio forbids inside another runtime.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
