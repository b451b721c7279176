-- nexmark flat layout ('weir.event-type' = 'auction'): of 100 events, the auctions are events
-- 1, 2, 3, 51, 52, 53, with ids 1000..1005 and times base + 0 ms / 5 ms; category is in
-- 10..14, expires is after dateTime and reserve is at least initialBid.
CREATE TABLE auctions (
  id BIGINT,
  initialBid BIGINT,
  reserve BIGINT,
  dateTime TIMESTAMP(3),
  expires TIMESTAMP(3),
  category BIGINT
) WITH (
  'connector' = 'nexmark',
  'weir.event-type' = 'auction',
  'events.num' = '100',
  'weir.base-time' = '2024-01-01 00:00:00'
);

SELECT id, dateTime, category BETWEEN 10 AND 14, expires > dateTime, reserve >= initialBid
FROM auctions;
