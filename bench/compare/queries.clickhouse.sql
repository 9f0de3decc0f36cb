-- The query set for ClickHouse 18.16. run.sh fills in the {placeholders};
-- sqlbench.mjs runs each block (from one "-- @Qn" line to the next) over the
-- HTTP interface. Every query returns a column k and one value column per
-- metric of queries.tsagg (v, then u), in the order the comparison expects:
-- bucket start as RFC 3339 UTC (or the group key), then integers (counts;
-- sums in cents). ts is Int64 microseconds since the epoch (DateTime has
-- whole seconds only in this version); buckets are UTC, computed with intDiv
-- (months with toStartOfMonth).

-- @Q0 all events, all merchants, whole range: checks that duplicates were
-- dropped alike everywhere (compared, not shown in the table)
SELECT '{start_iso}' AS k, count() AS v
FROM events
WHERE ts >= {start_us} AND ts < {end_us};

-- @Q1 hourly page views, largest merchant, whole range
SELECT formatDateTime(toDateTime(intDiv(ts, 3600000000) * 3600, 'UTC'), '%Y-%m-%dT%H:%M:%SZ', 'UTC') AS k,
       count() AS v
FROM events
WHERE merchant = {big} AND ts >= {start_us} AND ts < {end_us} AND event = 'page_view'
GROUP BY k ORDER BY k;

-- @Q2 daily unique users (exact), mid-size merchant, whole range
SELECT formatDateTime(toDateTime(intDiv(ts, 86400000000) * 86400, 'UTC'), '%Y-%m-%dT%H:%M:%SZ', 'UTC') AS k,
       uniqExact(user) AS v
FROM events
WHERE merchant = {mid} AND ts >= {start_us} AND ts < {end_us}
GROUP BY k ORDER BY k;

-- @Q2a daily unique users (approximate: uniq, adaptive sampling), mid-size merchant
SELECT formatDateTime(toDateTime(intDiv(ts, 86400000000) * 86400, 'UTC'), '%Y-%m-%dT%H:%M:%SZ', 'UTC') AS k,
       uniq(user) AS v
FROM events
WHERE merchant = {mid} AND ts >= {start_us} AND ts < {end_us}
GROUP BY k ORDER BY k;

-- @Q3 top-10 pages over the last 7 days, country = US, largest merchant
SELECT toString(page) AS k, count() AS v
FROM events
WHERE merchant = {big} AND ts >= {week_us} AND ts < {end_us} AND country = 'US'
GROUP BY k ORDER BY v DESC, k LIMIT 10;

-- @Q4 minute buckets over the last 2 hours, largest merchant
SELECT formatDateTime(toDateTime(intDiv(ts, 60000000) * 60, 'UTC'), '%Y-%m-%dT%H:%M:%SZ', 'UTC') AS k,
       count() AS v
FROM events
WHERE merchant = {big} AND ts >= {hours2_us} AND ts < {end_us}
GROUP BY k ORDER BY k;

-- @Q5 daily revenue (sum of value of purchases, in cents), largest merchant
SELECT formatDateTime(toDateTime(intDiv(ts, 86400000000) * 86400, 'UTC'), '%Y-%m-%dT%H:%M:%SZ', 'UTC') AS k,
       toInt64(round(sum(value) * 100)) AS v
FROM events
WHERE merchant = {big} AND ts >= {start_us} AND ts < {end_us} AND event = 'purchase'
GROUP BY k ORDER BY k;

-- @Q6 hourly count, device = mobile and country = US, largest merchant
SELECT formatDateTime(toDateTime(intDiv(ts, 3600000000) * 3600, 'UTC'), '%Y-%m-%dT%H:%M:%SZ', 'UTC') AS k,
       count() AS v
FROM events
WHERE merchant = {big} AND ts >= {start_us} AND ts < {end_us} AND device = 'mobile' AND country = 'US'
GROUP BY k ORDER BY k;

-- @Q7 one day, events by name, all merchants
SELECT toString(event) AS k, count() AS v
FROM events
WHERE ts >= {day_us} AND ts < {day_end_us}
GROUP BY k ORDER BY v DESC, k;

-- @Q9 a year by month, events and unique users (exact), rank-20 merchant
SELECT concat(toString(toStartOfMonth(toDateTime(intDiv(ts, 1000000), 'UTC'))), 'T00:00:00Z') AS k,
       count() AS v, uniqExact(user) AS u
FROM events
WHERE merchant = {r20} AND ts >= {year_us} AND ts < {end_us}
GROUP BY k ORDER BY k;

-- @Q10 a year of daily revenue (sum of value of purchases, in cents), rank-20 merchant
SELECT formatDateTime(toDateTime(intDiv(ts, 86400000000) * 86400, 'UTC'), '%Y-%m-%dT%H:%M:%SZ', 'UTC') AS k,
       toInt64(round(sum(value) * 100)) AS v
FROM events
WHERE merchant = {r20} AND ts >= {year_us} AND ts < {end_us} AND event = 'purchase'
GROUP BY k ORDER BY k;

-- @Q11 top-10 pages over the last quarter (90 days), rank-20 merchant
SELECT toString(page) AS k, count() AS v
FROM events
WHERE merchant = {r20} AND ts >= {quarter_us} AND ts < {end_us}
GROUP BY k ORDER BY v DESC, k LIMIT 10;
