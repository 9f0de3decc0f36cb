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

-- The visit questions. A visit: an event of a session with no event of that
-- session in the 24 hours before it starts one, and the visit is the
-- session's events from that start to 24 hours later (later events with no
-- 24-hour gap belong to no visit); events in a session are ordered by
-- (ts, id). A visit counts in the bucket of its start, so the rows read are
-- those of [from - 24 h, to + 24 h). This version has no window functions:
-- each session's events become one array sorted by (ts, id); an event
-- starts a visit when it is the first or follows the previous one by 24 h
-- or more, and arrayCumSum over those marks gives each event the start of
-- its visit (vstart).

-- @Q12 a year of daily visits, bounce rate (%), visit duration (s) and pages per visit, largest merchant
SELECT formatDateTime(toDateTime(intDiv(start, 86400000000) * 86400, 'UTC'), '%Y-%m-%dT%H:%M:%SZ', 'UTC') AS k,
       count() AS v, 100 * countIf(n = 1 AND pvs = 1) / count() AS b, avg(dur) / 1e6 AS d,
       sum(pvs) / count() AS p
FROM (
    SELECT session, start, count() AS n, sum(pv) AS pvs, max(t) - start AS dur
    FROM (
        SELECT session, arrayMap(x -> x.1, evs) AS ts, arrayMap(x -> x.3, evs) AS pvflags,
               arrayMap((x, j) -> j = 1 OR x - ts[j - 1] >= 86400000000, ts, arrayEnumerate(ts)) AS starts,
               arrayFilter((x, s) -> s, ts, starts) AS startts,
               arrayMap(c -> startts[c], arrayCumSum(starts)) AS vstart
        FROM (
            SELECT session, arraySort(groupArray((ts, id, event = 'page_view'))) AS evs
            FROM events
            WHERE merchant = {big} AND ts >= {year_us} - 86400000000 AND ts < {end_us} + 86400000000
            GROUP BY session
        )
    )
    ARRAY JOIN ts AS t, vstart AS start, pvflags AS pv
    WHERE t < start + 86400000000 AND start >= {year_us} AND start < {end_us}
    GROUP BY session, start
)
GROUP BY k ORDER BY k;

-- @Q13 top-10 entry pages (page of a visit's first page_view) over the last 30 days, largest merchant
SELECT entry AS k, count() AS v
FROM (
    SELECT session, start, argMinIf(pg, j, pv) AS entry
    FROM (
        SELECT session, arrayMap(x -> x.1, evs) AS ts, arrayMap(x -> x.3, evs) AS pvflags,
               arrayMap(x -> x.4, evs) AS pages,
               arrayMap((x, j) -> j = 1 OR x - ts[j - 1] >= 86400000000, ts, arrayEnumerate(ts)) AS starts,
               arrayFilter((x, s) -> s, ts, starts) AS startts,
               arrayMap(c -> startts[c], arrayCumSum(starts)) AS vstart
        FROM (
            SELECT session, arraySort(groupArray((ts, id, event = 'page_view', toString(page)))) AS evs
            FROM events
            WHERE merchant = {big} AND ts >= {month_us} - 86400000000 AND ts < {end_us} + 86400000000
            GROUP BY session
        )
    )
    ARRAY JOIN ts AS t, vstart AS start, pvflags AS pv, pages AS pg, arrayEnumerate(ts) AS j
    WHERE t < start + 86400000000 AND start >= {month_us} AND start < {end_us}
    GROUP BY session, start
)
GROUP BY k ORDER BY v DESC, k LIMIT 10;

-- @Q14 a year by month, unique users, new (first event of the merchant in that month) and returning, largest merchant
SELECT concat(toString(m), 'T00:00:00Z') AS k, count() AS v, countIf(fm = m) AS nw, countIf(fm < m) AS r
FROM (
    SELECT DISTINCT toStartOfMonth(toDateTime(intDiv(ts, 1000000), 'UTC')) AS m, user
    FROM events
    WHERE merchant = {big} AND ts >= {year_us} AND ts < {end_us}
)
ANY INNER JOIN (
    SELECT user, toStartOfMonth(toDateTime(intDiv(min(ts), 1000000), 'UTC')) AS fm
    FROM events
    WHERE merchant = {big} AND ts < {end_us}
    GROUP BY user
) USING user
GROUP BY m ORDER BY k;
