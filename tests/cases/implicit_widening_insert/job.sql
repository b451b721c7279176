-- INSERT converts implicitly where Flink widens: TINYINT to SMALLINT, SMALLINT to INT, INT to
-- BIGINT, FLOAT to DOUBLE, INT to DECIMAL(12, 2).
CREATE TABLE t (tiny TINYINT, small SMALLINT, i INT, f FLOAT, j INT)
WITH ('connector' = 'filesystem', 'path' = 't.json', 'format' = 'json');

CREATE TABLE out (a SMALLINT, b INT, c BIGINT, d DOUBLE, e DECIMAL(12, 2))
WITH ('connector' = 'filesystem', 'path' = 'out', 'format' = 'json');

INSERT INTO out SELECT tiny, small, i, f, j FROM t;
