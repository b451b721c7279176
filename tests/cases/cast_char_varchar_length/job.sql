-- CAST to CHAR(n) pads with spaces to n characters and CAST to VARCHAR(n) truncates to n
-- characters (Flink 1.15+ cast semantics).
CREATE TABLE t (word STRING)
WITH ('connector' = 'filesystem', 'path' = 't.json', 'format' = 'json');

SELECT CONCAT('[', CAST(word AS CHAR(5)), ']'), CAST(word AS VARCHAR(3)),
       CHAR_LENGTH(CAST(word AS CHAR(5)))
FROM t;
