//! Short byte strings kept inline: encoded keys and rows in operator state.
//!
//! Row-format encodings of a few fixed-width columns (most join, partition and sort
//! keys, and narrow rows) fit in 22 bytes. Kept inline, in the hash table bucket or
//! the vector that holds them, they cost no allocation of their own, and comparing
//! them reads no other cache line. Longer ones go to the heap.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

/// Bytes up to this long are kept inline.
const INLINE: usize = 22;

/// Encoded keys and rows: inline when short (a few fixed-width columns, as join,
/// partition and sort keys mostly are: no allocation of their own), else on the heap.
#[derive(Clone)]
pub(crate) enum Bytes {
    /// Up to [`INLINE`] bytes: the length, then the bytes (zero-padded).
    Inline(u8, [u8; INLINE]),
    /// Longer ones.
    Heap(Box<[u8]>),
}

impl Bytes {
    /// Replaces the content, reusing a heap buffer of the same length.
    pub(crate) fn set(&mut self, bytes: &[u8]) {
        match self {
            Bytes::Heap(b) if b.len() == bytes.len() => b.copy_from_slice(bytes),
            _ => *self = Bytes::from(bytes),
        }
    }
}

impl From<&[u8]> for Bytes {
    fn from(bytes: &[u8]) -> Bytes {
        if bytes.len() <= INLINE {
            let mut inline = [0; INLINE];
            inline[..bytes.len()].copy_from_slice(bytes);
            Bytes::Inline(bytes.len() as u8, inline)
        } else {
            Bytes::Heap(bytes.into())
        }
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Inline(len, bytes) => &bytes[..*len as usize],
            Bytes::Heap(b) => b,
        }
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl PartialEq for Bytes {
    fn eq(&self, other: &Bytes) -> bool {
        **self == **other
    }
}

impl Eq for Bytes {}

impl PartialOrd for Bytes {
    fn partial_cmp(&self, other: &Bytes) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Bytes {
    fn cmp(&self, other: &Bytes) -> std::cmp::Ordering {
        (**self).cmp(&**other)
    }
}

/// Hashes as the byte slice does, so a map keyed by [`Bytes`] is searched with `&[u8]`.
impl Hash for Bytes {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state);
    }
}

impl Borrow<[u8]> for Bytes {
    fn borrow(&self) -> &[u8] {
        self
    }
}

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn bytes_are_inline_when_short_and_compare_by_content() {
        let short = Bytes::from(&b"abc"[..]);
        let long = Bytes::from(&[7u8; 40][..]);
        assert!(matches!(short, Bytes::Inline(3, _)));
        assert!(matches!(long, Bytes::Heap(_)));
        assert_eq!(&*short, b"abc");
        assert_eq!(&*long, &[7u8; 40][..]);
        assert!(Bytes::from(&b"ab"[..]) < short);
        assert!(short < Bytes::from(&b"abd"[..]));
        assert!(Bytes::from(&[0u8; 30][..]) < long);
        let mut b = long.clone();
        b.set(&[9u8; 40]);
        assert_eq!(&*b, &[9u8; 40][..]);
        b.set(b"xy");
        assert!(matches!(b, Bytes::Inline(2, _)));
        assert_eq!(&*b, b"xy");
    }

    #[test]
    fn a_map_keyed_by_bytes_is_searched_with_slices() {
        let mut map: HashMap<Bytes, u32> = HashMap::new();
        map.insert(Bytes::from(&b"short"[..]), 1);
        map.insert(Bytes::from(&[3u8; 30][..]), 2);
        assert_eq!(map.get(&b"short"[..]), Some(&1));
        assert_eq!(map.get(&[3u8; 30][..]), Some(&2));
        assert_eq!(map.get(&b"shor"[..]), None);
    }
}
