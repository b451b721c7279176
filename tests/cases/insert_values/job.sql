-- INSERT INTO ... VALUES with several rows and NULLs into a CSV folder (NULL is an empty field).
CREATE TABLE out (id INT, word STRING, flag BOOLEAN)
WITH ('connector' = 'filesystem', 'path' = 'out', 'format' = 'csv');

INSERT INTO out VALUES (1, 'one', TRUE), (2, 'two', FALSE), (3, CAST(NULL AS STRING), CAST(NULL AS BOOLEAN));
