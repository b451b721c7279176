-- 'json.fail-on-missing-field' = 'true': a line without the 'name' field (line 3) fails the
-- job; an explicit null (line 2) is fine.
CREATE TABLE people (id INT, name STRING)
WITH (
  'connector' = 'filesystem', 'path' = 'people.json', 'format' = 'json',
  'json.fail-on-missing-field' = 'true'
);

SELECT id, name FROM people;
