//! How nexmark events map onto a table's columns, and the Arrow arrays built from them.
//!
//! Two layouts are supported. The nested one of nexmark-flink: `event_type INT` (0
//! person, 1 auction, 2 bid) and one ROW column per kind (`person`, `auction`, `bid`),
//! NULL when the event is of another kind. The flat one (option `weir.event-type`): the
//! columns are the fields of one kind. Columns and ROW subfields are matched by name,
//! case-insensitively, so a table may declare any subset of them, in any order.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Int32Array, Int64Array, RecordBatch, RecordBatchOptions, StringArray, StructArray,
    TimestampMillisecondArray,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Fields, SchemaRef};
use arrow::error::ArrowError;
use nexmark::event::{Auction, Bid, Event, Person};

use crate::descriptor::{ConnectorError, TableDescriptor};

/// A kind of nexmark event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A new person.
    Person,
    /// A new auction.
    Auction,
    /// A bid.
    Bid,
}

impl Kind {
    /// Parses `person`, `auction` or `bid`.
    pub fn parse(text: &str) -> Option<Kind> {
        match text.trim().to_ascii_lowercase().as_str() {
            "person" => Some(Kind::Person),
            "auction" => Some(Kind::Auction),
            "bid" => Some(Kind::Bid),
            _ => None,
        }
    }

    /// The value of the `event_type` column.
    fn code(self) -> i32 {
        match self {
            Kind::Person => 0,
            Kind::Auction => 1,
            Kind::Bid => 2,
        }
    }

    fn of(event: &Event) -> Kind {
        match event {
            Event::Person(_) => Kind::Person,
            Event::Auction(_) => Kind::Auction,
            Event::Bid(_) => Kind::Bid,
        }
    }

    /// `person`, `auction` or `bid`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Person => "person",
            Kind::Auction => "auction",
            Kind::Bid => "bid",
        }
    }

    fn fields(self) -> &'static [FieldDef] {
        match self {
            Kind::Person => PERSON,
            Kind::Auction => AUCTION,
            Kind::Bid => BID,
        }
    }
}

/// Reads one field of an event; `None` for events of other kinds.
#[derive(Clone, Copy)]
enum Getter {
    Int(fn(&Event) -> Option<i64>),
    Str(fn(&Event) -> Option<&str>),
    /// Epoch milliseconds.
    Time(fn(&Event) -> Option<i64>),
}

/// A field of an event kind, with nexmark-flink's name.
struct FieldDef {
    name: &'static str,
    get: Getter,
}

fn person(e: &Event) -> Option<&Person> {
    match e {
        Event::Person(p) => Some(p),
        _ => None,
    }
}

fn auction(e: &Event) -> Option<&Auction> {
    match e {
        Event::Auction(a) => Some(a),
        _ => None,
    }
}

fn bid(e: &Event) -> Option<&Bid> {
    match e {
        Event::Bid(b) => Some(b),
        _ => None,
    }
}

const fn def(name: &'static str, get: Getter) -> FieldDef {
    FieldDef { name, get }
}

const PERSON: &[FieldDef] = &[
    def("id", Getter::Int(|e| person(e).map(|p| p.id as i64))),
    def("name", Getter::Str(|e| person(e).map(|p| p.name.as_str()))),
    def(
        "emailAddress",
        Getter::Str(|e| person(e).map(|p| p.email_address.as_str())),
    ),
    def(
        "creditCard",
        Getter::Str(|e| person(e).map(|p| p.credit_card.as_str())),
    ),
    def("city", Getter::Str(|e| person(e).map(|p| p.city.as_str()))),
    def(
        "state",
        Getter::Str(|e| person(e).map(|p| p.state.as_str())),
    ),
    def(
        "dateTime",
        Getter::Time(|e| person(e).map(|p| p.date_time as i64)),
    ),
    def(
        "extra",
        Getter::Str(|e| person(e).map(|p| p.extra.as_str())),
    ),
];

const AUCTION: &[FieldDef] = &[
    def("id", Getter::Int(|e| auction(e).map(|a| a.id as i64))),
    def(
        "itemName",
        Getter::Str(|e| auction(e).map(|a| a.item_name.as_str())),
    ),
    def(
        "description",
        Getter::Str(|e| auction(e).map(|a| a.description.as_str())),
    ),
    def(
        "initialBid",
        Getter::Int(|e| auction(e).map(|a| a.initial_bid as i64)),
    ),
    def(
        "reserve",
        Getter::Int(|e| auction(e).map(|a| a.reserve as i64)),
    ),
    def(
        "dateTime",
        Getter::Time(|e| auction(e).map(|a| a.date_time as i64)),
    ),
    def(
        "expires",
        Getter::Time(|e| auction(e).map(|a| a.expires as i64)),
    ),
    def(
        "seller",
        Getter::Int(|e| auction(e).map(|a| a.seller as i64)),
    ),
    def(
        "category",
        Getter::Int(|e| auction(e).map(|a| a.category as i64)),
    ),
    def(
        "extra",
        Getter::Str(|e| auction(e).map(|a| a.extra.as_str())),
    ),
];

const BID: &[FieldDef] = &[
    def("auction", Getter::Int(|e| bid(e).map(|b| b.auction as i64))),
    def("bidder", Getter::Int(|e| bid(e).map(|b| b.bidder as i64))),
    def("price", Getter::Int(|e| bid(e).map(|b| b.price as i64))),
    def(
        "channel",
        Getter::Str(|e| bid(e).map(|b| b.channel.as_str())),
    ),
    def("url", Getter::Str(|e| bid(e).map(|b| b.url.as_str()))),
    def(
        "dateTime",
        Getter::Time(|e| bid(e).map(|b| b.date_time as i64)),
    ),
    def("extra", Getter::Str(|e| bid(e).map(|b| b.extra.as_str()))),
];

const KINDS: [Kind; 3] = [Kind::Person, Kind::Auction, Kind::Bid];

/// How one column of the table is filled.
enum Column {
    /// `event_type`: 0 person, 1 auction, 2 bid.
    EventType(DataType),
    /// A ROW column of one kind, NULL for events of other kinds.
    Row {
        kind: Kind,
        fields: Fields,
        defs: Vec<&'static FieldDef>,
    },
    /// A field of the kind of a flat table.
    Field(&'static FieldDef, DataType),
}

/// The mapping of a table's columns onto nexmark events.
pub(crate) struct Layout {
    schema: SchemaRef,
    columns: Vec<Column>,
}

impl Layout {
    /// Maps `table`'s columns: the nested layout, or the flat layout of kind `only`.
    pub fn new(table: &TableDescriptor, only: Option<Kind>) -> Result<Layout, ConnectorError> {
        let err = |message: String| ConnectorError::Unsupported {
            table: table.name.clone(),
            message,
        };
        let mut columns = Vec::with_capacity(table.schema.fields().len());
        for field in table.schema.fields() {
            let name = field.name();
            let column = match only {
                Some(kind) => {
                    let def = find(kind.fields(), name).ok_or_else(|| {
                        err(format!(
                            "column '{name}' is not a field of nexmark {} events; available: {}",
                            kind.name(),
                            names(kind.fields())
                        ))
                    })?;
                    check_type(def, field.data_type())
                        .map_err(|m| err(format!("column '{name}': {m}")))?;
                    Column::Field(def, field.data_type().clone())
                }
                None if name.eq_ignore_ascii_case("event_type") => {
                    if !field.data_type().is_integer() {
                        return Err(err(format!(
                            "column '{name}' must be an integer type such as INT, not {}",
                            field.data_type()
                        )));
                    }
                    Column::EventType(field.data_type().clone())
                }
                None => {
                    let kind = KINDS
                        .into_iter()
                        .find(|k| k.name().eq_ignore_ascii_case(name))
                        .ok_or_else(|| {
                            err(format!(
                                "column '{name}' is not a nexmark column; available: event_type, person, auction, bid \
                                 (or set 'weir.event-type' for a table of one kind's fields)"
                            ))
                        })?;
                    let DataType::Struct(fields) = field.data_type() else {
                        return Err(err(format!(
                            "column '{name}' must be a ROW<...> of {}",
                            names(kind.fields())
                        )));
                    };
                    if !field.is_nullable() {
                        return Err(err(format!(
                            "column '{name}' must be nullable: it is NULL for events of other kinds"
                        )));
                    }
                    let defs = fields
                        .iter()
                        .map(|sub| {
                            let def = find(kind.fields(), sub.name()).ok_or_else(|| {
                                err(format!(
                                    "'{name}.{}' is not a field of nexmark {} events; available: {}",
                                    sub.name(),
                                    kind.name(),
                                    names(kind.fields())
                                ))
                            })?;
                            check_type(def, sub.data_type())
                                .map_err(|m| err(format!("'{name}.{}': {m}", sub.name())))?;
                            Ok(def)
                        })
                        .collect::<Result<Vec<_>, ConnectorError>>()?;
                    Column::Row {
                        kind,
                        fields: fields.clone(),
                        defs,
                    }
                }
            };
            columns.push(column);
        }
        Ok(Layout {
            schema: table.schema.clone(),
            columns,
        })
    }

    /// Builds the batch of `events`, column by column.
    pub fn build(&self, events: &[Event]) -> Result<RecordBatch, ArrowError> {
        let arrays = self
            .columns
            .iter()
            .map(|column| match column {
                Column::EventType(dt) => {
                    let codes: Int32Array =
                        events.iter().map(|e| Some(Kind::of(e).code())).collect();
                    cast_to(Arc::new(codes), dt)
                }
                Column::Field(def, dt) => build_field(def, events, dt),
                Column::Row { kind, fields, defs } => {
                    let valid: Vec<bool> = events.iter().map(|e| Kind::of(e) == *kind).collect();
                    let nulls = NullBuffer::from(valid);
                    let nulls = (nulls.null_count() > 0).then_some(nulls);
                    let children = defs
                        .iter()
                        .zip(fields.iter())
                        .map(|(def, f)| build_field(def, events, f.data_type()))
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(Arc::new(StructArray::try_new_with_length(
                        fields.clone(),
                        children,
                        nulls,
                        events.len(),
                    )?) as ArrayRef)
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(events.len()));
        RecordBatch::try_new_with_options(self.schema.clone(), arrays, &options)
    }
}

fn find(defs: &'static [FieldDef], name: &str) -> Option<&'static FieldDef> {
    defs.iter().find(|d| d.name.eq_ignore_ascii_case(name))
}

fn names(defs: &[FieldDef]) -> String {
    defs.iter().map(|d| d.name).collect::<Vec<_>>().join(", ")
}

/// Whether the declared type can hold the field: any integer type for BIGINT fields,
/// any string type for STRING fields, any timestamp type for TIMESTAMP(3) fields.
fn check_type(def: &FieldDef, declared: &DataType) -> Result<(), String> {
    let (ok, expected) = match def.get {
        Getter::Int(_) => (declared.is_integer(), "BIGINT"),
        Getter::Str(_) => (
            matches!(
                declared,
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ),
            "STRING",
        ),
        Getter::Time(_) => (
            matches!(declared, DataType::Timestamp(_, _)),
            "TIMESTAMP(3)",
        ),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "nexmark's '{}' is {expected}; declared {declared}",
            def.name
        ))
    }
}

fn build_field(def: &FieldDef, events: &[Event], dt: &DataType) -> Result<ArrayRef, ArrowError> {
    match def.get {
        Getter::Int(f) => {
            let array: Int64Array = events.iter().map(f).collect();
            cast_to(Arc::new(array), dt)
        }
        Getter::Str(f) => {
            let array: StringArray = events.iter().map(f).collect();
            cast_to(Arc::new(array), dt)
        }
        Getter::Time(f) => {
            let array: TimestampMillisecondArray = events.iter().map(f).collect();
            // Epoch milliseconds are an instant: keep them as they are in any time zone.
            let array = match dt {
                DataType::Timestamp(_, tz) => array.with_timezone_opt(tz.clone()),
                _ => array,
            };
            cast_to(Arc::new(array), dt)
        }
    }
}

fn cast_to(array: ArrayRef, dt: &DataType) -> Result<ArrayRef, ArrowError> {
    if array.data_type() == dt {
        Ok(array)
    } else {
        arrow::compute::cast(&array, dt)
    }
}

/// Nexmark-flink's nested schema, for tests and documentation.
#[cfg(test)]
pub(crate) fn nested_schema() -> arrow::datatypes::Schema {
    use arrow::datatypes::{Field, TimeUnit};
    let row = |kind: Kind| {
        let fields: Vec<Field> = kind
            .fields()
            .iter()
            .map(|d| {
                let dt = match d.get {
                    Getter::Int(_) => DataType::Int64,
                    Getter::Str(_) => DataType::Utf8,
                    Getter::Time(_) => DataType::Timestamp(TimeUnit::Millisecond, None),
                };
                Field::new(d.name, dt, true)
            })
            .collect();
        Field::new(kind.name(), DataType::Struct(fields.into()), true)
    };
    arrow::datatypes::Schema::new(vec![
        Field::new("event_type", DataType::Int32, true),
        row(Kind::Person),
        row(Kind::Auction),
        row(Kind::Bid),
    ])
}
