-- A malformed JSON line fails the job; the error names the file and the line (2) and how to
-- skip such lines.
CREATE TABLE people (id INT, name STRING)
WITH ('connector' = 'filesystem', 'path' = 'people.json', 'format' = 'json');

SELECT id, name FROM people;
