-- The exact changelog of outer joins (Flink's row kinds): a padded row is emitted, retracted
-- (-D) when the first match arrives and emitted again when the last match is retracted; an
-- inner join of an updating input passes its -U/+U on.
CREATE TABLE statuses (code STRING, label STRING)
WITH ('connector' = 'filesystem', 'path' = 'statuses.json', 'format' = 'json');

CREATE TABLE events (oid INT, status STRING, ts TIMESTAMP(3))
WITH ('connector' = 'filesystem', 'path' = 'events.json', 'format' = 'json');

CREATE VIEW latest AS
SELECT oid, status FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY oid ORDER BY ts DESC) AS rn FROM events
) WHERE rn = 1;

SELECT s.code, l.oid FROM statuses s LEFT JOIN latest l ON s.code = l.status;

SELECT l.oid, s.code FROM latest l JOIN statuses s ON l.status = s.code;

SELECT s.code, l.oid FROM latest l RIGHT JOIN statuses s ON l.status = s.code;
