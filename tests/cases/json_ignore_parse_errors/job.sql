-- 'json.ignore-parse-errors' = 'true' skips malformed lines (cut-off object, wrong type,
-- not JSON) and keeps the good ones; a missing field is NULL, an unknown one is ignored.
CREATE TABLE people (id INT, name STRING)
WITH (
  'connector' = 'filesystem', 'path' = 'people.json', 'format' = 'json',
  'json.ignore-parse-errors' = 'true'
);

SELECT id, name FROM people;
