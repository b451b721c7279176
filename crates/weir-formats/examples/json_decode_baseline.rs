//! The limit for reading JSON lines: a decoder alone, one core, over every file of a
//! folder of Nexmark bids. Used by `scripts/bench/nexmark-file-queries.sh`.
//!
//! `json_decode_baseline FOLDER [MODE]`, MODE one of:
//! - `arrow` (default): arrow-json's reader alone, every column;
//! - `weir`: Weir's `JsonDecoder` (its fast decoder of flat schemas), every column;
//! - `weir-arrow`: Weir's `JsonDecoder` with arrow-json only, every column;
//! - `weir-projected`, `weir-arrow-projected`: the same reading only `auction`, `price`
//!   and `dateTime` (what q1 and q2 read; the other columns are skipped).
//!
//! Prints the rows, the bytes and the throughput.

use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::json::ReaderBuilder;
use weir_formats::lines::end_of_last_line;
use weir_formats::{JsonDecoder, JsonOptions, RecordDecoder};

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("auction", DataType::Int64, true),
        Field::new("bidder", DataType::Int64, true),
        Field::new("price", DataType::Int64, true),
        Field::new("channel", DataType::Utf8, true),
        Field::new("url", DataType::Utf8, true),
        Field::new(
            "dateTime",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            true,
        ),
        Field::new("extra", DataType::Utf8, true),
    ]))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let folder = args
        .next()
        .ok_or("usage: json_decode_baseline FOLDER [arrow|weir|weir-arrow|weir-projected|weir-arrow-projected]")?;
    let mode = args.next().unwrap_or_else(|| "arrow".into());
    let mut paths: Vec<_> = std::fs::read_dir(&folder)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.sort();
    let files: Vec<Vec<u8>> = paths.iter().map(std::fs::read).collect::<Result<_, _>>()?;
    let bytes: usize = files.iter().map(Vec::len).sum();
    let start = Instant::now();
    let rows = match mode.as_str() {
        "arrow" => arrow_alone(&files)?,
        "weir" | "weir-arrow" | "weir-projected" | "weir-arrow-projected" => {
            let schema = if mode.ends_with("projected") {
                Arc::new(schema().project(&[0, 2, 5])?)
            } else {
                schema()
            };
            let decoder = JsonDecoder::new(schema, JsonOptions::default())?
                .with_fast_path(!mode.starts_with("weir-arrow"));
            weir(decoder, &files)?
        }
        other => return Err(format!("unknown mode '{other}'").into()),
    };
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{mode}: {rows} rows, {bytes} bytes in {seconds:.3} s: {:.1} MB/s, {:.0} rows/s",
        bytes as f64 / seconds / 1e6,
        rows as f64 / seconds
    );
    Ok(())
}

fn arrow_alone(files: &[Vec<u8>]) -> Result<usize, Box<dyn std::error::Error>> {
    let mut rows = 0;
    for file in files {
        let reader = ReaderBuilder::new(schema())
            .with_batch_size(8192)
            .build(&file[..])?;
        for batch in reader {
            rows += batch?.num_rows();
        }
    }
    Ok(rows)
}

/// Decodes each file in chunks of about 4 MiB of whole lines, as the file source does.
fn weir(mut decoder: JsonDecoder, files: &[Vec<u8>]) -> Result<usize, Box<dyn std::error::Error>> {
    let mut rows = 0;
    for file in files {
        let mut rest = &file[..];
        while !rest.is_empty() {
            let cut = rest.len().min(4 << 20);
            let end = if cut == rest.len() {
                cut
            } else {
                end_of_last_line(&rest[..cut]).ok_or("a line longer than 4 MiB")?
            };
            rows += decoder.decode(&rest[..end], 1)?.num_rows();
            rest = &rest[end..];
        }
    }
    Ok(rows)
}
