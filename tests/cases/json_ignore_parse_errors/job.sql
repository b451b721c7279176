-- 'json.ignore-parse-errors' = 'true' skips malformed lines (cut-off object,
-- not JSON) and keeps the good ones; a missing field is NULL, an unknown one is ignored.
-- Per Flink docs, a field that fails to convert becomes NULL and its row is kept; malformed records are skipped.
CREATE TABLE people (id INT, name STRING)
WITH (
  'connector' = 'filesystem', 'path' = 'people.json', 'format' = 'json',
  'json.ignore-parse-errors' = 'true'
);

SELECT id, name FROM people;
