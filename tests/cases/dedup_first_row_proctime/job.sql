-- First-row deduplication on processing time is append-only (a key's first row never
-- changes), so it can go to a plain json file.
CREATE TABLE clicks (`user` STRING, page STRING, pt AS PROCTIME())
WITH ('connector' = 'filesystem', 'path' = 'clicks.json', 'format' = 'json');

CREATE TABLE first_pages (`user` STRING, page STRING)
WITH ('connector' = 'filesystem', 'path' = 'first_pages', 'format' = 'json');

INSERT INTO first_pages
SELECT `user`, page
FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY `user` ORDER BY pt ASC) AS rn FROM clicks)
WHERE rn = 1;
