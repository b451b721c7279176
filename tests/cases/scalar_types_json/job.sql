-- BOOLEAN, TINYINT, SMALLINT, INT, BIGINT (their extremes), FLOAT, DOUBLE and DECIMAL(10, 3)
-- read from JSON, printed (DECIMAL keeps its scale: 0.500) and written back as JSON numbers.
CREATE TABLE t (
  ok BOOLEAN, ti TINYINT, si SMALLINT, i INT, bi BIGINT, f FLOAT, d DOUBLE, m DECIMAL(10, 3)
) WITH ('connector' = 'filesystem', 'path' = 't.json', 'format' = 'json');

CREATE TABLE out (
  ok BOOLEAN, ti TINYINT, si SMALLINT, i INT, bi BIGINT, f FLOAT, d DOUBLE, m DECIMAL(10, 3)
) WITH ('connector' = 'filesystem', 'path' = 'out', 'format' = 'json');

INSERT INTO out SELECT * FROM t;

SELECT * FROM t;
