//! Java date/time pattern conversion: turns `DateTimeFormatter` / `SimpleDateFormat`
//! patterns such as `yyyy-MM-dd HH:mm:ss.SSS` into chrono strftime patterns.
//!
//! This module owns only the textual translation ([`java_to_chrono_format`]) and its
//! error type; compiling, formatting and parsing with the result live in `pattern.rs`.

use std::fmt;

/// Why a Java date/time pattern could not be converted to a chrono pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatPatternError {
    /// A pattern letter that has no chrono equivalent (e.g. `Q`, `G`, `w`).
    UnsupportedLetter {
        /// The offending letter.
        letter: char,
        /// The whole Java pattern.
        pattern: String,
    },
    /// A known letter repeated a number of times chrono cannot express (e.g. `SS`).
    UnsupportedWidth {
        /// The offending letter.
        letter: char,
        /// How many times it was repeated.
        width: usize,
        /// The whole Java pattern.
        pattern: String,
    },
    /// A reserved character (`[`, `]`, `{`, `}`, `#`) used outside a quoted literal.
    ReservedCharacter {
        /// The offending character.
        character: char,
        /// The whole Java pattern.
        pattern: String,
    },
    /// A `'` opening a literal section that is never closed.
    UnterminatedQuote {
        /// The whole Java pattern.
        pattern: String,
    },
}

impl fmt::Display for FormatPatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedLetter { letter, pattern } => {
                write!(f, "unsupported pattern letter '{letter}' in '{pattern}'")
            }
            Self::UnsupportedWidth {
                letter,
                width,
                pattern,
            } => write!(
                f,
                "unsupported width {width} for pattern letter '{letter}' in '{pattern}'"
            ),
            Self::ReservedCharacter { character, pattern } => write!(
                f,
                "reserved character '{character}' must be quoted in '{pattern}'"
            ),
            Self::UnterminatedQuote { pattern } => {
                write!(f, "unterminated quoted literal in '{pattern}'")
            }
        }
    }
}

impl std::error::Error for FormatPatternError {}

/// Result of a conversion: the strftime text plus whether it prints or reads a UTC offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Converted {
    pub(crate) strftime: String,
    pub(crate) needs_offset: bool,
}

/// Converts a Java `DateTimeFormatter`/`SimpleDateFormat` pattern into a chrono strftime
/// pattern.
///
/// Supported letters: `y`/`u` (year; `yy` is two-digit), `M`/`L` (1-4), `d`, `D` (1 or 3),
/// `H`, `h`, `m`, `s`, `S` (3, 6 or 9 fraction digits), `a`, `E` (1-4), `Z` (1-3, 5),
/// `X`/`x` (2-3). Text in single quotes is literal and `''` is a literal quote; other
/// non-letter characters are literal. Any other letter is an error.
///
/// ```
/// use weir_functions::java_to_chrono_format;
/// assert_eq!(java_to_chrono_format("yyyy-MM-dd HH:mm:ss.SSS").unwrap(), "%Y-%m-%d %H:%M:%S.%3f");
/// assert_eq!(java_to_chrono_format("yyyy-MM-dd'T'HH:mm").unwrap(), "%Y-%m-%dT%H:%M");
/// assert!(java_to_chrono_format("yyyy-QQ").is_err());
/// ```
pub fn java_to_chrono_format(pattern: &str) -> Result<String, FormatPatternError> {
    convert(pattern).map(|c| c.strftime)
}

/// Full conversion used by the compiled patterns.
pub(crate) fn convert(pattern: &str) -> Result<Converted, FormatPatternError> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() * 2);
    let mut needs_offset = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            i = quoted_literal(&chars, i, pattern, &mut out)?;
        } else if c.is_ascii_alphabetic() {
            let start = i;
            while i < chars.len() && chars[i] == c {
                i += 1;
            }
            let spec = letter_spec(c, i - start, pattern)?;
            needs_offset |= matches!(c, 'Z' | 'X' | 'x');
            out.push_str(spec);
        } else if matches!(c, '[' | ']' | '{' | '}' | '#') {
            return Err(FormatPatternError::ReservedCharacter {
                character: c,
                pattern: pattern.to_owned(),
            });
        } else {
            push_literal(&mut out, c);
            i += 1;
        }
    }
    Ok(Converted {
        strftime: out,
        needs_offset,
    })
}

/// Consumes a quoted section starting at `chars[start] == '\''`; returns the next index.
fn quoted_literal(
    chars: &[char],
    start: usize,
    pattern: &str,
    out: &mut String,
) -> Result<usize, FormatPatternError> {
    // `''` outside a literal section is an escaped single quote.
    if chars.get(start + 1) == Some(&'\'') {
        out.push('\'');
        return Ok(start + 2);
    }
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            None => {
                return Err(FormatPatternError::UnterminatedQuote {
                    pattern: pattern.to_owned(),
                })
            }
            Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                out.push('\'');
                i += 2;
            }
            Some('\'') => return Ok(i + 1),
            Some(&c) => {
                push_literal(out, c);
                i += 1;
            }
        }
    }
}

fn push_literal(out: &mut String, c: char) {
    match c {
        '%' => out.push_str("%%"),
        '\t' => out.push_str("%t"),
        '\n' => out.push_str("%n"),
        _ => out.push(c),
    }
}

/// The chrono specifier for `width` repetitions of the Java pattern letter `letter`.
fn letter_spec(
    letter: char,
    width: usize,
    pattern: &str,
) -> Result<&'static str, FormatPatternError> {
    let spec = match (letter, width) {
        ('y' | 'u', 2) => "%y",
        ('y' | 'u', _) => "%Y",
        ('M' | 'L', 1) => "%-m",
        ('M' | 'L', 2) => "%m",
        ('M' | 'L', 3) => "%b",
        ('M' | 'L', 4) => "%B",
        ('d', 1) => "%-d",
        ('d', 2) => "%d",
        ('D', 1) => "%-j",
        ('D', 3) => "%j",
        ('H', 1) => "%-H",
        ('H', 2) => "%H",
        ('h', 1) => "%-I",
        ('h', 2) => "%I",
        ('m', 1) => "%-M",
        ('m', 2) => "%M",
        ('s', 1) => "%-S",
        ('s', 2) => "%S",
        ('S', 3) => "%3f",
        ('S', 6) => "%6f",
        ('S', 9) => "%9f",
        ('a', 1) => "%p",
        ('E', 1..=3) => "%a",
        ('E', 4) => "%A",
        ('Z', 1..=3) | ('X' | 'x', 2) => "%z",
        ('Z', 5) | ('X' | 'x', 3) => "%:z",
        ('M' | 'L' | 'd' | 'D' | 'H' | 'h' | 'm' | 's' | 'S' | 'a' | 'E' | 'Z' | 'X' | 'x', _) => {
            return Err(FormatPatternError::UnsupportedWidth {
                letter,
                width,
                pattern: pattern.to_owned(),
            })
        }
        _ => {
            return Err(FormatPatternError::UnsupportedLetter {
                letter,
                pattern: pattern.to_owned(),
            })
        }
    };
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(java: &str) -> String {
        match java_to_chrono_format(java) {
            Ok(s) => s,
            Err(e) => panic!("{java}: {e}"),
        }
    }

    #[test]
    fn common_patterns() {
        assert_eq!(ok("yyyy-MM-dd HH:mm:ss"), "%Y-%m-%d %H:%M:%S");
        assert_eq!(ok("yyyyMMdd"), "%Y%m%d");
        assert_eq!(ok("HH:mm"), "%H:%M");
        assert_eq!(ok("yyyy-MM-dd HH:mm:ss.SSS"), "%Y-%m-%d %H:%M:%S.%3f");
        assert_eq!(ok("yy/M/d H:m:s"), "%y/%-m/%-d %-H:%-M:%-S");
        assert_eq!(ok("ss.SSSSSS|SSSSSSSSS"), "%S.%6f|%9f");
        assert_eq!(ok("D DDD"), "%-j %j");
    }

    #[test]
    fn text_fields() {
        assert_eq!(ok("hh:mm a"), "%I:%M %p");
        assert_eq!(ok("EEE, dd MMM yyyy"), "%a, %d %b %Y");
        assert_eq!(ok("EEEE MMMM"), "%A %B");
        assert_eq!(ok("Z|ZZZZZ|XXX|xx"), "%z|%:z|%:z|%z");
    }

    #[test]
    fn quoting_and_literals() {
        assert_eq!(ok("yyyy-MM-dd'T'HH:mm:ss.SSS"), "%Y-%m-%dT%H:%M:%S.%3f");
        assert_eq!(ok("HH 'o''clock'"), "%H o'clock");
        assert_eq!(ok("''yyyy''"), "'%Y'");
        assert_eq!(ok("'at' HH'h'"), "at %Hh");
        assert_eq!(ok("'100%' yyyy"), "100%% %Y");
        assert_eq!(ok("dd%MM"), "%d%%%m");
        assert_eq!(ok("'[yyyy]'"), "[yyyy]");
        assert_eq!(ok(""), "");
    }

    #[test]
    fn offsets_are_flagged() {
        assert!(convert("yyyy Z").map(|c| c.needs_offset).unwrap_or(false));
        assert!(!convert("yyyy 'Z'").map(|c| c.needs_offset).unwrap_or(true));
    }

    #[test]
    fn errors() {
        assert_eq!(
            java_to_chrono_format("yyyy-QQ").unwrap_err().to_string(),
            "unsupported pattern letter 'Q' in 'yyyy-QQ'"
        );
        assert_eq!(
            java_to_chrono_format("ss.SS").unwrap_err(),
            FormatPatternError::UnsupportedWidth {
                letter: 'S',
                width: 2,
                pattern: "ss.SS".into()
            }
        );
        assert!(matches!(
            java_to_chrono_format("yyyy'T"),
            Err(FormatPatternError::UnterminatedQuote { .. })
        ));
        assert!(matches!(
            java_to_chrono_format("yyyy[-MM]"),
            Err(FormatPatternError::ReservedCharacter { character: '[', .. })
        ));
        for bad in ["G", "w", "W", "k", "K", "z", "YYYY", "MMMMM", "ddd", "HHH"] {
            assert!(java_to_chrono_format(bad).is_err(), "{bad} should fail");
        }
    }
}
