-- nexmark flat tables in one job: the 920 bids of 1000 events go to a blackhole; the 20
-- persons (events 50k) have ids 1000 + k and times base + 5k ms; the first person is the one
-- the nexmark crate documents (event 0: vicky noris, cheyenne, az).
CREATE TABLE bids (auction BIGINT, bidder BIGINT, price BIGINT, dateTime TIMESTAMP(3))
WITH (
  'connector' = 'nexmark',
  'weir.event-type' = 'bid',
  'events.num' = '1000',
  'weir.base-time' = '2024-01-01 00:00:00'
);

CREATE TABLE persons (id BIGINT, name STRING, city STRING, state STRING, dateTime TIMESTAMP(3))
WITH (
  'connector' = 'nexmark',
  'weir.event-type' = 'person',
  'events.num' = '1000',
  'weir.base-time' = '1704067200000'
);

CREATE TABLE bid_sink (auction BIGINT, bidder BIGINT, price BIGINT, dateTime TIMESTAMP(3))
WITH ('connector' = 'blackhole');

CREATE TABLE person_times (id BIGINT, dateTime TIMESTAMP(3)) WITH ('connector' = 'print');

CREATE TABLE first_person (id BIGINT, name STRING, city STRING, state STRING)
WITH ('connector' = 'print');

EXECUTE STATEMENT SET BEGIN
  INSERT INTO bid_sink SELECT * FROM bids;
  INSERT INTO person_times SELECT id, dateTime FROM persons;
  INSERT INTO first_person SELECT id, name, city, state FROM persons WHERE id = 1000;
END;
