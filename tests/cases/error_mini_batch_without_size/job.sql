SET 'table.exec.mini-batch.enabled' = 'true';
SET 'table.exec.mini-batch.allow-latency' = '2 s';
CREATE TABLE t (k STRING) WITH ('connector' = 'datagen', 'number-of-rows' = '10');
SELECT k, COUNT(*) FROM t GROUP BY k;
