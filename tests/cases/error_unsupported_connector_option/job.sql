-- A misspelt connector option ('print-identifer') is refused at the sink's CREATE TABLE,
-- listing the options the connector supports.
CREATE TABLE people (id INT, name STRING)
WITH ('connector' = 'filesystem', 'path' = 'people.json', 'format' = 'json');

CREATE TABLE out (id INT) WITH ('connector' = 'print', 'print-identifer' = 'x');

INSERT INTO out SELECT id FROM people;
