-- 'json.ignore-parse-errors' = 'true' means the 'skip' strategy: asking for another
-- strategy as well is refused before the job starts.
CREATE TABLE people (id INT, name STRING)
WITH (
  'connector' = 'filesystem', 'path' = 'people.json', 'format' = 'json',
  'json.ignore-parse-errors' = 'true',
  'weir.dirty-data.strategy' = 'dead-letter',
  'weir.dirty-data.dead-letter.path' = 'dead-letter'
);

SELECT id, name FROM people;
