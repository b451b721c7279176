-- State retention of regular joins: `table.exec.state.ttl` drops join rows not written for
-- a second; the STATE_TTL hint keeps the left side (alias ll) for an hour instead.
SET 'table.exec.state.ttl' = '1 s';

CREATE TABLE l (k INT, a STRING)
WITH ('connector' = 'filesystem', 'path' = 'l.json', 'format' = 'json');

CREATE TABLE r (k INT, b STRING)
WITH ('connector' = 'filesystem', 'path' = 'r.json', 'format' = 'json');

SELECT l.k, a, b FROM l JOIN r ON l.k = r.k;

SELECT /*+ STATE_TTL('ll' = '1 h') */ ll.k, a, b FROM l AS ll JOIN r AS rr ON ll.k = rr.k;
