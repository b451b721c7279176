//! The mock source: a reader that hands out the steps of its table as the driver
//! ([`super::MockRun::drive`]) offers them.

use std::sync::Arc;

use async_trait::async_trait;
use weir_runtime::{SourceEvent, SourceFactory, SourceReader, SubtaskContext};
use weir_types::EngineResult;

use super::MockRun;
use crate::SourceBinding;

/// The source of mocked table `table`.
pub(super) fn binding(run: MockRun, table: &str) -> SourceBinding {
    SourceBinding {
        factory: Arc::new(MockSourceFactory {
            run,
            table: table.to_string(),
        }),
        description: "mock (weir test)".into(),
        bounded: true,
        // One reader hands out the scripted rows; more subtasks would only sit idle.
        max_useful_parallelism: Some(1),
        parallelism: None,
        changelog: weir_types::ChangelogKind::AppendOnly,
        upsert_key: Vec::new(),
    }
}

struct MockSourceFactory {
    run: MockRun,
    table: String,
}

impl SourceFactory for MockSourceFactory {
    fn is_bounded(&self) -> bool {
        true
    }

    fn create_reader(&self, ctx: &SubtaskContext) -> EngineResult<Box<dyn SourceReader>> {
        let controls_watermarks = self.run.state().scripted_watermarks.contains(&self.table);
        Ok(Box::new(MockReader {
            run: self.run.clone(),
            table: self.table.clone(),
            active: ctx.subtask == 0,
            handed_out: false,
            controls_watermarks,
        }))
    }
}

struct MockReader {
    run: MockRun,
    table: String,
    /// Only subtask 0 reads; the others end at once.
    active: bool,
    /// Whether the last call returned an event of the current step: the next call means
    /// the task has sent it on.
    handed_out: bool,
    controls_watermarks: bool,
}

#[async_trait]
impl SourceReader for MockReader {
    fn split_count(&self) -> usize {
        usize::from(self.active)
    }

    fn controls_watermarks(&self) -> bool {
        self.controls_watermarks
    }

    // Cancel-safe: state changes only right before returning.
    async fn next(&mut self) -> EngineResult<SourceEvent> {
        if !self.active {
            return Ok(SourceEvent::Finished);
        }
        let shared = self.run.shared.clone();
        loop {
            let changed = {
                let mut state = self.run.state();
                let handed_out = std::mem::take(&mut self.handed_out);
                if let Some(current) = state.current.as_mut().filter(|c| c.table == self.table) {
                    if let Some(event) = current.events.pop_front() {
                        self.handed_out = true;
                        return Ok(event.into_source_event());
                    }
                    if handed_out {
                        current.done = true;
                    }
                }
                if state.finished {
                    return Ok(SourceEvent::Finished);
                }
                // Created under the lock: a change made after it is released wakes it.
                shared.changed.notified()
            };
            changed.await;
        }
    }
}
