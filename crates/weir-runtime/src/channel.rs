//! Bounded channels between tasks, and the input gate a task reads them through.
//!
//! A channel holds at most `capacity` messages; a producer that finds it full waits,
//! which is how a slow consumer slows its producers down (backpressure) instead of
//! buffering without bound.

use std::future::poll_fn;
use std::task::Poll;

use tokio::sync::mpsc;
use weir_types::Message;

/// Sending half of a data channel.
pub type Sender = mpsc::Sender<Message>;
/// Receiving half of a data channel.
pub type Receiver = mpsc::Receiver<Message>;

/// A bounded channel of `capacity` messages.
pub fn channel(capacity: usize) -> (Sender, Receiver) {
    mpsc::channel(capacity.max(1))
}

struct InputChannel {
    receiver: Receiver,
    input: usize,
    blocked: bool,
    ended: bool,
}

/// The channels a task reads from, one per upstream subtask and input edge.
///
/// Polls the channels fairly (round-robin). A channel can be blocked, e.g. while barriers
/// align; a blocked channel keeps its messages, so its producer feels backpressure.
pub struct InputGate {
    channels: Vec<InputChannel>,
    next: usize,
}

impl InputGate {
    /// A gate over `(receiver, input edge index)` pairs.
    pub fn new(receivers: Vec<(Receiver, usize)>) -> InputGate {
        InputGate {
            channels: receivers
                .into_iter()
                .map(|(receiver, input)| InputChannel {
                    receiver,
                    input,
                    blocked: false,
                    ended: false,
                })
                .collect(),
            next: 0,
        }
    }

    /// Number of channels.
    pub fn len(&self) -> usize {
        self.channels.len()
    }

    /// Whether the gate has no channels.
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }

    /// The input edge index of channel `channel`.
    pub fn input_of(&self, channel: usize) -> usize {
        self.channels[channel].input
    }

    /// Stops or resumes reading `channel`.
    pub fn set_blocked(&mut self, channel: usize, blocked: bool) {
        self.channels[channel].blocked = blocked;
    }

    /// Resumes reading every channel.
    pub fn unblock_all(&mut self) {
        for c in &mut self.channels {
            c.blocked = false;
        }
    }

    /// The next message and the channel it came from; `None` once every channel ended.
    ///
    /// A channel whose sender went away without sending `End` yields `End` (its task
    /// failed; the job is being torn down anyway).
    pub async fn next(&mut self) -> Option<(usize, Message)> {
        poll_fn(|cx| {
            let n = self.channels.len();
            let mut open = false;
            for step in 0..n {
                let i = (self.next + step) % n;
                let channel = &mut self.channels[i];
                if channel.ended {
                    continue;
                }
                open = true;
                if channel.blocked {
                    continue;
                }
                match channel.receiver.poll_recv(cx) {
                    Poll::Ready(Some(message)) => {
                        if matches!(message, Message::End) {
                            channel.ended = true;
                        }
                        self.next = (i + 1) % n;
                        return Poll::Ready(Some((i, message)));
                    }
                    Poll::Ready(None) => {
                        channel.ended = true;
                        self.next = (i + 1) % n;
                        return Poll::Ready(Some((i, Message::End)));
                    }
                    Poll::Pending => {}
                }
            }
            if open {
                Poll::Pending
            } else {
                Poll::Ready(None)
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use weir_types::Watermark;

    #[tokio::test]
    async fn a_full_channel_blocks_the_producer_until_the_consumer_reads() {
        let (tx, mut rx) = channel(2);
        tx.send(Message::Watermark(Watermark(1))).await.unwrap();
        tx.send(Message::Watermark(Watermark(2))).await.unwrap();
        // Full: a third send does not complete.
        let third = tokio::time::timeout(Duration::from_millis(50), tx.send(Message::Idle)).await;
        assert!(third.is_err(), "send into a full channel must wait");
        assert!(tx.try_send(Message::Idle).is_err());
        // The consumer reads one: the producer proceeds.
        assert!(matches!(
            rx.recv().await,
            Some(Message::Watermark(Watermark(1)))
        ));
        tx.try_send(Message::Idle).unwrap();
    }

    #[tokio::test]
    async fn gate_reads_all_channels_fairly_and_ends_when_all_end() {
        let (tx0, rx0) = channel(8);
        let (tx1, rx1) = channel(8);
        let mut gate = InputGate::new(vec![(rx0, 0), (rx1, 1)]);
        for i in 0..3 {
            tx0.send(Message::Watermark(Watermark(i))).await.unwrap();
            tx1.send(Message::Watermark(Watermark(10 + i)))
                .await
                .unwrap();
        }
        tx0.send(Message::End).await.unwrap();
        drop(tx1); // a vanished sender counts as ended
        let mut seen = Vec::new();
        while let Some((ch, msg)) = gate.next().await {
            seen.push((ch, matches!(msg, Message::End)));
        }
        assert_eq!(seen.len(), 8);
        // Alternates between channels while both have data.
        assert_eq!(seen[0].0, 0);
        assert_eq!(seen[1].0, 1);
        assert_eq!(seen[2].0, 0);
        assert_eq!(gate.input_of(1), 1);
    }

    #[tokio::test]
    async fn blocked_channels_are_not_read() {
        let (tx0, rx0) = channel(8);
        let (tx1, rx1) = channel(8);
        let mut gate = InputGate::new(vec![(rx0, 0), (rx1, 0)]);
        tx0.send(Message::Idle).await.unwrap();
        tx1.send(Message::Watermark(Watermark(5))).await.unwrap();
        gate.set_blocked(0, true);
        let (ch, _) = gate.next().await.unwrap();
        assert_eq!(ch, 1);
        let pending = tokio::time::timeout(Duration::from_millis(20), gate.next()).await;
        assert!(pending.is_err(), "only a blocked channel has data");
        gate.unblock_all();
        let (ch, msg) = gate.next().await.unwrap();
        assert_eq!(ch, 0);
        assert!(matches!(msg, Message::Idle));
    }
}
