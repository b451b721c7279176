-- A temporal (or lookup) join, FOR SYSTEM_TIME AS OF, is not supported yet: refused at
-- the versioned table, naming the joins Weir runs.
CREATE TABLE people (id INT, name STRING, ts TIMESTAMP(3), WATERMARK FOR ts AS ts)
WITH ('connector' = 'filesystem', 'path' = 'people.json', 'format' = 'json');

CREATE TABLE out (id INT, other STRING) WITH ('connector' = 'print');

INSERT INTO out
SELECT a.id, b.name FROM people AS a
JOIN people FOR SYSTEM_TIME AS OF a.ts AS b ON a.id = b.id;
