-- A filesystem source over a folder (nested folder included, '_' and '.' files skipped) with
-- VIRTUAL metadata columns file.name and file.size, and a computed column over metadata.
CREATE TABLE items (
  id INT,
  fname STRING METADATA FROM 'file.name' VIRTUAL,
  fsize BIGINT METADATA FROM 'file.size' VIRTUAL,
  stem AS SPLIT_INDEX(fname, '.', 0)
) WITH ('connector' = 'filesystem', 'path' = 'data', 'format' = 'json');

SELECT id, fname, fsize, stem FROM items;
