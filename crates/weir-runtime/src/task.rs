//! The two kinds of task: a source chain and an operator chain. Each runs one subtask
//! of a chain of nodes: it reads (from a source reader or an input gate), pushes each
//! message through the chained operators by function call, and sends what the chain's
//! last operator emits to the next tasks' channels.
//!
//! Every message but `End` sent on a channel is counted in
//! [`JobMetrics::in_flight_messages`] until its receiver has handled it and sent what it
//! emitted in response; tools that script a job's input (`weir test`) wait for that count
//! to reach zero to know the job has processed everything so far.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use weir_types::{EngineError, EngineResult, Message, Watermark};

use crate::channel::{InputGate, Sender};
use crate::metrics::JobMetrics;
use crate::operator::{Operator, Output};
use crate::partition::Partitioner;
use crate::source::{EventTimeExtractor, SourceEvent, SourceReader};
use crate::watermark::{InputWatermarks, SplitWatermarks, WatermarkStatus};

/// One output edge of a task: a partitioner and a sender per downstream subtask.
pub(crate) struct OutputEdge {
    pub partitioner: Partitioner,
    pub senders: Vec<Sender>,
}

/// The chained operators of a task and where their output goes.
pub(crate) struct ChainRunner {
    pub operators: Vec<Box<dyn Operator>>,
    pub outputs: Vec<OutputEdge>,
    pub emitted: Vec<Message>,
    pub metrics: Arc<JobMetrics>,
}

impl ChainRunner {
    /// Pushes `message` (from input edge `input` of the head) through the chain.
    fn push(&mut self, input: usize, message: Message) -> EngineResult<()> {
        push_through(&mut self.operators, input, message, &mut self.emitted)
    }

    /// Sends everything the chain emitted downstream, waiting while channels are full.
    async fn flush(&mut self) -> EngineResult<()> {
        let emitted = std::mem::take(&mut self.emitted);
        for message in emitted {
            match message {
                Message::Batch(batch) => {
                    for edge in &mut self.outputs {
                        for (target, part) in edge.partitioner.partition(batch.clone())? {
                            send(&edge.senders[target], Message::Batch(part), &self.metrics)
                                .await?;
                        }
                    }
                }
                other => {
                    for edge in &self.outputs {
                        for sender in &edge.senders {
                            send(sender, other.clone(), &self.metrics).await?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    async fn push_and_flush(&mut self, input: usize, message: Message) -> EngineResult<()> {
        self.push(input, message)?;
        self.flush().await
    }
}

/// Sends `message`, counting it in flight (unless it is `End`) before it can be received.
async fn send(sender: &Sender, message: Message, metrics: &JobMetrics) -> EngineResult<()> {
    let counted = !matches!(message, Message::End);
    if counted {
        metrics.message_sent();
    }
    if sender.send(message).await.is_err() {
        if counted {
            metrics.message_done();
        }
        return Err(EngineError::Cancelled);
    }
    Ok(())
}

/// Hands `message` to the first operator and what it emits to the rest, recursively.
fn push_through(
    operators: &mut [Box<dyn Operator>],
    input: usize,
    message: Message,
    emitted: &mut Vec<Message>,
) -> EngineResult<()> {
    let Some((first, rest)) = operators.split_first_mut() else {
        emitted.push(message);
        return Ok(());
    };
    let mut out = Output::default();
    match message {
        Message::Batch(batch) => first.process_batch(input, batch, &mut out)?,
        Message::Watermark(w) => first.process_watermark(w, &mut out)?,
        Message::End => {
            first.finish(&mut out)?;
            out.message(Message::End);
        }
        other @ (Message::Idle | Message::Barrier(_)) => out.message(other),
    }
    for m in out.drain() {
        push_through(rest, 0, m, emitted)?;
    }
    Ok(())
}

/// A source subtask: reader, optional preparation (computed columns), watermarks.
pub(crate) struct SourceTask {
    pub reader: Box<dyn SourceReader>,
    pub prepare: Option<Box<dyn Operator>>,
    pub event_time: Option<Arc<dyn EventTimeExtractor>>,
    pub chain: ChainRunner,
    pub metrics: Arc<JobMetrics>,
    pub watermark_interval: Duration,
    pub idle_timeout: Option<Duration>,
    pub stop: watch::Receiver<bool>,
}

impl SourceTask {
    pub async fn run(mut self) -> EngineResult<()> {
        if self.reader.controls_watermarks() {
            // The reader scripts event time: the table's WATERMARK FOR does not apply.
            self.event_time = None;
        }
        let mut splits =
            SplitWatermarks::new(self.reader.split_count(), self.idle_timeout, Instant::now());
        let mut last_emitted = Watermark::MIN;
        let mut idle_announced = false;
        // Periodic watermarks; an interval of 0 means after every batch.
        let per_batch = self.watermark_interval.is_zero();
        let mut ticker = tokio::time::interval(if per_batch {
            Duration::from_millis(200)
        } else {
            self.watermark_interval
        });
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut next_periodic = Instant::now() + self.watermark_interval;
        loop {
            if *self.stop.borrow() {
                // Graceful stop: no final watermark (windows stay open, as in Flink's stop).
                return self.chain.push_and_flush(0, Message::End).await;
            }
            tokio::select! {
                biased;
                _ = self.stop.changed() => {
                    if self.stop.has_changed().is_err() {
                        // The job handle went away: stop as well.
                        return self.chain.push_and_flush(0, Message::End).await;
                    }
                }
                event = self.reader.next() => match event? {
                    SourceEvent::Batch { split, batch } => {
                        JobMetrics::add(&self.metrics.records_in, batch.num_rows());
                        let batches = match self.prepare.as_mut() {
                            None => vec![batch],
                            Some(op) => {
                                let mut out = Output::default();
                                op.process_batch(0, batch, &mut out)?;
                                out.drain()
                                    .filter_map(|m| match m {
                                        Message::Batch(b) => Some(b),
                                        _ => None,
                                    })
                                    .collect()
                            }
                        };
                        for batch in batches {
                            match self.event_time.clone() {
                                // Interval 0: a watermark after every row that raises it, as
                                // Flink does; rows after it in the batch can then be late.
                                Some(extractor) if per_batch => {
                                    let rows = extractor.row_watermarks(&batch)?;
                                    let mut running = i64::MIN;
                                    let mut segment_start = 0;
                                    for (row, candidate) in rows.iter().enumerate() {
                                        let Some(candidate) = *candidate else { continue };
                                        if candidate > running {
                                            running = candidate;
                                            let segment = batch.slice(segment_start, row + 1 - segment_start);
                                            self.chain.push(0, Message::Batch(segment))?;
                                            segment_start = row + 1;
                                            splits.observe(split, Some(candidate), Instant::now());
                                            self.emit_status(&splits, &mut last_emitted, &mut idle_announced)?;
                                        }
                                    }
                                    splits.observe(split, None, Instant::now());
                                    if segment_start < batch.num_rows() {
                                        let rest = batch.slice(segment_start, batch.num_rows() - segment_start);
                                        self.chain.push(0, Message::Batch(rest))?;
                                    }
                                }
                                Some(extractor) => {
                                    let candidate = extractor.max_watermark(&batch)?;
                                    splits.observe(split, candidate, Instant::now());
                                    self.chain.push(0, Message::Batch(batch))?;
                                }
                                None => {
                                    splits.observe(split, None, Instant::now());
                                    self.chain.push(0, Message::Batch(batch))?;
                                }
                            }
                        }
                        // A reader that is always ready would starve the ticker (the select
                        // is biased towards data): emit periodic watermarks here too.
                        if per_batch || Instant::now() >= next_periodic {
                            self.emit_status(&splits, &mut last_emitted, &mut idle_announced)?;
                            next_periodic = Instant::now() + self.watermark_interval;
                        }
                        self.chain.flush().await?;
                    }
                    SourceEvent::SplitFinished(split) => splits.finish(split),
                    SourceEvent::Watermark(w) => {
                        if w > last_emitted || (idle_announced && w >= last_emitted) {
                            last_emitted = w;
                            idle_announced = false;
                            self.chain.push(0, Message::Watermark(w))?;
                            self.chain.flush().await?;
                        }
                    }
                    SourceEvent::Finished => {
                        self.chain.push(0, Message::Watermark(Watermark::MAX))?;
                        return self.chain.push_and_flush(0, Message::End).await;
                    }
                },
                _ = ticker.tick() => {
                    next_periodic = Instant::now() + self.watermark_interval;
                    self.emit_status(&splits, &mut last_emitted, &mut idle_announced)?;
                    self.chain.flush().await?;
                }
            }
        }
    }

    fn emit_status(
        &mut self,
        splits: &SplitWatermarks,
        last_emitted: &mut Watermark,
        idle_announced: &mut bool,
    ) -> EngineResult<()> {
        if self.event_time.is_none() && splits.status(Instant::now()) != WatermarkStatus::Idle {
            return Ok(());
        }
        match splits.status(Instant::now()) {
            WatermarkStatus::Active(w) => {
                if w > *last_emitted || (*idle_announced && w >= *last_emitted) {
                    *last_emitted = w;
                    *idle_announced = false;
                    self.chain.push(0, Message::Watermark(w))?;
                }
            }
            WatermarkStatus::Idle => {
                if !*idle_announced {
                    *idle_announced = true;
                    self.chain.push(0, Message::Idle)?;
                }
            }
        }
        Ok(())
    }
}

/// A subtask that reads channels: combines their watermarks, aligns barriers.
pub(crate) struct OperatorTask {
    pub gate: InputGate,
    pub chain: ChainRunner,
}

impl OperatorTask {
    pub async fn run(mut self) -> EngineResult<()> {
        let mut watermarks = InputWatermarks::new(self.gate.len());
        let mut barrier_seen = vec![false; self.gate.len()];
        let mut ended = vec![false; self.gate.len()];
        while let Some((channel, message)) = self.gate.next().await {
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
                    // Aligned checkpoints: hold this channel until every open channel
                    // delivered the same barrier, then pass it on once.
                    barrier_seen[channel] = true;
                    self.gate.set_blocked(channel, true);
                    let aligned = (0..barrier_seen.len()).all(|c| barrier_seen[c] || ended[c]);
                    if aligned {
                        barrier_seen.iter_mut().for_each(|b| *b = false);
                        self.gate.unblock_all();
                        self.chain.push(0, Message::Barrier(barrier))?;
                    }
                }
                Message::End => {
                    ended[channel] = true;
                    if let Some(status) = watermarks.on_end(channel) {
                        self.forward_status(status)?;
                    }
                    let pending_barrier = barrier_seen.iter().any(|b| *b);
                    if pending_barrier && (0..ended.len()).all(|c| barrier_seen[c] || ended[c]) {
                        barrier_seen.iter_mut().for_each(|b| *b = false);
                        self.gate.unblock_all();
                    }
                }
            }
            self.chain.flush().await?;
            if counted {
                self.chain.metrics.message_done();
            }
        }
        self.chain.push_and_flush(0, Message::End).await
    }

    fn forward_status(&mut self, status: WatermarkStatus) -> EngineResult<()> {
        match status {
            WatermarkStatus::Active(w) => self.chain.push(0, Message::Watermark(w)),
            WatermarkStatus::Idle => self.chain.push(0, Message::Idle),
        }
    }
}

/// Wraps a sink to count the rows it receives and the watermark it reached.
pub(crate) struct CountingSink {
    pub inner: Box<dyn Operator>,
    pub metrics: Arc<JobMetrics>,
}

impl Operator for CountingSink {
    fn process_batch(
        &mut self,
        input: usize,
        batch: arrow::record_batch::RecordBatch,
        out: &mut Output,
    ) -> EngineResult<()> {
        JobMetrics::add(&self.metrics.records_out, batch.num_rows());
        self.inner.process_batch(input, batch, out)
    }

    fn process_watermark(&mut self, watermark: Watermark, out: &mut Output) -> EngineResult<()> {
        if watermark != Watermark::MAX {
            self.metrics
                .sink_watermark
                .fetch_max(watermark.0, std::sync::atomic::Ordering::Relaxed);
        }
        self.inner.process_watermark(watermark, out)
    }

    fn finish(&mut self, out: &mut Output) -> EngineResult<()> {
        self.inner.finish(out)
    }
}
