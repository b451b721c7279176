-- A syntax error (unclosed parenthesis) is reported where the parser stops: at FROM.
CREATE TABLE people (id INT, name STRING)
WITH ('connector' = 'filesystem', 'path' = 'people.json', 'format' = 'json');

SELECT (id + 1 FROM people;
