-- 'json.timestamp-format.standard' = 'ISO-8601' for reading and writing TIMESTAMP(3) and
-- TIMESTAMP_LTZ(3) ('T' separator, LTZ with 'Z'), next to a sink with the default SQL standard
-- (space separator); fractions have as many digits as needed.
CREATE TABLE events (id INT, ts TIMESTAMP(3), ltz TIMESTAMP_LTZ(3))
WITH (
  'connector' = 'filesystem', 'path' = 'events.json', 'format' = 'json',
  'json.timestamp-format.standard' = 'ISO-8601'
);

CREATE TABLE iso_out (id INT, ts TIMESTAMP(3), ltz TIMESTAMP_LTZ(3))
WITH (
  'connector' = 'filesystem', 'path' = 'iso_out', 'format' = 'json',
  'json.timestamp-format.standard' = 'ISO-8601'
);

CREATE TABLE sql_out (id INT, ts TIMESTAMP(3), ltz TIMESTAMP_LTZ(3))
WITH ('connector' = 'filesystem', 'path' = 'sql_out', 'format' = 'json');

INSERT INTO iso_out SELECT * FROM events;

INSERT INTO sql_out SELECT * FROM events;
