//! Reading a file in chunks of whole lines.

use std::io::{self, Read};

use weir_formats::lines::end_of_last_line;

/// Default chunk size: large enough to decode columnar, small enough to keep memory low.
pub(crate) const CHUNK_SIZE: usize = 4 << 20;

/// Yields the content of a reader in chunks that end at a line end (the last chunk may
/// end without one). A line longer than the chunk size makes a larger chunk. A UTF-8
/// byte order mark at the start is dropped. A chunk handed back with
/// [`LineChunks::recycle`] is reused for the next one, so its memory is not allocated and
/// faulted in again for every chunk.
pub(crate) struct LineChunks<R> {
    reader: R,
    chunk_size: usize,
    /// The start of a line the previous chunk ended in the middle of.
    carry: Vec<u8>,
    /// A chunk's buffer given back for reuse.
    spare: Vec<u8>,
    eof: bool,
    at_start: bool,
    /// Byte offset in the file where `reader` started.
    base: u64,
    /// Bytes read from `reader` so far.
    read: u64,
}

impl<R: Read> LineChunks<R> {
    #[cfg(test)]
    /// Chunks of about `chunk_size` bytes.
    pub(crate) fn new(reader: R, chunk_size: usize) -> LineChunks<R> {
        Self::at_offset(reader, chunk_size, 0)
    }

    /// Chunks of a reader positioned at byte `offset` of its file (the start of a line):
    /// [`LineChunks::position`] counts from there, and a byte order mark is only dropped
    /// at offset 0.
    pub(crate) fn at_offset(reader: R, chunk_size: usize, offset: u64) -> LineChunks<R> {
        LineChunks {
            reader,
            chunk_size: chunk_size.max(1),
            carry: Vec::new(),
            spare: Vec::new(),
            eof: false,
            at_start: offset == 0,
            base: offset,
            read: 0,
        }
    }

    /// Byte offset in the file of the next chunk's first byte.
    pub(crate) fn position(&self) -> u64 {
        self.base + self.read - self.carry.len() as u64
    }

    /// The next chunk, `None` at the end.
    pub(crate) fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut buf = std::mem::take(&mut self.spare);
        buf.clear();
        buf.extend_from_slice(&self.carry);
        self.carry.clear();
        let mut searched = 0;
        while !self.eof {
            // `read_to_end` reads into spare capacity without zero-filling it first.
            buf.reserve(self.chunk_size);
            let read = read_up_to(&mut self.reader, &mut buf, self.chunk_size)?;
            self.read += read as u64;
            if self.at_start && (buf.len() >= 3 || read == 0) {
                self.at_start = false;
                if buf.starts_with(b"\xEF\xBB\xBF") {
                    buf.drain(..3);
                    searched = 0;
                }
            }
            if read == 0 {
                self.eof = true;
                break;
            }
            if let Some(end) = end_of_last_line(&buf[searched..]) {
                self.carry.extend_from_slice(&buf[searched + end..]);
                buf.truncate(searched + end);
                return Ok(Some(buf));
            }
            searched = buf.len();
        }
        Ok((!buf.is_empty()).then_some(buf))
    }

    /// Hands back a chunk [`LineChunks::next_chunk`] returned, to be reused for the next.
    pub(crate) fn recycle(&mut self, chunk: Vec<u8>) {
        if chunk.capacity() > self.spare.capacity() {
            self.spare = chunk;
        }
    }
}

/// Appends up to `limit` bytes of `reader` to `buf` (fewer only at the end of input);
/// returns the number of bytes read.
fn read_up_to(reader: &mut impl Read, buf: &mut Vec<u8>, limit: usize) -> io::Result<usize> {
    reader.by_ref().take(limit as u64).read_to_end(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chunks of `text`, checking that reusing each chunk's buffer for the next
    /// changes nothing.
    fn chunks(text: &str, size: usize) -> Vec<String> {
        let read = |recycle: bool| {
            let mut c = LineChunks::new(text.as_bytes(), size);
            let mut out = Vec::new();
            while let Some(chunk) = c.next_chunk().unwrap() {
                out.push(String::from_utf8(chunk.clone()).unwrap());
                if recycle {
                    c.recycle(chunk);
                }
            }
            out
        };
        let fresh = read(false);
        assert_eq!(read(true), fresh, "with recycled buffers");
        fresh
    }

    #[test]
    fn chunks_end_at_line_ends() {
        assert_eq!(chunks("ab\ncd\nef\n", 4), vec!["ab\n", "cd\n", "ef\n"]);
        assert_eq!(chunks("ab\ncd\nef", 7), vec!["ab\ncd\n", "ef"]);
        assert_eq!(chunks("abcdefgh\nij", 3), vec!["abcdefgh\n", "ij"]);
        assert_eq!(chunks("a\nb\n", 100), vec!["a\nb\n"]);
        assert!(chunks("", 4).is_empty());
        assert_eq!(chunks("\u{feff}a\nb", 100), vec!["a\n", "b"]);
        assert_eq!(chunks("\u{feff}a\nb", 1), vec!["a\n", "b"]);
    }

    #[test]
    fn position_is_the_offset_of_the_next_chunk() {
        let text = "\u{feff}ab\ncd\nef\ngh";
        let mut c = LineChunks::new(text.as_bytes(), 4);
        let mut starts = vec![c.position()];
        while c.next_chunk().unwrap().is_some() {
            starts.push(c.position());
        }
        assert_eq!(starts, vec![0, 6, 12, 14]);
        let mut resumed = LineChunks::at_offset(&text.as_bytes()[9..], 4, 9);
        assert_eq!(resumed.next_chunk().unwrap().unwrap(), b"ef\n");
        assert_eq!(resumed.position(), 12);
        assert_eq!(resumed.next_chunk().unwrap().unwrap(), b"gh");
        assert_eq!(resumed.position(), 14);
    }
}
