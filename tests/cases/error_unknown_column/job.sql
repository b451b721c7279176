-- A misspelt column in SELECT is reported at the column, with its name.
CREATE TABLE people (id INT, name STRING)
WITH ('connector' = 'filesystem', 'path' = 'people.json', 'format' = 'json');

SELECT id, nmae FROM people;
