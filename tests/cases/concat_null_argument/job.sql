-- CONCAT returns NULL when any argument is NULL (unlike CONCAT_WS, which skips NULLs).
CREATE TABLE t (a STRING, b STRING)
WITH ('connector' = 'filesystem', 'path' = 't.json', 'format' = 'json');

SELECT CONCAT(a, '-', b), CONCAT_WS('-', a, b) FROM t;
