-- UNION ALL of a JSON table and a CSV table (same items kept twice) into a print sink.
CREATE TABLE web (id INT, item STRING)
WITH ('connector' = 'filesystem', 'path' = 'web.json', 'format' = 'json');

CREATE TABLE shop (id INT, item STRING)
WITH ('connector' = 'filesystem', 'path' = 'shop.csv', 'format' = 'csv');

CREATE TABLE out (channel STRING, id INT, item STRING) WITH ('connector' = 'print');

INSERT INTO out
SELECT 'web', id, item FROM web
UNION ALL
SELECT 'pos', id, item FROM shop WHERE id < 30;
