-- A filesystem source whose path does not exist is reported at its CREATE TABLE, with the path.
CREATE TABLE people (id INT, name STRING)
WITH ('connector' = 'filesystem', 'path' = 'missing.json', 'format' = 'json');

SELECT id FROM people;
