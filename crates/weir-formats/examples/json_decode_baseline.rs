//! The limit for reading JSON lines: arrow-json's decoder alone, one core, over every
//! file of a folder of Nexmark bids. Used by `scripts/bench/nexmark-file-queries.sh`.

use std::io::BufReader;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::json::ReaderBuilder;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let folder = std::env::args()
        .nth(1)
        .ok_or("usage: json_decode_baseline FOLDER")?;
    let schema = Arc::new(Schema::new(vec![
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
    ]));
    let mut rows = 0usize;
    let mut paths: Vec<_> = std::fs::read_dir(&folder)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.sort();
    for path in paths {
        let file = BufReader::with_capacity(4 << 20, std::fs::File::open(path)?);
        let reader = ReaderBuilder::new(schema.clone())
            .with_batch_size(8192)
            .build(file)?;
        for batch in reader {
            rows += batch?.num_rows();
        }
    }
    println!("{rows} rows");
    Ok(())
}
