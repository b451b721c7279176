-- CAST(TIMESTAMP_LTZ AS TIMESTAMP(3)) gives the wall-clock time in the session zone
-- (Asia/Shanghai, +08:00), for a declared LTZ column and for TO_TIMESTAMP_LTZ.
SET 'table.local-time-zone' = 'Asia/Shanghai';

CREATE TABLE t (ltz TIMESTAMP_LTZ(3), ms BIGINT)
WITH ('connector' = 'filesystem', 'path' = 't.json', 'format' = 'json');

SELECT CAST(ltz AS TIMESTAMP(3)), CAST(TO_TIMESTAMP_LTZ(ms, 3) AS TIMESTAMP(3)) FROM t;
