-- CREATE VIEW, CREATE TEMPORARY VIEW with a column list defined on the first view (a view on
-- a view), and an INSERT reading the second view.
CREATE TABLE products (id INT, name STRING, price DOUBLE)
WITH ('connector' = 'filesystem', 'path' = 'products.json', 'format' = 'json');

CREATE TABLE out (product_id INT, label STRING) WITH ('connector' = 'print');

CREATE VIEW expensive AS
SELECT id, name, price FROM products WHERE price >= 10;

CREATE TEMPORARY VIEW expensive_labels (product_id, label) AS
SELECT id, CONCAT(UPPER(name), ':', CAST(id * 100 AS STRING)) FROM expensive WHERE id <> 3;

INSERT INTO out SELECT product_id, label FROM expensive_labels;
