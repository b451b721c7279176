-- VARCHAR(n) and CHAR(n) columns read from JSON are kept as read (no padding or truncation on
-- read), compared as strings, and written to a STRING column of a print sink.
CREATE TABLE t (code CHAR(3), label VARCHAR(10), note STRING)
WITH ('connector' = 'filesystem', 'path' = 't.json', 'format' = 'json');

CREATE TABLE out (code STRING, label STRING, label_length INT) WITH ('connector' = 'print');

INSERT INTO out SELECT code, label, CHAR_LENGTH(label) FROM t WHERE code <> 'zzz';
