-- INSERT of a STRING into an INT column (no implicit cast) is refused at the table name,
-- naming the column and both types.
CREATE TABLE people (id INT, name STRING)
WITH ('connector' = 'filesystem', 'path' = 'people.json', 'format' = 'json');

CREATE TABLE out (id INT, name STRING) WITH ('connector' = 'print');

INSERT INTO out SELECT name, id FROM people;
