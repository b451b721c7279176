-- datagen sequences of equal length over SMALLINT, DOUBLE, DECIMAL(6, 2) and STRING columns:
-- row k holds start + k in each column.
CREATE TABLE gen (
  s SMALLINT,
  d DOUBLE,
  m DECIMAL(6, 2),
  t STRING
) WITH (
  'connector' = 'datagen',
  'fields.s.kind' = 'sequence', 'fields.s.start' = '10', 'fields.s.end' = '12',
  'fields.d.kind' = 'sequence', 'fields.d.start' = '1', 'fields.d.end' = '3',
  'fields.m.kind' = 'sequence', 'fields.m.start' = '5', 'fields.m.end' = '7',
  'fields.t.kind' = 'sequence', 'fields.t.start' = '100', 'fields.t.end' = '102'
);

SELECT s, d, m, t FROM gen;
