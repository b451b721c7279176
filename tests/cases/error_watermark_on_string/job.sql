-- WATERMARK FOR a STRING column is refused at the WATERMARK clause: the event-time column
-- must be a TIMESTAMP(p) or TIMESTAMP_LTZ(p).
CREATE TABLE people (
  id INT,
  name STRING,
  WATERMARK FOR name AS name
) WITH ('connector' = 'filesystem', 'path' = 'people.json', 'format' = 'json');

SELECT id FROM people;
