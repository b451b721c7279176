-- The blackhole connector discards every row: the job succeeds and prints nothing.
CREATE TABLE people (id INT, name STRING)
WITH ('connector' = 'filesystem', 'path' = 'people.json', 'format' = 'json');

CREATE TABLE nowhere (id INT, name STRING) WITH ('connector' = 'blackhole');

INSERT INTO nowhere SELECT id, UPPER(name) FROM people;
