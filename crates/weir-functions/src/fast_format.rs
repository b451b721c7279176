//! Fast formatting of numeric date/time patterns such as `yyyy-MM-dd`, `HH:mm` or
//! `yyyy-MM-dd HH:mm:ss.SSS`: digits written straight into a string buffer, no chrono
//! formatting machinery per row.
//!
//! [`FastPattern::compile`] accepts the chrono strftime text made by `format::convert`
//! when it holds only numeric fields (`%Y %y %m %d %H %M %S`, their unpadded `%-`
//! forms, `%3f %6f %9f`) and literals; other patterns (names of months or days, AM/PM,
//! offsets, day of year) are left to chrono. [`FastPattern::write`] prints exactly what
//! chrono prints for years 0000-9999 and declines other years (chrono writes those with a
//! sign), so callers fall back to chrono for them. Tests compare both on many values.

use crate::civil::Civil;

/// One piece of a fast pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Text printed as is.
    Literal(String),
    /// Four-digit year (`%Y`).
    Year,
    /// Year modulo 100, two digits (`%y`).
    Year2,
    /// A field of up to two digits, zero-padded to two when `padded`.
    Two { field: Field, padded: bool },
    /// The first `digits` digits of the nanoseconds (`%3f`, `%6f`, `%9f`).
    Fraction { digits: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Month,
    Day,
    Hour,
    Minute,
    Second,
}

/// A numeric pattern compiled into pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FastPattern {
    pieces: Vec<Piece>,
}

impl FastPattern {
    /// Compiles a strftime pattern made by `format::convert`; `None` when it uses a
    /// specifier this module does not handle.
    pub(crate) fn compile(strftime: &str) -> Option<Self> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = strftime.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                literal.push(c);
                continue;
            }
            let mut spec = chars.next()?;
            let padded = spec != '-';
            if !padded {
                spec = chars.next()?;
            }
            let piece = match (spec, padded) {
                ('%', true) => {
                    literal.push('%');
                    continue;
                }
                ('t', true) => {
                    literal.push('\t');
                    continue;
                }
                ('n', true) => {
                    literal.push('\n');
                    continue;
                }
                ('Y', true) => Piece::Year,
                ('y', true) => Piece::Year2,
                ('m', _) => Piece::Two {
                    field: Field::Month,
                    padded,
                },
                ('d', _) => Piece::Two {
                    field: Field::Day,
                    padded,
                },
                ('H', _) => Piece::Two {
                    field: Field::Hour,
                    padded,
                },
                ('M', _) => Piece::Two {
                    field: Field::Minute,
                    padded,
                },
                ('S', _) => Piece::Two {
                    field: Field::Second,
                    padded,
                },
                (d @ ('3' | '6' | '9'), true) => {
                    if chars.next()? != 'f' {
                        return None;
                    }
                    Piece::Fraction {
                        digits: d.to_digit(10)?,
                    }
                }
                _ => return None,
            };
            if !literal.is_empty() {
                pieces.push(Piece::Literal(std::mem::take(&mut literal)));
            }
            pieces.push(piece);
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Some(Self { pieces })
    }

    /// Appends `c` formatted to `out`; `false` (with `out` possibly partly written) when
    /// the value is outside what this module prints like chrono (years 0000-9999, no leap
    /// second), in which case the caller formats it with chrono.
    #[inline]
    pub(crate) fn write(&self, c: &Civil, out: &mut String) -> bool {
        if !(0..=9999).contains(&c.year) || c.nanos >= 1_000_000_000 {
            return false;
        }
        // The year is in 0..=9999, so it fits in a u32.
        let year = c.year.unsigned_abs();
        for piece in &self.pieces {
            match piece {
                Piece::Literal(s) => out.push_str(s),
                Piece::Year => {
                    digit(out, year / 1000);
                    digit(out, year / 100);
                    two(out, year);
                }
                Piece::Year2 => two(out, year),
                Piece::Two { field, padded } => {
                    let v = match field {
                        Field::Month => c.month,
                        Field::Day => c.day,
                        Field::Hour => c.hour,
                        Field::Minute => c.minute,
                        Field::Second => c.second,
                    };
                    if *padded || v >= 10 {
                        two(out, v);
                    } else {
                        digit(out, v);
                    }
                }
                Piece::Fraction { digits } => {
                    let mut v = c.nanos / 10u32.pow(9 - digits);
                    let mut buf = [b'0'; 9];
                    let width = *digits as usize;
                    for slot in buf[..width].iter_mut().rev() {
                        *slot = b'0' + (v % 10) as u8;
                        v /= 10;
                    }
                    buf[..width].iter().for_each(|&b| out.push(char::from(b)));
                }
            }
        }
        true
    }
}

/// Appends the last decimal digit of `v`.
#[inline]
fn digit(out: &mut String, v: u32) {
    out.push(char::from(b'0' + (v % 10) as u8));
}

/// Appends the last two decimal digits of `v`.
#[inline]
fn two(out: &mut String, v: u32) {
    digit(out, v / 10);
    digit(out, v);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::convert;
    use arrow::datatypes::TimeUnit;
    use chrono::format::StrftimeItems;

    fn fast(java: &str) -> Option<FastPattern> {
        FastPattern::compile(&convert(java).expect("valid java pattern").strftime)
    }

    #[test]
    fn compiles_numeric_patterns_only() {
        for java in [
            "yyyy-MM-dd",
            "HH:mm",
            "yyyy-MM-dd HH:mm:ss.SSS",
            "yyyyMMdd",
            "yy/M/d H:m:s",
            "ss.SSSSSS|SSSSSSSSS",
            "'100%' yyyy",
            "yyyy-MM-dd'T'HH:mm",
            "",
        ] {
            assert!(fast(java).is_some(), "{java}");
        }
        for java in ["EEE", "MMM", "hh:mm a", "yyyy Z", "XXX", "D", "DDD"] {
            assert!(fast(java).is_none(), "{java}");
        }
        assert_eq!(
            fast("HH 'h' mm%").map(|p| p.pieces),
            Some(vec![
                Piece::Two {
                    field: Field::Hour,
                    padded: true
                },
                Piece::Literal(" h ".into()),
                Piece::Two {
                    field: Field::Minute,
                    padded: true
                },
                Piece::Literal("%".into()),
            ])
        );
    }

    #[test]
    fn writes_what_chrono_writes() {
        let patterns = [
            "yyyy-MM-dd",
            "HH:mm",
            "yyyy-MM-dd HH:mm:ss.SSS",
            "yyyyMMdd",
            "yy/M/d H:m:s",
            "ss.SSSSSS|SSSSSSSSS",
            "'100%' yyyy 'at' H'h'",
            "yyyy-MM-dd'T'HH:mm:ss",
        ];
        let values: [i64; 9] = [
            0,
            -1,
            1_704_164_645_678,
            951_868_799_999,
            -62_167_219_200_000,
            253_402_300_799_999,
            1_000_000_000_123,
            -2_203_891_200_001,
            1_767_225_600_007,
        ];
        for java in patterns {
            let converted = convert(java).expect("valid").strftime;
            let items = StrftimeItems::new(&converted)
                .parse_to_owned()
                .expect("chrono parses");
            let pattern = FastPattern::compile(&converted).expect("fast");
            for ms in values {
                let civil = Civil::from_epoch(ms, TimeUnit::Millisecond).expect("in range");
                let mut got = String::new();
                assert!(pattern.write(&civil, &mut got), "{java} {ms}");
                let naive = civil.to_naive().expect("valid");
                let want = naive.format_with_items(items.iter()).to_string();
                assert_eq!(got, want, "{java} {ms}");
            }
        }
    }

    #[test]
    fn declines_years_chrono_signs() {
        let pattern = fast("yyyy-MM-dd").expect("fast");
        let mut out = String::new();
        let mut c = Civil::from_epoch(0, TimeUnit::Second).expect("in range");
        c.year = 10_000;
        assert!(!pattern.write(&c, &mut out));
        c.year = -1;
        assert!(!pattern.write(&c, &mut out));
    }
}
