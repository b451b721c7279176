-- WATERMARK FOR on a TIMESTAMP_LTZ(3) computed column (TO_TIMESTAMP_LTZ of epoch millis):
-- the watermark does not change the rows; LTZ values print as UTC instants.
CREATE TABLE clicks (
  user_name STRING,
  ms BIGINT,
  ts AS TO_TIMESTAMP_LTZ(ms, 3),
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'clicks.json', 'format' = 'json');

SELECT user_name, ts FROM clicks WHERE ms > 0;
