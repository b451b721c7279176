-- nexmark, nested layout, 60 events from a fixed base time: event n is a person when
-- n % 50 = 0, an auction when n % 50 is 1..3, else a bid; ids count up from 1000 per kind;
-- event time = base + round(n * 0.1 ms). So: 2 persons, 6 auctions, 52 bids.
CREATE TABLE nexmark (
  event_type INT,
  person ROW<id BIGINT, name STRING, dateTime TIMESTAMP(3)>,
  auction ROW<id BIGINT, dateTime TIMESTAMP(3)>,
  bid ROW<price BIGINT, dateTime TIMESTAMP(3)>
) WITH (
  'connector' = 'nexmark',
  'events.num' = '60',
  'weir.base-time' = '2024-01-01 00:00:00'
);

SELECT event_type, person.id, person.dateTime FROM nexmark WHERE event_type = 0;

SELECT event_type, auction.id, auction.dateTime FROM nexmark WHERE event_type = 1;

SELECT event_type, bid.price IS NOT NULL, person IS NULL AND auction IS NULL
FROM nexmark WHERE event_type = 2;
