//! The byte-level JSON scanner of the fast decoder: whitespace, strings (with their
//! escapes decoded as arrow-json decodes them), number tokens, literals, and values
//! skipped without being decoded.
//!
//! The scanner accepts strict JSON only (RFC 8259 grammar, JSON whitespace). Every
//! function returns `None` for anything else: the caller then gives the whole chunk to
//! arrow-json, which decides (it accepts a few more forms, and reports the errors).

/// A position in the bytes of one line.
pub(crate) struct Cursor<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) pos: usize,
}

/// Whether `b` is JSON whitespace (arrow-json's set).
#[inline]
pub(crate) fn is_json_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

/// Nested objects and arrays deeper than this are left to arrow-json.
const MAX_DEPTH: usize = 64;

impl<'a> Cursor<'a> {
    /// A cursor at the start of `bytes`.
    pub(crate) fn new(bytes: &'a [u8]) -> Cursor<'a> {
        Cursor { bytes, pos: 0 }
    }

    /// Skips whitespace and returns the next byte (not consumed), if any.
    #[inline]
    pub(crate) fn peek_token(&mut self) -> Option<u8> {
        while let Some(&b) = self.bytes.get(self.pos) {
            if !is_json_whitespace(b) {
                return Some(b);
            }
            self.pos += 1;
        }
        None
    }

    /// Skips whitespace and consumes `expected`, or fails.
    #[inline]
    pub(crate) fn expect(&mut self, expected: u8) -> Option<()> {
        (self.peek_token()? == expected).then(|| self.pos += 1)
    }

    /// Whether only whitespace is left.
    pub(crate) fn at_end(&mut self) -> bool {
        self.peek_token().is_none()
    }

    /// Reads a string whose opening quote was consumed: its raw bytes when it holds no
    /// escape, otherwise its content decoded into `scratch`.
    #[inline]
    pub(crate) fn string<'s>(&mut self, scratch: &'s mut Vec<u8>) -> Option<Text<'a, 's>>
    where
        'a: 's,
    {
        let start = self.pos;
        let rest = &self.bytes[start..];
        let end = find_quote_or_backslash(rest)?;
        if rest[end] == b'"' {
            self.pos = start + end + 1;
            return Some(Text::Raw(&rest[..end]));
        }
        scratch.clear();
        scratch.extend_from_slice(&rest[..end]);
        self.pos = start + end;
        self.unescape_rest(scratch)?;
        Some(Text::Decoded(scratch))
    }

    /// Appends the decoded content of a string whose opening quote was consumed to `out`.
    #[inline]
    pub(crate) fn string_into(&mut self, out: &mut Vec<u8>) -> Option<()> {
        let rest = &self.bytes[self.pos..];
        let end = find_quote_or_backslash(rest)?;
        out.extend_from_slice(&rest[..end]);
        self.pos += end;
        if rest[end] == b'"' {
            self.pos += 1;
            return Some(());
        }
        self.unescape_rest(out)
    }

    /// Continues a string at a backslash, appending decoded bytes to `out`, up to and
    /// including the closing quote.
    fn unescape_rest(&mut self, out: &mut Vec<u8>) -> Option<()> {
        loop {
            match *self.bytes.get(self.pos)? {
                b'"' => {
                    self.pos += 1;
                    return Some(());
                }
                b'\\' => {
                    self.pos += 1;
                    self.escape(out)?;
                }
                _ => {
                    let rest = &self.bytes[self.pos..];
                    let end = find_quote_or_backslash(rest)?;
                    out.extend_from_slice(&rest[..end]);
                    self.pos += end;
                }
            }
        }
    }

    /// Decodes one escape whose backslash was consumed, as arrow-json does: `\uXXXX` of
    /// a non-surrogate, or a high surrogate followed by `\uXXXX` of a low one.
    fn escape(&mut self, out: &mut Vec<u8>) -> Option<()> {
        let b = *self.bytes.get(self.pos)?;
        self.pos += 1;
        let decoded = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 8,
            b'f' => 12,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let high = self.hex4()?;
                let c = match char::from_u32(u32::from(high)) {
                    Some(c) => c,
                    None => {
                        // A surrogate: only a high one followed by a low one is left here.
                        if !(0xD800..0xDC00).contains(&high)
                            || self.bytes.get(self.pos..self.pos + 2)? != b"\\u"
                        {
                            return None;
                        }
                        self.pos += 2;
                        let low = self.hex4()?;
                        if !(0xDC00..0xE000).contains(&low) {
                            return None;
                        }
                        let n =
                            (u32::from(high - 0xD800) << 10 | u32::from(low - 0xDC00)) + 0x1_0000;
                        char::from_u32(n)?
                    }
                };
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                return Some(());
            }
            _ => return None,
        };
        out.push(decoded);
        Some(())
    }

    fn hex4(&mut self) -> Option<u16> {
        let digits = self.bytes.get(self.pos..self.pos + 4)?;
        let mut value = 0u16;
        for &d in digits {
            let v = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return None,
            };
            value = value << 4 | u16::from(v);
        }
        self.pos += 4;
        Some(value)
    }

    /// Reads a number token starting at the cursor (a `-` or a digit), checked against
    /// JSON's grammar. The token must end where arrow-json's would (the next byte is not
    /// one of `0-9 + - . e E`).
    #[inline]
    pub(crate) fn number(&mut self) -> Option<Number<'a>> {
        let bytes = self.bytes;
        let start = self.pos;
        let negative = bytes.get(start) == Some(&b'-');
        let int_start = start + usize::from(negative);
        // The integer part's digits and value in one pass (the value wraps past 19
        // digits; it is only used for up to 18).
        let mut i = int_start;
        let mut value: u64 = 0;
        while let Some(&b) = bytes.get(i) {
            let digit = b.wrapping_sub(b'0');
            if digit > 9 {
                break;
            }
            value = value.wrapping_mul(10).wrapping_add(u64::from(digit));
            i += 1;
        }
        let int_digits = i - int_start;
        if int_digits == 0 || (int_digits > 1 && bytes[int_start] == b'0') {
            return None;
        }
        let mut integer = true;
        if bytes.get(i) == Some(&b'.') {
            integer = false;
            i += 1;
            let frac_start = i;
            while matches!(bytes.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
            if i == frac_start {
                return None;
            }
        }
        if matches!(bytes.get(i), Some(b'e' | b'E')) {
            integer = false;
            i += 1;
            if matches!(bytes.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let exp_start = i;
            while matches!(bytes.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
            if i == exp_start {
                return None;
            }
        }
        if matches!(
            bytes.get(i),
            Some(b'0'..=b'9' | b'+' | b'-' | b'.' | b'e' | b'E')
        ) {
            return None;
        }
        self.pos = i;
        // An integer of up to 18 digits fits an i64 exactly.
        let int = (integer && int_digits <= 18).then(|| {
            let v = value as i64;
            if negative {
                -v
            } else {
                v
            }
        });
        Some(Number {
            text: &bytes[start..i],
            int,
        })
    }

    /// Consumes the literal `word` (`true`, `false`, `null`) whose first byte is at the
    /// cursor.
    #[inline]
    pub(crate) fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.pos + word.len();
        if self.bytes.get(self.pos..end)? != word {
            return None;
        }
        self.pos = end;
        Some(())
    }

    /// Skips one value without decoding it, checking its grammar (escapes included:
    /// arrow-json rejects a bad escape even in a field it does not read).
    pub(crate) fn skip_value(&mut self, scratch: &mut Vec<u8>, depth: usize) -> Option<()> {
        match self.peek_token()? {
            b'"' => {
                self.pos += 1;
                self.string(scratch).map(|_| ())
            }
            b'-' | b'0'..=b'9' => self.number().map(|_| ()),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'{' if depth < MAX_DEPTH => {
                self.pos += 1;
                if self.peek_token()? == b'}' {
                    self.pos += 1;
                    return Some(());
                }
                loop {
                    self.expect(b'"')?;
                    self.string(scratch)?;
                    self.expect(b':')?;
                    self.skip_value(scratch, depth + 1)?;
                    match self.peek_token()? {
                        b',' => self.pos += 1,
                        b'}' => {
                            self.pos += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'[' if depth < MAX_DEPTH => {
                self.pos += 1;
                if self.peek_token()? == b']' {
                    self.pos += 1;
                    return Some(());
                }
                loop {
                    self.skip_value(scratch, depth + 1)?;
                    match self.peek_token()? {
                        b',' => self.pos += 1,
                        b']' => {
                            self.pos += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            _ => None,
        }
    }
}

/// The content of a JSON string.
pub(crate) enum Text<'a, 's> {
    /// No escapes: the bytes between the quotes.
    Raw(&'a [u8]),
    /// Decoded into the scratch buffer.
    Decoded(&'s [u8]),
}

impl<'a, 's> Text<'a, 's> {
    /// The decoded bytes.
    #[inline]
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Text::Raw(b) => b,
            Text::Decoded(b) => b,
        }
    }
}

/// Offset of the first `"` or `\` in `bytes`: eight bytes at a time in a `u64` over
/// the first words (keys and most values are short, where a call into memchr costs more
/// than its SIMD search saves), then memchr.
#[inline]
fn find_quote_or_backslash(bytes: &[u8]) -> Option<usize> {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    /// The high bit of each byte of `word` equal to `byte` (exact: no carry crosses
    /// bytes).
    #[inline]
    fn bytes_equal(word: u64, byte: u8) -> u64 {
        let x = word ^ (LOW * u64::from(byte));
        !(((x & !HIGH) + !HIGH) | x) & HIGH
    }
    const SHORT: usize = 32;
    let mut offset = 0;
    while offset < SHORT {
        let Some(chunk) = bytes.get(offset..offset + 8) else {
            break;
        };
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let found = bytes_equal(word, b'"') | bytes_equal(word, b'\\');
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    memchr::memchr2(b'"', b'\\', &bytes[offset..]).map(|p| offset + p)
}

/// A JSON number token.
pub(crate) struct Number<'a> {
    /// Its text, as written.
    pub(crate) text: &'a [u8],
    /// Its value when it is an integer of at most 18 digits (no fraction, no exponent).
    pub(crate) int: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(input: &[u8]) -> Option<Vec<u8>> {
        let mut c = Cursor::new(input);
        c.expect(b'"')?;
        let mut scratch = Vec::new();
        let text = c.string(&mut scratch)?.bytes().to_vec();
        Some(text)
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(string(br#""abc""#).unwrap(), b"abc");
        assert_eq!(
            string(br#""a\"b\\c\/\n\t\r\b\f""#).unwrap(),
            b"a\"b\\c/\n\t\r\x08\x0c"
        );
        assert_eq!(string(br#""\u00e9\u20AC""#).unwrap(), "é€".as_bytes());
        assert_eq!(string(br#""\ud83d\ude00!""#).unwrap(), "😀!".as_bytes());
        assert_eq!(string(br#""\ud83d""#), None, "lone high surrogate");
        assert_eq!(string(br#""\ude00""#), None, "lone low surrogate");
        assert_eq!(string(br#""\x""#), None, "unknown escape");
        assert_eq!(string(br#""\u12g4""#), None, "bad hex");
        assert_eq!(string(br#""abc"#), None, "unterminated");
    }

    fn number(input: &[u8]) -> Option<(Vec<u8>, Option<i64>)> {
        let mut c = Cursor::new(input);
        let n = c.number()?;
        Some((n.text.to_vec(), n.int))
    }

    #[test]
    fn numbers_follow_json_grammar() {
        assert_eq!(number(b"123,"), Some((b"123".to_vec(), Some(123))));
        assert_eq!(number(b"-0}"), Some((b"-0".to_vec(), Some(0))));
        assert_eq!(number(b"-1.5e+3 "), Some((b"-1.5e+3".to_vec(), None)));
        assert_eq!(number(b"1E2"), Some((b"1E2".to_vec(), None)));
        assert_eq!(
            number(b"123456789012345678").unwrap().1,
            Some(123456789012345678)
        );
        assert_eq!(number(b"1234567890123456789").unwrap().1, None);
        for bad in [
            &b"01"[..],
            b"1.",
            b".5",
            b"1e",
            b"-",
            b"1-2",
            b"+1",
            b"1.5.5",
        ] {
            assert_eq!(number(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn quotes_and_backslashes_are_found_as_memchr_finds_them() {
        // Every position of a quote or backslash, before, inside and after the words
        // read eight bytes at a time, among bytes that differ from them by one bit.
        for len in 0..80 {
            for at in 0..=len {
                for special in [b'"', b'\\'] {
                    let mut bytes: Vec<u8> =
                        (0..len).map(|i| [b'#', b'^', 0xA2, b'a'][i % 4]).collect();
                    if at < len {
                        bytes[at] = special;
                    }
                    assert_eq!(
                        find_quote_or_backslash(&bytes),
                        memchr::memchr2(b'"', b'\\', &bytes),
                        "{len} {at}"
                    );
                }
            }
        }
    }

    #[test]
    fn skipping_checks_the_grammar() {
        let ok = |s: &[u8]| {
            let mut c = Cursor::new(s);
            c.skip_value(&mut Vec::new(), 0).is_some() && c.at_end()
        };
        assert!(ok(br#"{"a": [1, {"b": null}, "x\"]"], "c": {}}"#));
        assert!(ok(b"[ ]"));
        assert!(!ok(b"[1,}"));
        assert!(!ok(br#"{"a" 1}"#));
        assert!(!ok(b"[1,]"));
        assert!(!ok(b"tru"));
        assert!(!ok(br#""\q""#));
    }
}
