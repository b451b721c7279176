-- FOR SYSTEM_TIME AS OF outside a join: refused at the table, saying where it belongs.
CREATE TABLE people (id INT, name STRING, ts TIMESTAMP(3), WATERMARK FOR ts AS ts)
WITH ('connector' = 'filesystem', 'path' = 'people.json', 'format' = 'json');

CREATE TABLE out (id INT, name STRING) WITH ('connector' = 'print');

INSERT INTO out
SELECT id, name FROM people FOR SYSTEM_TIME AS OF TIMESTAMP '2026-01-01 00:00:00';
