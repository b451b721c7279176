-- datagen 'number-of-rows' bounds a source of random fields (split over subtasks, exact in
-- total); min = max makes INT and DOUBLE values constant; 'rows-per-second' is accepted.
CREATE TABLE gen (k INT, v DOUBLE)
WITH (
  'connector' = 'datagen',
  'number-of-rows' = '5',
  'rows-per-second' = '100',
  'fields.k.min' = '3', 'fields.k.max' = '3',
  'fields.v.min' = '2.5', 'fields.v.max' = '2.5'
);

SELECT k, v FROM gen;
