-- 'weir.dirty-data.strategy' = 'dead-letter': the two malformed lines of the files are
-- written, with their file, line and reason, to JSON lines under 'dead-letter' (under weir
-- test, in the run's temporary folder), and every good line is read as usual.
CREATE TABLE people (id INT, name STRING)
WITH (
  'connector' = 'filesystem', 'path' = 'in', 'format' = 'json',
  'weir.dirty-data.strategy' = 'dead-letter',
  'weir.dirty-data.dead-letter.path' = 'dead-letter'
);

SELECT id, name FROM people;
