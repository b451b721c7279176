-- A filesystem table without the required 'path' option is reported at its CREATE TABLE.
CREATE TABLE src (id INT) WITH ('connector' = 'filesystem', 'format' = 'json');

SELECT id FROM src;
