-- ORDER BY on a stream is refused at the statement, naming ORDER BY.
CREATE TABLE people (id INT, name STRING)
WITH ('connector' = 'filesystem', 'path' = 'people.json', 'format' = 'json');

SELECT id, name FROM people ORDER BY name;
