//! Lines of input: counting them, cutting chunks at line ends, and iterating them with
//! their numbers for error messages.

/// Number of `\n` in `bytes`: how far the line number advances over them.
pub fn count_newlines(bytes: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', bytes).count() as u64
}

/// The position just after the last `\n` of `bytes`, if any: where a chunk of whole lines
/// ends.
pub fn end_of_last_line(bytes: &[u8]) -> Option<usize> {
    memchr::memrchr(b'\n', bytes).map(|p| p + 1)
}

/// One line of a chunk: its byte range (without `\n` or `\r\n`) and its 1-based number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LineSpan {
    pub start: usize,
    pub end: usize,
    pub line: u64,
}

/// The lines of `bytes`, the first being number `first_line`. A last line without `\n`
/// is included; nothing is yielded for an empty tail.
pub(crate) fn line_spans(bytes: &[u8], first_line: u64) -> impl Iterator<Item = LineSpan> + '_ {
    let mut start = 0;
    let mut line = first_line;
    std::iter::from_fn(move || {
        if start >= bytes.len() {
            return None;
        }
        let (content_end, next) = match memchr::memchr(b'\n', &bytes[start..]) {
            Some(p) => (start + p, start + p + 1),
            None => (bytes.len(), bytes.len()),
        };
        let end = if content_end > start && bytes[content_end - 1] == b'\r' {
            content_end - 1
        } else {
            content_end
        };
        let span = LineSpan { start, end, line };
        start = next;
        line += 1;
        Some(span)
    })
}

/// Whether a line holds nothing but whitespace.
pub(crate) fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// The first 200 characters of a record, for error messages.
pub(crate) fn excerpt(line: &[u8]) -> String {
    const MAX_CHARS: usize = 200;
    let text = String::from_utf8_lossy(line);
    match text.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_number_lines_and_strip_terminators() {
        let text = b"a\r\n\nbb\nccc";
        let spans: Vec<_> = line_spans(text, 10).collect();
        assert_eq!(spans.len(), 4);
        assert_eq!(&text[spans[0].start..spans[0].end], b"a");
        assert_eq!(spans[1].start, spans[1].end);
        assert_eq!(&text[spans[2].start..spans[2].end], b"bb");
        assert_eq!(
            (spans[3].line, &text[spans[3].start..spans[3].end]),
            (13, &b"ccc"[..])
        );
        assert_eq!(count_newlines(text), 3);
        assert_eq!(end_of_last_line(text), Some(7));
        assert_eq!(line_spans(b"x\n", 1).count(), 1);
    }

    #[test]
    fn excerpts_are_cut_on_characters() {
        let long = "é".repeat(300);
        let e = excerpt(long.as_bytes());
        assert_eq!(e.chars().count(), 203);
        assert_eq!(excerpt(b"{\"a\":1}"), "{\"a\":1}");
    }
}
