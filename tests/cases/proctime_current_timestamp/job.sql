-- PROCTIME() as a computed column and CURRENT_TIMESTAMP are wall-clock values: only checked
-- to be NOT NULL (and of the right type for a TIMESTAMP_LTZ(3) comparison).
CREATE TABLE t (id INT, pt AS PROCTIME())
WITH ('connector' = 'filesystem', 'path' = 't.json', 'format' = 'json');

SELECT id, pt IS NOT NULL, CURRENT_TIMESTAMP IS NOT NULL, pt > TO_TIMESTAMP_LTZ(0, 3)
FROM t;
