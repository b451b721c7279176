-- print connector with 'print-identifier' and 'sink.parallelism' = '1': every line starts with
-- "<identifier>> " whatever the job's parallelism; NULL prints as null.
CREATE TABLE people (id INT, name STRING)
WITH ('connector' = 'filesystem', 'path' = 'people.json', 'format' = 'json');

CREATE TABLE out (id INT, name STRING)
WITH ('connector' = 'print', 'print-identifier' = 'people', 'sink.parallelism' = '1');

INSERT INTO out SELECT id, name FROM people;
