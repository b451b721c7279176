-- Two unaliased CASTs of the same column in one SELECT: Flink names them EXPR$0, EXPR$1 and
-- runs the query.
CREATE TABLE t (n INT)
WITH ('connector' = 'filesystem', 'path' = 't.json', 'format' = 'json');

SELECT CAST(n AS STRING), CAST(n AS BIGINT) FROM t;
