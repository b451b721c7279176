-- Element access on nested types: ARRAY index (1-based, NULL out of range), MAP lookup (NULL
-- for a missing key), ROW field (NULL when the row is NULL) and CARDINALITY.
CREATE TABLE t (id INT, tags ARRAY<STRING>, attrs MAP<STRING, INT>, pos ROW<x DOUBLE, y INT>)
WITH ('connector' = 'filesystem', 'path' = 't.json', 'format' = 'json');

SELECT id, tags[1], attrs['k'], pos.y, CARDINALITY(tags) FROM t;
