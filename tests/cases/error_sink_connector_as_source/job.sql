-- A sink-only connector used as a source is refused at the table, naming the connector.
CREATE TABLE out (id INT) WITH ('connector' = 'print');

CREATE TABLE copy (id INT) WITH ('connector' = 'blackhole');

INSERT INTO copy SELECT id FROM out;
