//! The fast decoder against arrow-json: hand-written cases with their expected values,
//! and random flat JSON lines that must decode to the same batches (or the same errors)
//! with and without the fast decoder, for full and projected schemas, strict and lenient.

use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Field, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, Int8Type, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType,
};

use super::FastDecoder;
use crate::{JsonDecoder, JsonOptions, RecordDecoder};

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("b", DataType::Boolean, true),
        Field::new("i8", DataType::Int8, true),
        Field::new("i16", DataType::Int16, true),
        Field::new("i32", DataType::Int32, true),
        Field::new("i64", DataType::Int64, true),
        Field::new("f32", DataType::Float32, true),
        Field::new("f64", DataType::Float64, true),
        Field::new("dec", DataType::Decimal128(10, 2), true),
        Field::new("s", DataType::Utf8, true),
        Field::new("d", DataType::Date32, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        Field::new(
            "ltz",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("ts0", DataType::Timestamp(TimeUnit::Second, None), true),
        Field::new("tsn", DataType::Timestamp(TimeUnit::Nanosecond, None), true),
    ]))
}

/// Decodes `input` with the fast decoder alone (`None`: it gave up).
fn fast(schema: &SchemaRef, input: &[u8]) -> Option<Vec<Vec<arrow::array::ArrayRef>>> {
    let records = input
        .split(|b| *b == b'\n')
        .filter(|l| !crate::lines::is_blank(l))
        .count();
    let decoded = FastDecoder::new(schema)?.decode(input, Some(records), 8192, false)?;
    assert_eq!(decoded.newlines, crate::lines::count_newlines(input));
    Some(decoded.batches)
}

#[test]
fn every_type_from_its_usual_form() {
    let schema = schema();
    let input = br#"{"b":true,"i8":-128,"i16":300,"i32":-70000,"i64":123456789012,"f32":1.5,"f64":-2.5e-3,"dec":12.345,"s":"a\"\u00e9\ud83d\ude00","d":"2024-01-02","ts":"2024-01-01 10:00:00.123","ltz":"2024-01-01T10:00:00.000001Z","ts0":"1970-01-01 00:00:59.9","tsn":"1969-12-31 23:59:59.5"}
{"b":false,"s":42,"i64":"17","f64":"1e2","dec":"-0.5","d":19000,"ts":1000,"ltz":"2024-01-01 11:00:00+01:00","extra":{"x":[1,"]",null]}}
{}"#;
    let batch = &fast(&schema, input).expect("the fast decoder reads every line")[0];
    let bools = batch[0].as_boolean();
    assert_eq!(
        (bools.value(0), bools.value(1), bools.is_null(2)),
        (true, false, true)
    );
    assert_eq!(batch[1].as_primitive::<Int8Type>().value(0), -128);
    assert_eq!(batch[2].as_primitive::<Int16Type>().value(0), 300);
    assert_eq!(batch[3].as_primitive::<Int32Type>().value(0), -70_000);
    let i64s = batch[4].as_primitive::<Int64Type>();
    assert_eq!((i64s.value(0), i64s.value(1)), (123_456_789_012, 17));
    assert_eq!(batch[5].as_primitive::<Float32Type>().value(0), 1.5);
    let f64s = batch[6].as_primitive::<Float64Type>();
    assert_eq!((f64s.value(0), f64s.value(1)), (-0.0025, 100.0));
    // arrow's parse_decimal truncates digits past the scale: 12.345 is 12.34.
    let decs = batch[7].as_primitive::<Decimal128Type>();
    assert_eq!((decs.value(0), decs.value(1)), (1234, -50));
    let strings = batch[8].as_string::<i32>();
    assert_eq!(strings.value(0), "a\"é😀");
    assert_eq!(strings.value(1), "42");
    let dates = batch[9].as_primitive::<Date32Type>();
    assert_eq!((dates.value(0), dates.value(1)), (19_724, 19_000));
    let ts = batch[10].as_primitive::<TimestampMillisecondType>();
    assert_eq!((ts.value(0), ts.value(1)), (1_704_103_200_123, 1000));
    let ltz = batch[11].as_primitive::<TimestampMicrosecondType>();
    assert_eq!(ltz.value(0), 1_704_103_200_000_001);
    assert_eq!(ltz.value(1), 1_704_103_200_000_000, "an offset is applied");
    assert_eq!(
        batch[12]
            .as_primitive::<arrow::datatypes::TimestampSecondType>()
            .value(0),
        59
    );
    let tsn = batch[13].as_primitive::<arrow::datatypes::TimestampNanosecondType>();
    assert_eq!(tsn.value(0), -500_000_000);
    assert!(
        batch.iter().all(|c| c.is_null(2)),
        "an empty object is all NULL"
    );
}

#[test]
fn the_fast_decoder_gives_up_where_arrow_json_decides() {
    let schema = schema();
    for line in [
        &br#"{"i64":1,"i64":2}"#[..], // a key given twice (arrow-json keeps the last)
        br#"{"b":"true"}"#,           // a BOOLEAN given as a string
        br#"{"i32":1.5}"#,            // a fraction for an integer
        br#"{"i32":3000000000}"#,     // out of range
        br#"{"i64":"abc"}"#,          // not a number
        br#"{"s":[1]}"#,              // an array for a STRING
        br#"{"s":"abc}"#,             // unterminated string
        br#"{"i64":1"#,               // truncated object
        br#"{"i64":1} x"#,            // trailing garbage
        br#"{"i64":1}{"i64":2}"#,     // two objects
        br#"{"i64":01}"#,             // not JSON (arrow-json is more lenient)
        br#"{"i64":1,}"#,             // trailing comma
        br#"{"x":"\q"}"#,             // a bad escape in a field not read
        br#"[1]"#,                    // not an object
        b"\x0c",                      // blank for Weir, not JSON whitespace
        b"{\"s\":\"\xff\"}",          // invalid UTF-8
    ] {
        assert!(
            fast(&schema, line).is_none(),
            "{}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn missing_fields_under_fail_on_missing_field_are_left_to_arrow_json() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Int64, true),
        Field::new("b", DataType::Utf8, true),
    ]));
    let mut d = FastDecoder::new(&schema).unwrap();
    assert!(d
        .decode(b"{\"a\":1,\"b\":null}\n", Some(1), 10, true)
        .is_some());
    assert!(d.decode(b"{\"a\":1}\n", Some(1), 10, true).is_none());
    let batches = d
        .decode(b"{\"a\":1}\n{\"b\":\"x\"}\n{\"a\":3}\n", Some(3), 2, false)
        .unwrap()
        .batches;
    assert_eq!(batches.len(), 2, "batches of two rows");
    assert_eq!(batches[1][0].as_primitive::<Int64Type>().value(0), 3);
}

/// Errors and results with and without the fast decoder, on the same chunk.
fn both(schema: &SchemaRef, options: &JsonOptions, batch_size: usize, input: &[u8]) {
    let run = |fast: bool| {
        let mut d = JsonDecoder::new(schema.clone(), options.clone())
            .unwrap()
            .with_batch_size(batch_size)
            .with_fast_path(fast);
        d.set_origin("gen.json");
        d.decode(input, 3)
            .map(|decoded| (decoded.batches, decoded.skipped))
            .map_err(|e| e.to_string())
    };
    assert_eq!(
        run(true),
        run(false),
        "input:\n{}\noptions: {options:?}",
        String::from_utf8_lossy(input)
    );
}

/// A small deterministic generator (xorshift64*) of JSON lines: `wild` ones hold every
/// form (also those the fast decoder leaves to arrow-json, and malformed lines), the
/// others only forms the fast decoder reads.
struct Gen {
    state: u64,
    wild: bool,
}

impl Gen {
    fn new(seed: u64) -> Gen {
        Gen {
            state: seed,
            wild: true,
        }
    }

    fn next(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Whether to write a rare form: never when not wild.
    fn rare(&mut self, one_in: u64) -> bool {
        self.wild && self.below(one_in) == 0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    fn ws(&mut self) -> &'static str {
        ["", "", "", " ", "\t", " \r "][self.below(6) as usize]
    }

    fn int(&mut self, index: usize) -> String {
        if !self.wild {
            let v = self.next() as i64;
            return match index {
                1 => format!("{}", v as i8),
                2 => format!("{}", v as i16),
                3 => format!("\"{}\"", v as i32),
                // Up to 18 digits (longer integers are left to arrow-json).
                _ => format!("{}", v >> (4 + self.below(59))),
            };
        }
        match self.below(8) {
            0 => format!("{}", self.below(200) as i64 - 100),
            1 => format!("{}", self.next() as i64),
            2 => format!("{}", -((self.next() >> 20) as i64)),
            3 => format!("\"{}\"", self.below(100_000)),
            4 => self
                .pick(&[
                    "1e3", "1.5", "-0", "0", "-2.5E1", "007", "1.0", "\" 5\"", "\"+5\"",
                ])
                .into(),
            5 => format!("{}", self.below(70_000) as i64 - 35_000),
            6 => format!("{}", self.below(5_000_000_000) as i64 - 2_500_000_000),
            _ => format!("{}", self.below(1_000_000)),
        }
    }

    fn float(&mut self) -> String {
        match self.below(if self.wild { 6 } else { 3 }) {
            0 => format!("{}", self.below(1000)),
            1 => format!("{}.{}", self.below(1000) as i64 - 500, self.below(100_000)),
            2 => format!("{}e{}", self.below(100), self.below(60) as i64 - 30),
            3 => format!("{}", f64::from_bits(self.next() >> 2)),
            4 => self
                .pick(&[
                    "\"1.5\"", "\"NaN\"", "\"inf\"", "1E+2", "-0.0", "0.1", "\"x\"",
                ])
                .into(),
            _ => format!("{:?}", (self.next() as f64) / 7.0),
        }
    }

    fn decimal(&mut self) -> String {
        match self.below(4) {
            2 if !self.wild => "0.125".into(),
            0 => format!(
                "{}.{}",
                self.below(1_000_000) as i64 - 500_000,
                self.below(1000)
            ),
            1 => format!("\"{}.{}\"", self.below(1000), self.below(100)),
            2 => self
                .pick(&["1e2", "12345678901.5", "-0.005", "0.125", "\"1.2.3\"", "5"])
                .into(),
            _ => format!("{}", self.below(100_000)),
        }
    }

    fn string(&mut self) -> String {
        let pieces = [
            "abc",
            "x",
            " ",
            "日本",
            "é",
            "\\\"",
            "\\\\",
            "\\/",
            "\\n",
            "\\t",
            "\\u00e9",
            "\\u20AC",
            "\\ud83d\\ude00",
            "https://x.y/z?q=1&c=2",
            "\\b\\f\\r",
            "😀",
        ];
        let mut s = String::from("\"");
        for _ in 0..self.below(5) {
            s.push_str(self.pick(&pieces));
        }
        if self.rare(40) {
            s.push_str(self.pick(&["\\ud83d", "\\x", "\\u12"]));
        }
        s.push('"');
        s
    }

    fn timestamp(&mut self) -> String {
        let frac: &[&str] = if self.wild {
            &[
                "",
                ".1",
                ".123",
                ".123456",
                ".123456789",
                ".5Z",
                "Z",
                "+01:00",
                ".1234567891",
            ]
        } else {
            &["", ".1", ".123", ".123456", ".123456789", ".5Z", "Z"]
        };
        match self.below(8) {
            0 if !self.wild => "\"2024-01-01\"".into(),
            0 => self
                .pick(&[
                    "\"2024-01-01\"",
                    "\"2024-02-30 00:00:00\"",
                    "\"x\"",
                    "1700000000",
                    "-5",
                    "\"2024-01-01 25:00:00\"",
                    "\"0001-01-01 00:00:00\"",
                    "\"9999-12-31T23:59:59.999\"",
                ])
                .into(),
            n => format!(
                "\"{:04}-{:02}-{:02}{}{:02}:{:02}:{:02}{}\"",
                1900 + self.below(300),
                1 + self.below(12),
                1 + self.below(28),
                if n % 2 == 0 { " " } else { "T" },
                self.below(24),
                self.below(60),
                self.below(60),
                self.pick(frac)
            ),
        }
    }

    fn date(&mut self) -> String {
        match self.below(4) {
            0 if !self.wild => "19000".into(),
            0 => self
                .pick(&["19000", "\"2024-02-29\"", "\"2023-02-29\"", "\"x\"", "-1"])
                .into(),
            _ => format!(
                "\"{:04}-{:02}-{:02}\"",
                1950 + self.below(100),
                1 + self.below(12),
                1 + self.below(28)
            ),
        }
    }

    fn nested(&mut self, depth: u32) -> String {
        match (self.below(6), depth) {
            (0, 0..=2) => format!("[{}, {}]", self.nested(depth + 1), self.nested(depth + 1)),
            (1, 0..=2) => format!(
                "{{\"k\": {}, \"\\u006b2\":{}}}",
                self.nested(depth + 1),
                self.nested(depth + 1)
            ),
            (2, _) => self.string(),
            (3, _) => self.float(),
            _ => self.pick(&["true", "false", "null", "[]", "{}"]).into(),
        }
    }

    /// A value for the column at `index` of [`schema`], now and then of another type.
    fn value(&mut self, index: usize) -> String {
        if self.below(10) == 0 {
            return "null".into();
        }
        if self.rare(40) {
            return self.nested(0);
        }
        match index {
            0 if !self.wild => self.pick(&["true", "false"]).into(),
            0 => self
                .pick(&["true", "false", "true", "false", "\"true\"", "1"])
                .into(),
            1..=4 => self.int(index),
            5 | 6 => self.float(),
            7 => self.decimal(),
            8 => match self.below(5) {
                0 => self.float(),
                1 => self.pick(&["true", "false", "-0", "1e5", "1.50"]).into(),
                _ => self.string(),
            },
            9 => self.date(),
            _ => self.timestamp(),
        }
    }

    fn line(&mut self, names: &[&str]) -> String {
        if self.rare(60) {
            return self
                .pick(&[
                    "not json",
                    "{\"i64\":1",
                    "{\"s\":\"abc}",
                    "{\"i64\":1} x",
                    "{\"i64\":1}{\"i64\":2}",
                    "[1]",
                    "",
                    "  ",
                    "{\"i64\":1,}",
                ])
                .into();
        }
        let mut fields = Vec::new();
        for (i, name) in names.iter().enumerate() {
            if self.below(8) == 0 {
                continue; // missing
            }
            let key = match (self.below(30), *name) {
                (0, "s") => "\\u0073".to_string(),
                _ => name.to_string(),
            };
            fields.push(format!(
                "\"{key}\"{}:{}{}",
                self.ws(),
                self.ws(),
                self.value(i)
            ));
            if self.rare(40) {
                fields.push(format!("\"{name}\":{}", self.value(i)));
            }
        }
        for _ in 0..self.below(3) {
            let value = self.nested(0);
            let at = self.below(fields.len() as u64 + 1) as usize;
            fields.insert(at, format!("\"extra\":{value}"));
        }
        let sep = format!("{},{}", self.ws(), self.ws());
        format!(
            "{}{{{}{}{}}}{}",
            self.ws(),
            self.ws(),
            fields.join(&sep),
            self.ws(),
            self.ws()
        )
    }
}

#[test]
fn random_lines_decode_as_arrow_json_decodes_them() {
    let full = schema();
    let names: Vec<&str> = full.fields().iter().map(|f| f.name().as_str()).collect();
    let projected = Arc::new(full.project(&[1, 4, 8, 10]).unwrap());
    let strict = JsonOptions::default();
    let lenient = JsonOptions {
        ignore_parse_errors: true,
        ..JsonOptions::default()
    };
    let fail_missing = JsonOptions {
        fail_on_missing_field: true,
        ..JsonOptions::default()
    };
    let mut gen = Gen::new(0x5EED_1234_ABCD_0001);
    let mut fast_chunks = 0;
    for round in 0..400 {
        gen.wild = round % 2 == 0;
        let lines = 1 + gen.below(12) as usize;
        let input: Vec<String> = (0..lines).map(|_| gen.line(&names)).collect();
        let mut input = input.join(if round % 3 == 0 { "\r\n" } else { "\n" });
        if round % 2 == 0 {
            input.push('\n');
        }
        let bytes = input.as_bytes();
        if fast(&full, bytes).is_some() {
            fast_chunks += 1;
        } else if !gen.wild && std::env::var("SHOW").is_ok() {
            eprintln!("GAVE UP:\n{input}");
        }
        let batch_size = [1, 3, 8192][round % 3];
        for options in [&strict, &lenient, &fail_missing] {
            both(&full, options, batch_size, bytes);
            both(&projected, options, batch_size, bytes);
        }
    }
    // Wild chunks mostly hold something the fast decoder leaves to arrow-json.
    assert!(fast_chunks >= 190, "only {fast_chunks} chunks decoded fast");
}

#[test]
fn well_formed_random_lines_are_all_read_by_the_fast_decoder() {
    // Only forms the fast decoder reads: it must read every chunk, as arrow-json does.
    let schema = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Int64, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("t", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        Field::new("f", DataType::Float64, true),
    ]));
    let mut gen = Gen::new(99);
    gen.wild = false;
    for _ in 0..200 {
        let lines: Vec<String> = (0..1 + gen.below(20))
            .map(|_| {
                let t = format!(
                    "\"2026-{:02}-{:02} {:02}:{:02}:{:02}.{:03}\"",
                    1 + gen.below(12),
                    1 + gen.below(28),
                    gen.below(24),
                    gen.below(60),
                    gen.below(60),
                    gen.below(1000)
                );
                let f = format!("{}.{}e{}", gen.below(100), gen.below(100), gen.below(10));
                format!(
                    "{{\"a\":{},\"url\":{},\"s\":{},\"t\":{t},\"f\":{f},\"x\":{}}}",
                    gen.next() >> 8,
                    gen.string(),
                    gen.string(),
                    gen.nested(0)
                )
            })
            .collect();
        let input = lines.join("\n");
        assert!(fast(&schema, input.as_bytes()).is_some(), "{input}");
        both(&schema, &JsonOptions::default(), 8192, input.as_bytes());
    }
}
