-- INSERT INTO a table that was never declared is refused at the table name.
CREATE TABLE people (id INT, name STRING)
WITH ('connector' = 'filesystem', 'path' = 'people.json', 'format' = 'json');

INSERT INTO nowhere SELECT id, name FROM people;
