-- An event-time temporal join needs a versioned table: one with a PRIMARY KEY (and a
-- WATERMARK). people has no primary key: refused at the versioned table.
CREATE TABLE people (id INT, name STRING, ts TIMESTAMP(3), WATERMARK FOR ts AS ts)
WITH ('connector' = 'filesystem', 'path' = 'people.json', 'format' = 'json');

CREATE TABLE out (id INT, other STRING) WITH ('connector' = 'print');

INSERT INTO out
SELECT a.id, b.name FROM people AS a
JOIN people FOR SYSTEM_TIME AS OF a.ts AS b ON a.id = b.id;
