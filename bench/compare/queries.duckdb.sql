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
