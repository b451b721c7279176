//! Reading and validating `WITH (...)` options.

use std::collections::BTreeSet;
use std::str::FromStr;
use std::time::Duration;

use crate::descriptor::{ConnectorError, TableDescriptor};

/// A view of a table's options for one connector: typed getters with clear errors, and a
/// check that every option was understood.
pub struct Options<'a> {
    table: &'a TableDescriptor,
    connector: &'a str,
    known: BTreeSet<String>,
    known_prefixes: Vec<String>,
}

impl<'a> Options<'a> {
    /// Starts reading `table`'s options for `connector`.
    pub fn new(table: &'a TableDescriptor, connector: &'a str) -> Options<'a> {
        let mut known = BTreeSet::new();
        known.insert("connector".to_string());
        Options {
            table,
            connector,
            known,
            known_prefixes: Vec::new(),
        }
    }

    /// The table.
    pub fn table(&self) -> &TableDescriptor {
        self.table
    }

    /// Declares every option starting with `prefix` as understood (e.g. `fields.`).
    pub fn allow_prefix(&mut self, prefix: &str) {
        self.known_prefixes.push(prefix.to_string());
    }

    /// An optional string option.
    pub fn get(&mut self, key: &str) -> Option<&'a str> {
        self.known.insert(key.to_string());
        self.table.options.get(key).map(String::as_str)
    }

    /// A required string option.
    pub fn required(&mut self, key: &str, hint: &str) -> Result<&'a str, ConnectorError> {
        self.get(key).ok_or_else(|| ConnectorError::MissingOption {
            table: self.table.name.clone(),
            option: key.to_string(),
            hint: hint.to_string(),
        })
    }

    /// An optional option parsed with `FromStr`.
    pub fn parse<T: FromStr>(
        &mut self,
        key: &str,
        expected: &str,
    ) -> Result<Option<T>, ConnectorError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<T>()
                .map(Some)
                .map_err(|_| self.invalid(key, v, &format!("expected {expected}"))),
        }
    }

    /// An optional boolean option (`true` / `false`, any case).
    pub fn bool(&mut self, key: &str, default: bool) -> Result<bool, ConnectorError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(self.invalid(key, v, "expected 'true' or 'false'")),
            },
        }
    }

    /// An optional duration option in Flink's syntax (`10 s`, `500ms`, `1 min`, `2h`, `1d`).
    pub fn duration(&mut self, key: &str) -> Result<Option<Duration>, ConnectorError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => parse_duration(v).map(Some).ok_or_else(|| {
                self.invalid(
                    key,
                    v,
                    "expected a duration such as '500 ms', '10 s', '1 min'",
                )
            }),
        }
    }

    /// An error for an invalid value.
    pub fn invalid(&self, key: &str, value: &str, reason: &str) -> ConnectorError {
        ConnectorError::InvalidOption {
            table: self.table.name.clone(),
            option: key.to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
        }
    }

    /// Fails when the table has options that nothing asked for (typos, other connectors' options).
    pub fn finish(self) -> Result<(), ConnectorError> {
        let unknown: Vec<&str> = self
            .table
            .options
            .keys()
            .filter(|k| {
                !self.known.contains(*k)
                    && !self
                        .known_prefixes
                        .iter()
                        .any(|p| k.starts_with(p.as_str()))
            })
            .map(String::as_str)
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let mut supported: Vec<String> = self.known.iter().cloned().collect();
        supported.extend(self.known_prefixes.iter().map(|p| format!("{p}*")));
        Err(ConnectorError::UnsupportedOptions {
            table: self.table.name.clone(),
            connector: self.connector.to_string(),
            unknown: unknown.join(", "),
            supported: supported.join(", "),
        })
    }
}

/// Parses Flink's duration syntax: a number and an optional unit (default milliseconds).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number.trim().parse().ok()?;
    let millis = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => value,
        "s" | "sec" | "secs" | "second" | "seconds" => value * 1e3,
        "min" | "m" | "mins" | "minute" | "minutes" => value * 60e3,
        "h" | "hour" | "hours" => value * 3_600e3,
        "d" | "day" | "days" => value * 86_400e3,
        _ => return None,
    };
    Some(Duration::from_micros((millis * 1e3) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_flink_syntax() {
        assert_eq!(parse_duration("500"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("10 s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("1min"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("2 h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("0.5s"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("ten"), None);
        assert_eq!(parse_duration("5 weeks"), None);
    }
}
