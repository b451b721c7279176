-- FLOOR and CEIL of a DECIMAL(5, 3) return DECIMAL(5, 0) (Calcite's ARG0_OR_EXACT_NO_SCALE),
-- printed without fraction digits.
CREATE TABLE t (d DECIMAL(5, 3))
WITH ('connector' = 'filesystem', 'path' = 't.json', 'format' = 'json');

SELECT FLOOR(d), CEIL(d) FROM t;
