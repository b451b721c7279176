-- PRIMARY KEY ... NOT ENFORCED, as a column constraint on the source and a table constraint
-- on the CSV sink: it is not checked, so duplicate keys pass through unchanged.
CREATE TABLE products (
  id INT PRIMARY KEY NOT ENFORCED,
  name STRING
) WITH ('connector' = 'filesystem', 'path' = 'products.json', 'format' = 'json');

CREATE TABLE out (
  id INT,
  name STRING,
  PRIMARY KEY (id) NOT ENFORCED
) WITH ('connector' = 'filesystem', 'path' = 'out', 'format' = 'csv');

INSERT INTO out SELECT id, name FROM products;
