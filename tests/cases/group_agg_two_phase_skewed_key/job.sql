-- A heavily skewed key (90% of the rows): the same aggregation with one phase and with
-- two (a LocalAggregate pre-aggregates each batch before the hash exchange). Both must
-- give the same final table. The expected table was computed by the script that
-- generated the input (generate.py).
SET 'table.exec.mini-batch.enabled' = 'true';
SET 'table.exec.mini-batch.allow-latency' = '100 ms';
SET 'table.exec.mini-batch.size' = '500';

CREATE TABLE events (id INT, k STRING, v INT, u STRING)
WITH ('connector' = 'filesystem', 'path' = 'events', 'format' = 'json');

SET 'table.optimizer.agg-phase-strategy' = 'ONE_PHASE';
SELECT 'one', k, COUNT(*), SUM(v), MIN(v), MAX(v), COUNT(DISTINCT u) FROM events GROUP BY k;

SET 'table.optimizer.agg-phase-strategy' = 'TWO_PHASE';
SELECT 'two', k, COUNT(*), SUM(v), MIN(v), MAX(v), COUNT(DISTINCT u) FROM events GROUP BY k;
