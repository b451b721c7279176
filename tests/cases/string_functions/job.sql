-- SPLIT_INDEX (0-based, NULL past the end), REGEXP_EXTRACT with groups (NULL without a match),
-- CHAR_LENGTH (characters, not bytes), CONCAT_WS (NULL arguments skipped) and IF.
CREATE TABLE t (id INT, csv STRING, code STRING, word STRING, a STRING, b STRING, n INT)
WITH ('connector' = 'filesystem', 'path' = 't.json', 'format' = 'json');

SELECT id,
       SPLIT_INDEX(csv, ',', 1),
       SPLIT_INDEX(csv, ',', 0),
       REGEXP_EXTRACT(code, 'order-(\d+)-(\w)', 1),
       REGEXP_EXTRACT(code, 'order-(\d+)-(\w)', 2),
       CHAR_LENGTH(word),
       CONCAT_WS('-', a, b, 'end'),
       IF(n > 1, 'big', 'low')
FROM t;
