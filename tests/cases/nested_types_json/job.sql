-- ARRAY<STRING>, MAP<STRING, INT> and ROW<x DOUBLE, y INT> read from JSON (empty, NULL and
-- NULL elements included), printed ([a, b], {k=1}, +I[...]) and written back as JSON.
CREATE TABLE t (id INT, tags ARRAY<STRING>, attrs MAP<STRING, INT>, pos ROW<x DOUBLE, y INT>)
WITH ('connector' = 'filesystem', 'path' = 't.json', 'format' = 'json');

CREATE TABLE out (id INT, tags ARRAY<STRING>, attrs MAP<STRING, INT>, pos ROW<x DOUBLE, y INT>)
WITH ('connector' = 'filesystem', 'path' = 'out', 'format' = 'json');

INSERT INTO out SELECT * FROM t;

SELECT * FROM t;
