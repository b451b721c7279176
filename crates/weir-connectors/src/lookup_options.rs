//! Flink's `lookup.*` options of tables a lookup join reads (redis, jdbc), read into
//! [`LookupOptions`].
//!
//! | option | default | meaning |
//! | --- | --- | --- |
//! | `lookup.cache` | `NONE` | `NONE` or `PARTIAL`: keep looked-up rows per join subtask |
//! | `lookup.partial-cache.max-rows` | 10000 | keys kept; the least recently used go first |
//! | `lookup.partial-cache.expire-after-write` | none | a cached key is looked up again this long after it was read from the store |
//! | `lookup.partial-cache.expire-after-access` | none | ... this long after it was last used |
//! | `lookup.partial-cache.cache-missing-key` | true | also cache that a key has no row |
//! | `lookup.max-retries` | 3 | attempts after a failed one (store unreachable, timeout) |
//! | `lookup.timeout` | 10 s | the longest one attempt may take |

use weir_runtime::{LookupCacheOptions, LookupOptions};

use crate::descriptor::ConnectorError;
use crate::options::Options;

/// Default of `lookup.partial-cache.max-rows`.
pub const DEFAULT_CACHE_MAX_ROWS: usize = 10_000;

const PARTIAL: [&str; 4] = [
    "lookup.partial-cache.max-rows",
    "lookup.partial-cache.expire-after-write",
    "lookup.partial-cache.expire-after-access",
    "lookup.partial-cache.cache-missing-key",
];

/// Reads the `lookup.*` options (and declares them understood).
pub(crate) fn read_lookup_options(
    options: &mut Options<'_>,
) -> Result<LookupOptions, ConnectorError> {
    let mode = options.get("lookup.cache").unwrap_or("NONE");
    let partial = match mode.trim().to_ascii_uppercase().as_str() {
        "NONE" => false,
        "PARTIAL" => true,
        _ => {
            return Err(options.invalid(
                "lookup.cache",
                mode,
                "expected 'NONE' or 'PARTIAL' (Weir has no FULL cache)",
            ))
        }
    };
    let max_rows: Option<usize> = options.parse(PARTIAL[0], "a number of rows")?;
    let expire_after_write = options.duration(PARTIAL[1])?;
    let expire_after_access = options.duration(PARTIAL[2])?;
    let cache_missing_key = options.bool(PARTIAL[3], true)?;
    let defaults = LookupOptions::default();
    let max_retries: u32 = options
        .parse("lookup.max-retries", "a number of retries")?
        .unwrap_or(defaults.max_retries);
    let timeout = options
        .duration("lookup.timeout")?
        .unwrap_or(defaults.timeout);
    if timeout.is_zero() {
        return Err(options.invalid("lookup.timeout", "0", "expected a positive duration"));
    }
    let cache = if partial {
        let max_rows = max_rows.unwrap_or(DEFAULT_CACHE_MAX_ROWS);
        if max_rows == 0 {
            return Err(options.invalid(PARTIAL[0], "0", "expected at least 1 row"));
        }
        Some(LookupCacheOptions {
            max_rows,
            expire_after_write,
            expire_after_access,
            cache_missing_key,
        })
    } else {
        if let Some(key) = PARTIAL
            .iter()
            .find(|k| options.table().options.contains_key(**k))
        {
            return Err(ConnectorError::Unsupported {
                table: options.table().name.clone(),
                message: format!(
                    "option '{key}' configures the partial lookup cache, which is off: add \
                     'lookup.cache' = 'PARTIAL'"
                ),
            });
        }
        None
    };
    Ok(LookupOptions {
        cache,
        max_retries,
        timeout,
    })
}
