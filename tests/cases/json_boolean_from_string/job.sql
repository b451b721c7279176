-- The json format reads a BOOLEAN field given as a JSON string ("true", "FALSE") with
-- Boolean.parseBoolean, as Flink's JsonToRowDataConverters does.
CREATE TABLE t (id INT, b BOOLEAN)
WITH ('connector' = 'filesystem', 'path' = 't.json', 'format' = 'json');

SELECT id, b FROM t;
