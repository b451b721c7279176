-- datagen: a BIGINT sequence 1..6 bounds the source (split over subtasks, same union at any
-- parallelism); a random INT with min = max is constant; a random STRING has its length.
CREATE TABLE gen (
  id BIGINT,
  k INT,
  word STRING,
  total AS id * 10
) WITH (
  'connector' = 'datagen',
  'fields.id.kind' = 'sequence',
  'fields.id.start' = '1',
  'fields.id.end' = '6',
  'fields.k.min' = '7',
  'fields.k.max' = '7',
  'fields.word.length' = '4'
);

SELECT id, total, k, CHAR_LENGTH(word) FROM gen;
