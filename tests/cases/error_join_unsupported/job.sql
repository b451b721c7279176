-- A JOIN is not supported yet: refused at the INSERT statement, naming joins.
CREATE TABLE people (id INT, name STRING)
WITH ('connector' = 'filesystem', 'path' = 'people.json', 'format' = 'json');

CREATE TABLE out (id INT, other STRING) WITH ('connector' = 'print');

INSERT INTO out
SELECT a.id, b.name FROM people AS a JOIN people AS b ON a.id = b.id;
