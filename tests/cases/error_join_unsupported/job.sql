-- A join without an equality between its inputs cannot run on unbounded streams:
-- refused at the INSERT statement, naming the joins Weir runs.
CREATE TABLE people (id INT, name STRING)
WITH ('connector' = 'filesystem', 'path' = 'people.json', 'format' = 'json');

CREATE TABLE out (id INT, other STRING) WITH ('connector' = 'print');

INSERT INTO out
SELECT a.id, b.name FROM people AS a JOIN people AS b ON a.id < b.id;
