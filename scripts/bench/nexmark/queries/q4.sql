-- Nexmark q4: average closing price per category — a regular join of auctions and
-- their bids during the auction, the highest bid per auction (an updating
-- aggregation), averaged per category over the updates.
CREATE TABLE nexmark_q4 (id BIGINT, final BIGINT)
WITH ('connector' = 'blackhole');

INSERT INTO nexmark_q4
SELECT Q.category, AVG(Q.final)
FROM (
    SELECT MAX(B.price) AS final, A.category
    FROM auction A, bid B
    WHERE A.id = B.auction AND B.`dateTime` BETWEEN A.`dateTime` AND A.expires
    GROUP BY A.id, A.category
) Q
GROUP BY Q.category;
