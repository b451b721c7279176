//! SQL-level tests of `SPLIT_INDEX`, `REGEXP_EXTRACT`, `CHAR_LENGTH` and `CONCAT_WS`.

use crate::testutil::{run, TestResult};

#[tokio::test]
async fn split_index_literals() -> TestResult {
    let rows = run(
        "SELECT SPLIT_INDEX('a,b,,c', ',', 0), SPLIT_INDEX('a,b,,c', ',', 2), \
         SPLIT_INDEX('a,b,,c', ',', 3), SPLIT_INDEX('a,b,,c', ',', 4), \
         SPLIT_INDEX('a,b', ',', -1), SPLIT_INDEX('a--b--c', '--', 1), \
         SPLIT_INDEX('a b', '', 1), SPLIT_INDEX('', ',', 0), SPLIT_INDEX('a;b', 59, 1), \
         SPLIT_INDEX(NULL, ',', 0), SPLIT_INDEX('a,b', NULL, 0), SPLIT_INDEX('a,b', ',', NULL)",
    )
    .await?;
    assert_eq!(rows, vec!["a||c|NULL|NULL|b|b|NULL|b|NULL|NULL|NULL"]);
    Ok(())
}

#[tokio::test]
async fn split_index_columns() -> TestResult {
    let rows = run(
        "SELECT split_index(s, '-', 1), SPLIT_INDEX(s, ' ', id - 1), SPLIT_INDEX(p, s, 0) \
         FROM t ORDER BY id",
    )
    .await?;
    assert_eq!(
        rows,
        vec!["01|2024-01-02|yyyy", "NULL|NULL|NULL", "NULL|NULL|NULL"]
    );
    Ok(())
}

#[tokio::test]
async fn regexp_extract_groups() -> TestResult {
    let rows = run("SELECT REGEXP_EXTRACT('foothebar', 'foo(.*?)(bar)', 2), \
         REGEXP_EXTRACT('foothebar', 'foo(.*?)(bar)', 1), \
         REGEXP_EXTRACT('foothebar', 'foo(.*?)(bar)', 0), \
         REGEXP_EXTRACT('foothebar', 'the'), \
         REGEXP_EXTRACT('foothebar', 'x(y)', 1), \
         REGEXP_EXTRACT('foothebar', 'foo(.*?)(bar)', 3), \
         REGEXP_EXTRACT('foothebar', 'foo(.*?)(bar)', -1), \
         REGEXP_EXTRACT('ab', 'a(x)?b', 1), \
         REGEXP_EXTRACT(NULL, 'a'), REGEXP_EXTRACT('a', NULL), REGEXP_EXTRACT('a', 'a', NULL)")
    .await?;
    assert_eq!(
        rows,
        vec!["bar|the|foothebar|the|NULL|NULL|NULL|NULL|NULL|NULL|NULL"]
    );
    Ok(())
}

#[tokio::test]
async fn regexp_extract_columns() -> TestResult {
    let rows = run(
        "SELECT REGEXP_EXTRACT(s, '(\\d+)-(\\d+)', 2), REGEXP_EXTRACT(s, '\\d+', id - 1), \
         REGEXP_EXTRACT(s, p), REGEXP_EXTRACT('yyyy', COALESCE(p, '(')) FROM t ORDER BY id",
    )
    .await?;
    assert_eq!(
        rows,
        vec![
            "01|2024|NULL|yyyy",
            "NULL|NULL|NULL|NULL",
            "NULL|NULL|NULL|NULL"
        ]
    );
    Ok(())
}

#[tokio::test]
async fn regexp_extract_rejects_invalid_literal_regex() {
    let err = run("SELECT REGEXP_EXTRACT(s, '(') FROM t")
        .await
        .map(|_| ())
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("REGEXP_EXTRACT: invalid regular expression '('"),
        "{err}"
    );
}

#[tokio::test]
async fn char_length_counts_characters() -> TestResult {
    let rows = run(
        "SELECT CHAR_LENGTH('héllo'), CHARACTER_LENGTH('日本語'), CHAR_LENGTH(NULL), \
         CHAR_LENGTH(s) FROM t ORDER BY id",
    )
    .await?;
    assert_eq!(rows, vec!["5|3|NULL|19", "5|3|NULL|NULL", "5|3|NULL|3"]);
    Ok(())
}

#[tokio::test]
async fn concat_ws_skips_null_arguments() -> TestResult {
    let rows = run(
        "SELECT CONCAT_WS('-', 'a', NULL, 'b'), CONCAT_WS(NULL, 'a', 'b'), \
         CONCAT_WS('~', s, p, 'x') FROM t ORDER BY id",
    )
    .await?;
    assert_eq!(
        rows,
        vec![
            "a-b|NULL|2024-01-02 03:04:05~yyyy~x",
            "a-b|NULL|HH:mm~x",
            "a-b|NULL|bad~x"
        ]
    );
    Ok(())
}

#[test]
fn splitter_matches_str_split() {
    use super::split_index;
    let texts = [
        "https://www.nexmark.com/abc/def/ghi/item.htm?query=1",
        "a,b,,c,",
        ",",
        "aaaa",
        "naïve/ünïcode/日本語/x",
        "x日本y日本z",
        "no separator here",
        "trailing/",
        "/leading",
        "a\u{2003}b c",
    ];
    let separators = ["/", ",", "aa", "日本", "é", "--", " ", "x"];
    for s in texts {
        for sep in separators {
            for index in 0..8 {
                let want = s.split(sep).nth(index);
                assert_eq!(split_index(s, sep, index), want, "{s:?} {sep:?} {index}");
            }
        }
        for index in 0..4 {
            let want = s.split(char::is_whitespace).nth(index);
            assert_eq!(split_index(s, "", index), want, "{s:?} whitespace {index}");
        }
    }
    assert_eq!(split_index("", "/", 0), None);
}

#[tokio::test]
async fn split_index_url_directories() -> TestResult {
    let rows = run(
        "SELECT SPLIT_INDEX(u, '/', 3), SPLIT_INDEX(u, '/', 4), SPLIT_INDEX(u, '/', 5), \
         SPLIT_INDEX(u, '日本', 1), SPLIT_INDEX(u, 47, 6) \
         FROM (VALUES ('https://www.nexmark.com/abc/dé/日本/item.htm?query=1'), \
                      ('https://x.org/'), (CAST(NULL AS VARCHAR)), ('')) AS v(u)",
    )
    .await?;
    assert_eq!(
        rows,
        vec![
            "abc|dé|日本|/item.htm?query=1|item.htm?query=1",
            "|NULL|NULL|NULL|NULL",
            "NULL|NULL|NULL|NULL|NULL",
            "NULL|NULL|NULL|NULL|NULL",
        ]
    );
    Ok(())
}

#[test]
fn byte_tokens_match_str_split() {
    use super::byte_token;
    // Every string of up to 20 bytes over {a, /, é's bytes} at a few lengths, and long
    // ones, so separators fall before, inside and across the eight-byte words.
    let alphabet: [&[u8]; 3] = [b"a", b"/", "é".as_bytes()];
    let mut texts: Vec<Vec<u8>> = Vec::new();
    for seed in 0u64..4000 {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let len = (seed % 40) as usize;
        let mut text = Vec::new();
        while text.len() < len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            text.extend_from_slice(alphabet[(x % 3) as usize]);
        }
        texts.push(text);
    }
    texts.push(b"aaaaaaaaaaaaaaa/".to_vec());
    texts.push(vec![b'/'; 30]);
    for text in &texts {
        let text = std::str::from_utf8(text).unwrap();
        for index in 0..12 {
            let want = text.split('/').nth(index);
            let got = byte_token(b'/', text.as_bytes(), index).map(|(s, e)| &text[s..e]);
            assert_eq!(got, want, "{text:?} {index}");
        }
    }
}
