-- DATE, TIME, TIMESTAMP(3) and TIMESTAMP_LTZ(3) read from JSON (SQL standard), printed in
-- Java's toString forms (LocalTime/LocalDateTime drop zero seconds, Instant keeps them) and
-- written back as JSON (seconds always, fraction as short as possible).
CREATE TABLE t (id INT, d DATE, t TIME, ts TIMESTAMP(3), ltz TIMESTAMP_LTZ(3))
WITH ('connector' = 'filesystem', 'path' = 't.json', 'format' = 'json');

CREATE TABLE out (id INT, d DATE, t TIME, ts TIMESTAMP(3), ltz TIMESTAMP_LTZ(3))
WITH ('connector' = 'filesystem', 'path' = 'out', 'format' = 'json');

INSERT INTO out SELECT * FROM t;

SELECT * FROM t;
