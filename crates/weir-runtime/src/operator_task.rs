//! An operator task: reads its input channels through a gate, combines their
//! watermarks, aligns checkpoint barriers and pushes everything through its chain.
//!
//! Alignment (exactly-once): a channel that delivered the barrier is held until every
//! channel that has not ended delivered it; then the chain snapshots as the barrier
//! passes and the task acknowledges. In at-least-once mode channels are not held: the
//! snapshot is taken when the last open channel delivered the barrier.

use std::time::{Duration, Instant};

use weir_types::{Barrier, EngineResult, Message};

use crate::channel::InputGate;
use crate::checkpoint::{CheckpointingMode, Control};
use crate::task::{recv_control, serve_until_shutdown, ChainRunner, CheckpointLink};
use crate::watermark::{InputWatermarks, WatermarkStatus};

/// A subtask that reads channels: combines their watermarks, aligns barriers.
pub(crate) struct OperatorTask {
    pub gate: InputGate,
    pub chain: ChainRunner,
    pub checkpoints: Option<CheckpointLink>,
}

/// The barrier being aligned.
struct Alignment {
    barrier: Barrier,
    started: Instant,
    seen: Vec<bool>,
}

impl OperatorTask {
    pub async fn run(mut self) -> EngineResult<()> {
        if let Some(checkpoint) = self.checkpoints.as_ref().and_then(|l| l.restore.clone()) {
            self.chain.restore(&checkpoint).await?;
        }
        self.read().await?;
        let Some(mut link) = self.checkpoints.take() else {
            return Ok(());
        };
        serve_until_shutdown(&mut link, &mut self.chain).await
    }

    /// Reads until every input ended; `End` has been sent downstream when it returns.
    async fn read(&mut self) -> EngineResult<()> {
        let channels = self.gate.len();
        let mut watermarks = InputWatermarks::new(channels);
        let mut ended = vec![false; channels];
        let mut alignment: Option<Alignment> = None;
        let hold = self
            .checkpoints
            .as_ref()
            .is_none_or(|l| l.mode == CheckpointingMode::ExactlyOnce);
        loop {
            let (channel, message) = tokio::select! {
                biased;
                control = recv_control(&mut self.checkpoints) => {
                    if let Control::Complete { checkpoint_id } = control {
                        self.chain.notify_complete(checkpoint_id)?;
                    }
                    // A trigger is only remembered (by the link): the barrier brings it.
                    continue;
                }
                next = self.gate.next() => match next {
                    Some(next) => next,
                    None => break,
                },
            };
            let input = self.gate.input_of(channel);
            // `End` is not counted in flight (a vanished sender yields one too).
            let counted = !matches!(message, Message::End);
            match message {
                Message::Batch(batch) => {
                    if let Some(status) = watermarks.on_data(channel) {
                        self.forward_status(status)?;
                    }
                    self.chain.push(input, Message::Batch(batch))?;
                }
                Message::Watermark(w) => {
                    if let Some(status) = watermarks.on_watermark(channel, w) {
                        self.forward_status(status)?;
                    }
                }
                Message::Idle => {
                    if let Some(status) = watermarks.on_idle(channel) {
                        self.forward_status(status)?;
                    }
                }
                Message::Barrier(barrier) => {
                    let pending = alignment.get_or_insert_with(|| Alignment {
                        barrier,
                        started: Instant::now(),
                        seen: vec![false; channels],
                    });
                    pending.seen[channel] = true;
                    if hold {
                        self.gate.set_blocked(channel, true);
                    }
                }
                Message::End => {
                    ended[channel] = true;
                    if let Some(status) = watermarks.on_end(channel) {
                        self.forward_status(status)?;
                    }
                }
            }
            let aligned = alignment
                .as_ref()
                .is_some_and(|a| (0..channels).all(|c| a.seen[c] || ended[c]));
            if aligned {
                if let Some(done) = alignment.take() {
                    self.gate.unblock_all();
                    let held = done.started.elapsed();
                    crate::metrics::JobMetrics::add(
                        &self.chain.metrics.checkpoint_alignment_us_total,
                        held.as_micros() as usize,
                    );
                    self.checkpoint(done.barrier, held)?;
                }
            }
            self.chain.flush().await?;
            if counted {
                self.chain.metrics.message_done();
            }
        }
        self.chain.push_and_flush(0, Message::End).await
    }

    /// The barrier has aligned: snapshot the chain as it passes, acknowledge.
    fn checkpoint(&mut self, barrier: Barrier, alignment: Duration) -> EngineResult<()> {
        self.chain.push(0, Message::Barrier(barrier))?;
        if let Some(link) = self.checkpoints.as_mut() {
            let snapshots = self.chain.take_barrier_snapshots()?;
            link.ack(barrier.checkpoint_id, snapshots, alignment);
        } else {
            // Barriers without checkpoints (tests): pass them on, keep nothing.
            self.chain.snapshots.clear();
        }
        Ok(())
    }

    fn forward_status(&mut self, status: WatermarkStatus) -> EngineResult<()> {
        match status {
            WatermarkStatus::Active(w) => self.chain.push(0, Message::Watermark(w)),
            WatermarkStatus::Idle => self.chain.push(0, Message::Idle),
        }
    }
}
