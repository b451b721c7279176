-- FOR SYSTEM_TIME AS OF a column that is not a time attribute of the left input.
CREATE TABLE people (id INT, name STRING, ts TIMESTAMP(3), WATERMARK FOR ts AS ts)
WITH ('connector' = 'filesystem', 'path' = 'people.json', 'format' = 'json');

CREATE TABLE out (id INT, other STRING) WITH ('connector' = 'print');

INSERT INTO out
SELECT a.id, b.name FROM people AS a
JOIN people FOR SYSTEM_TIME AS OF a.id AS b ON a.id = b.id;
