//! Numbers as Java's `toString` writes them: `Double.toString` / `Float.toString`
//! (`1.0`, `1.0E7`, `1.0E-4`, `NaN`, `Infinity`) and `BigDecimal.toString` (`123.45`,
//! `1E-7`, `1E+3`).
//!
//! Flink writes FLOAT and DOUBLE this way everywhere: the `print` connector, the `json`
//! and `csv` formats (Jackson) and `CAST(x AS STRING)`, so every one of them uses these
//! functions.

/// Appends `Double.toString(value)`.
pub fn push_double(out: &mut Vec<u8>, value: f64) {
    push_java_float(out, value);
}

/// Appends `Float.toString(value)`.
pub fn push_float(out: &mut Vec<u8>, value: f32) {
    push_java_float(out, value);
}

/// `Double.toString` / `Float.toString`, from the shortest digits of `value`'s own type.
fn push_java_float<T: Copy + Into<f64> + std::fmt::LowerExp>(out: &mut Vec<u8>, value: T) {
    let wide: f64 = value.into();
    if wide.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if wide.is_infinite() {
        out.extend_from_slice(if wide > 0.0 {
            b"Infinity"
        } else {
            b"-Infinity"
        });
    } else {
        let text = format!("{value:e}");
        let digits = text.strip_prefix('-').unwrap_or(&text);
        push_shortest(out, digits, wide.is_sign_negative());
    }
}

/// Writes a shortest-digits number given in Rust's `{:e}` form (`1.2345e-5`) the way Java
/// does: plain between 10^-3 and 10^7, computerized scientific notation otherwise.
fn push_shortest(out: &mut Vec<u8>, scientific: &str, negative: bool) {
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    if negative {
        out.push(b'-');
    }
    if (-3..7).contains(&exponent) {
        if exponent >= 0 {
            let int_len = exponent as usize + 1;
            for i in 0..int_len {
                out.push(*digits.get(i).unwrap_or(&b'0'));
            }
            out.push(b'.');
            if digits.len() > int_len {
                out.extend_from_slice(&digits[int_len..]);
            } else {
                out.push(b'0');
            }
        } else {
            out.extend_from_slice(b"0.");
            for _ in 0..(-exponent - 1) {
                out.push(b'0');
            }
            out.extend_from_slice(&digits);
        }
    } else {
        out.push(digits.first().copied().unwrap_or(b'0'));
        out.push(b'.');
        if digits.len() > 1 {
            out.extend_from_slice(&digits[1..]);
        } else {
            out.push(b'0');
        }
        out.push(b'E');
        out.extend_from_slice(exponent.to_string().as_bytes());
    }
}

/// Appends `BigDecimal.toString()` of `unscaled * 10^-scale`; `unscaled` is the decimal
/// text of the unscaled integer (`-12345`).
pub fn push_big_decimal(out: &mut Vec<u8>, unscaled: &str, scale: i8) {
    let (negative, digits) = match unscaled.strip_prefix('-') {
        Some(d) => (true, d.as_bytes()),
        None => (false, unscaled.as_bytes()),
    };
    if negative {
        out.push(b'-');
    }
    let scale = i64::from(scale);
    let adjusted = digits.len() as i64 - 1 - scale;
    if scale == 0 {
        out.extend_from_slice(digits);
    } else if scale > 0 && adjusted >= -6 {
        let int_len = digits.len() as i64 - scale;
        if int_len > 0 {
            let (int, frac) = digits.split_at(int_len as usize);
            out.extend_from_slice(int);
            out.push(b'.');
            out.extend_from_slice(frac);
        } else {
            out.extend_from_slice(b"0.");
            for _ in 0..-int_len {
                out.push(b'0');
            }
            out.extend_from_slice(digits);
        }
    } else {
        out.push(digits.first().copied().unwrap_or(b'0'));
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'E');
        if adjusted >= 0 {
            out.push(b'+');
        }
        out.extend_from_slice(adjusted.to_string().as_bytes());
    }
}

/// `Double.toString(value)` as a new string.
pub fn double_to_string(value: f64) -> String {
    let mut out = Vec::with_capacity(24);
    push_double(&mut out, value);
    // Only ASCII digits, signs, '.', 'E' and letters of NaN/Infinity are written.
    String::from_utf8(out).unwrap_or_default()
}

/// `Float.toString(value)` as a new string.
pub fn float_to_string(value: f32) -> String {
    let mut out = Vec::with_capacity(16);
    push_float(&mut out, value);
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn double(v: f64) -> String {
        let mut out = Vec::new();
        push_double(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    fn decimal(unscaled: &str, scale: i8) -> String {
        let mut out = Vec::new();
        push_big_decimal(&mut out, unscaled, scale);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn doubles_like_java() {
        assert_eq!(double(1.0), "1.0");
        assert_eq!(double(0.0), "0.0");
        assert_eq!(double(-0.0), "-0.0");
        assert_eq!(double(3.25), "3.25");
        assert_eq!(double(-123.456), "-123.456");
        assert_eq!(double(1e7), "1.0E7");
        assert_eq!(double(9_999_999.0), "9999999.0");
        assert_eq!(double(0.001), "0.001");
        assert_eq!(double(1e-4), "1.0E-4");
        assert_eq!(double(1.5e-10), "1.5E-10");
        assert_eq!(double(123_456_789.0), "1.23456789E8");
        assert_eq!(double(f64::NAN), "NaN");
        assert_eq!(double(f64::NEG_INFINITY), "-Infinity");
        let mut out = Vec::new();
        push_float(&mut out, 0.1);
        assert_eq!(out, b"0.1");
    }

    #[test]
    fn big_decimals_like_java() {
        assert_eq!(decimal("12345", 2), "123.45");
        assert_eq!(decimal("-5", 2), "-0.05");
        assert_eq!(decimal("100", 2), "1.00");
        assert_eq!(decimal("7", 0), "7");
        assert_eq!(decimal("1", 7), "1E-7");
        assert_eq!(decimal("1", 6), "0.000001");
        assert_eq!(decimal("123", -2), "1.23E+4");
        assert_eq!(decimal("0", 2), "0.00");
    }
}
