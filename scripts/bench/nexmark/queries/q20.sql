-- Nexmark q20: expanded bids of category 10 — every bid with its auction's details; a
-- regular join of bids and auctions on auction = id.
CREATE TABLE nexmark_q20 (
    auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING,
    `dateTime` TIMESTAMP(3), extra STRING, itemName STRING, description STRING,
    initialBid BIGINT, reserve BIGINT, dateTime0 TIMESTAMP(3), expires TIMESTAMP(3),
    seller BIGINT, category BIGINT, extra0 STRING
) WITH ('connector' = 'blackhole');

INSERT INTO nexmark_q20
SELECT auction, bidder, price, channel, url, B.`dateTime`, B.extra,
       itemName, description, initialBid, reserve, A.`dateTime`, expires, seller, category,
       A.extra
FROM bid AS B INNER JOIN auction AS A ON B.auction = A.id
WHERE A.category = 10;
