//! Encoding buffers kept from one checkpoint to the next.
//!
//! A subtask file is encoded into one buffer as large as the file, written, then
//! dropped. Every fresh buffer's pages are faulted in again by the kernel, which on this
//! kind of machine (a VM) costs more than encoding into them: with incremental
//! checkpoints every second, that was most of the system time checkpoints added. So
//! the buffers of written files come back here ([`give_back`]) and the next encoding
//! starts from one ([`take`]); [`put`] writes a buffer and hands it back. At most
//! [`KEPT_BUFFERS`] buffers of at most [`MAX_KEPT_BYTES`] each are kept: a large full
//! snapshot's buffer is freed as before.

use std::sync::Mutex;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, PutOptions, PutPayload, PutResult};

/// Buffers kept at most: a few subtasks encode at once, and a checkpoint that is also
/// a savepoint encodes each subtask's file twice.
pub(crate) const KEPT_BUFFERS: usize = 4;

/// Capacity of the largest buffer kept.
pub(crate) const MAX_KEPT_BYTES: usize = 64 << 20;

static KEPT: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// An empty buffer to encode into: a kept one when there is one.
pub(crate) fn take() -> Vec<u8> {
    KEPT.lock()
        .ok()
        .and_then(|mut kept| kept.pop())
        .unwrap_or_default()
}

/// Writes `bytes` (a buffer from [`take`]) to `path` of `store`, then keeps the buffer
/// for a later encoding.
pub(crate) async fn put(
    store: &dyn ObjectStore,
    path: &Path,
    bytes: Vec<u8>,
    options: PutOptions,
) -> object_store::Result<PutResult> {
    let bytes = Bytes::from(bytes);
    let result = store
        .put_opts(path, PutPayload::from(bytes.clone()), options)
        .await;
    give_back(bytes);
    result
}

/// Keeps the buffer behind `bytes` (written, and no longer shared) for a later
/// encoding, if there is room for it.
fn give_back(bytes: Bytes) {
    let Ok(mut buffer) = bytes.try_into_mut() else {
        return;
    };
    buffer.clear();
    let buffer: Vec<u8> = buffer.into();
    if buffer.capacity() == 0 || buffer.capacity() > MAX_KEPT_BYTES {
        return;
    }
    if let Ok(mut kept) = KEPT.lock() {
        if kept.len() < KEPT_BUFFERS {
            kept.push(buffer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_buffer_comes_back_empty_with_its_capacity() {
        // Other tests of this crate share the pool: find our buffer by its capacity.
        let mut buffer = Vec::with_capacity(3 << 20);
        buffer.extend_from_slice(&[7u8; 1000]);
        let capacity = buffer.capacity();
        let bytes = Bytes::from(buffer);
        let payload = bytes.clone();
        drop(payload);
        give_back(bytes);
        let kept = KEPT.lock().unwrap();
        assert!(
            kept.iter()
                .any(|b| b.capacity() == capacity && b.is_empty()),
            "the buffer was not kept"
        );
    }

    #[test]
    fn a_buffer_still_shared_or_too_large_is_not_kept() {
        let shared = Bytes::from(vec![1u8; 5 << 20]);
        let still_held = shared.clone();
        give_back(shared);
        assert!(KEPT.lock().unwrap().iter().all(|b| b.capacity() != 5 << 20));
        drop(still_held);
        let large = Bytes::from(Vec::<u8>::with_capacity(MAX_KEPT_BYTES + 1));
        give_back(large);
        assert!(KEPT
            .lock()
            .unwrap()
            .iter()
            .all(|b| b.capacity() <= MAX_KEPT_BYTES));
    }
}
