-- The query set for DuckDB. run.sh fills in the {placeholders}; sqlbench.mjs
-- runs each block (from one "-- @Qn" line to the next). Every query returns
-- a column k and one value column per metric of queries.tsagg (v, then u), in
-- the order the comparison expects: bucket start as RFC 3339 UTC (or the
-- group key), then integers (counts; sums in cents).
-- Timestamps are TIMESTAMP (UTC, microseconds); buckets are UTC.

-- @Q0 all events, all merchants, whole range: checks that duplicates were
-- dropped alike everywhere (compared, not shown in the table)
SELECT '{start_iso}' AS k, count(*) AS v
FROM events
WHERE ts >= make_timestamp({start_us}) AND ts < make_timestamp({end_us});

-- @Q1 hourly page views, largest merchant, whole range
SELECT strftime(date_trunc('hour', ts), '%Y-%m-%dT%H:%M:%SZ') AS k, count(*) AS v
FROM events
WHERE merchant = {big} AND ts >= make_timestamp({start_us}) AND ts < make_timestamp({end_us})
  AND event = 'page_view'
GROUP BY k ORDER BY k;

-- @Q2 daily unique users (exact), mid-size merchant, whole range
SELECT strftime(date_trunc('day', ts), '%Y-%m-%dT%H:%M:%SZ') AS k, count(DISTINCT "user") AS v
FROM events
WHERE merchant = {mid} AND ts >= make_timestamp({start_us}) AND ts < make_timestamp({end_us})
GROUP BY k ORDER BY k;

-- @Q2a daily unique users (approximate: HyperLogLog), mid-size merchant
SELECT strftime(date_trunc('day', ts), '%Y-%m-%dT%H:%M:%SZ') AS k, approx_count_distinct("user") AS v
FROM events
WHERE merchant = {mid} AND ts >= make_timestamp({start_us}) AND ts < make_timestamp({end_us})
GROUP BY k ORDER BY k;

-- @Q3 top-10 pages over the last 7 days, country = US, largest merchant
SELECT page AS k, count(*) AS v
FROM events
WHERE merchant = {big} AND ts >= make_timestamp({week_us}) AND ts < make_timestamp({end_us})
  AND country = 'US'
GROUP BY k ORDER BY v DESC, k LIMIT 10;

-- @Q4 minute buckets over the last 2 hours, largest merchant
SELECT strftime(date_trunc('minute', ts), '%Y-%m-%dT%H:%M:%SZ') AS k, count(*) AS v
FROM events
WHERE merchant = {big} AND ts >= make_timestamp({hours2_us}) AND ts < make_timestamp({end_us})
GROUP BY k ORDER BY k;

-- @Q5 daily revenue (sum of value of purchases, in cents), largest merchant
SELECT strftime(date_trunc('day', ts), '%Y-%m-%dT%H:%M:%SZ') AS k,
       CAST(round(sum(value) * 100) AS BIGINT) AS v
FROM events
WHERE merchant = {big} AND ts >= make_timestamp({start_us}) AND ts < make_timestamp({end_us})
  AND event = 'purchase'
GROUP BY k ORDER BY k;

-- @Q6 hourly count, device = mobile and country = US, largest merchant
SELECT strftime(date_trunc('hour', ts), '%Y-%m-%dT%H:%M:%SZ') AS k, count(*) AS v
FROM events
WHERE merchant = {big} AND ts >= make_timestamp({start_us}) AND ts < make_timestamp({end_us})
  AND device = 'mobile' AND country = 'US'
GROUP BY k ORDER BY k;

-- @Q7 one day, events by name, all merchants
SELECT event AS k, count(*) AS v
FROM events
WHERE ts >= make_timestamp({day_us}) AND ts < make_timestamp({day_end_us})
GROUP BY k ORDER BY v DESC, k;

-- @Q9 a year by month, events and unique users (exact), rank-20 merchant
SELECT strftime(date_trunc('month', ts), '%Y-%m-%dT%H:%M:%SZ') AS k, count(*) AS v,
       count(DISTINCT "user") AS u
FROM events
WHERE merchant = {r20} AND ts >= make_timestamp({year_us}) AND ts < make_timestamp({end_us})
GROUP BY k ORDER BY k;

-- @Q10 a year of daily revenue (sum of value of purchases, in cents), rank-20 merchant
SELECT strftime(date_trunc('day', ts), '%Y-%m-%dT%H:%M:%SZ') AS k,
       CAST(round(sum(value) * 100) AS BIGINT) AS v
FROM events
WHERE merchant = {r20} AND ts >= make_timestamp({year_us}) AND ts < make_timestamp({end_us})
  AND event = 'purchase'
GROUP BY k ORDER BY k;

-- @Q11 top-10 pages over the last quarter (90 days), rank-20 merchant
SELECT page AS k, count(*) AS v
FROM events
WHERE merchant = {r20} AND ts >= make_timestamp({quarter_us}) AND ts < make_timestamp({end_us})
GROUP BY k ORDER BY v DESC, k LIMIT 10;

-- The visit questions. A visit: an event of a session with no event of that
-- session in the 24 hours before it starts one, and the visit is the
-- session's events from that start to 24 hours later (later events with no
-- 24-hour gap belong to no visit); events in a session are ordered by
-- (ts, id). A visit counts in the bucket of its start, so the rows read are
-- those of [from - 24 h, to + 24 h): the lookback decides which events
-- start a visit, the lookahead holds the ends of the last visits. t is ts
-- in microseconds; start is the latest start at or before each event.

-- @Q12 a year of daily visits, bounce rate (%), visit duration (s) and pages per visit, largest merchant
WITH ev AS (
    SELECT session, epoch_us(ts) AS t, event = 'page_view' AS pv,
           lag(epoch_us(ts)) OVER (PARTITION BY session ORDER BY ts, id) AS prev,
           row_number() OVER (PARTITION BY session ORDER BY ts, id) AS i
    FROM events
    WHERE merchant = {big} AND ts >= make_timestamp({year_us} - 86400000000)
      AND ts < make_timestamp({end_us} + 86400000000)
), marked AS (
    SELECT *, max(CASE WHEN prev IS NULL OR t - prev >= 86400000000 THEN t END)
                  OVER (PARTITION BY session ORDER BY i ROWS UNBOUNDED PRECEDING) AS start
    FROM ev
), visits AS (
    SELECT start, count(*) AS n, count(*) FILTER (WHERE pv) AS pvs, max(t) - start AS dur
    FROM marked
    WHERE t < start + 86400000000 AND start >= {year_us} AND start < {end_us}
    GROUP BY session, start
)
SELECT strftime(date_trunc('day', make_timestamp(start)), '%Y-%m-%dT%H:%M:%SZ') AS k, count(*) AS v,
       100.0 * count(*) FILTER (WHERE n = 1 AND pvs = 1) / count(*) AS b,
       avg(dur) / 1e6 AS d, sum(pvs) / count(*) AS p
FROM visits
GROUP BY k ORDER BY k;

-- @Q13 top-10 entry pages (page of a visit's first page_view) over the last 30 days, largest merchant
WITH ev AS (
    SELECT session, epoch_us(ts) AS t, event = 'page_view' AS pv, page,
           lag(epoch_us(ts)) OVER (PARTITION BY session ORDER BY ts, id) AS prev,
           row_number() OVER (PARTITION BY session ORDER BY ts, id) AS i
    FROM events
    WHERE merchant = {big} AND ts >= make_timestamp({month_us} - 86400000000)
      AND ts < make_timestamp({end_us} + 86400000000)
), marked AS (
    SELECT *, max(CASE WHEN prev IS NULL OR t - prev >= 86400000000 THEN t END)
                  OVER (PARTITION BY session ORDER BY i ROWS UNBOUNDED PRECEDING) AS start
    FROM ev
), visits AS (
    SELECT coalesce(arg_min(page, i) FILTER (WHERE pv), '') AS entry
    FROM marked
    WHERE t < start + 86400000000 AND start >= {month_us} AND start < {end_us}
    GROUP BY session, start
)
SELECT entry AS k, count(*) AS v
FROM visits
GROUP BY k ORDER BY v DESC, k LIMIT 10;

-- @Q14 a year by month, unique users, new (first event of the merchant in that month) and returning, largest merchant
WITH firsts AS (
    SELECT "user", date_trunc('month', min(ts)) AS fm
    FROM events
    WHERE merchant = {big} AND ts < make_timestamp({end_us})
    GROUP BY "user"
), active AS (
    SELECT DISTINCT date_trunc('month', ts) AS m, "user"
    FROM events
    WHERE merchant = {big} AND ts >= make_timestamp({year_us}) AND ts < make_timestamp({end_us})
)
SELECT strftime(m, '%Y-%m-%dT%H:%M:%SZ') AS k, count(*) AS v,
       count(*) FILTER (WHERE fm = m) AS nw, count(*) FILTER (WHERE fm < m) AS r
FROM active JOIN firsts USING ("user")
GROUP BY k ORDER BY k;
