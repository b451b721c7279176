-- INSERT INTO with a column list in another order than the table's: unlisted columns are
-- NULL (written as null in JSON), and INT goes into a BIGINT column.
CREATE TABLE people (id INT, name STRING, city STRING)
WITH ('connector' = 'filesystem', 'path' = 'people.json', 'format' = 'json');

CREATE TABLE out (id BIGINT, name STRING, note STRING, score DOUBLE)
WITH ('connector' = 'filesystem', 'path' = 'out', 'format' = 'json');

INSERT INTO out (name, id) SELECT name, id FROM people WHERE city = 'Oslo';
