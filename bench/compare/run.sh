#!/usr/bin/env bash
# bench/compare/run.sh - libtsagg side by side with DuckDB and ClickHouse.
#
#   bench/compare/run.sh [--events N] [--quick] [--long] [--days D]
#                        [--merchants M] [--seed S] [--start DAY] [--reps R]
#                        [--draws K] [--build DIR] [--workdir DIR] [--keep]
#                        [--no-install]
#
# Generates one GA-like data set with tsagg-gen (default 10,000,000 events
# over 30 days from 2026-10-01, 1,000 merchants; --quick: 1,000,000; --long:
# the long history, 2,000,000 events over 365 days from 2025-10-01, 200,000
# merchants; options after --quick or --long override theirs), loads it into
# a libtsagg store (tsagg-ingest --compact, from NDJSON), a DuckDB database
# and a ClickHouse MergeTree table (from CSV: the same events), runs the
# query set of queries.* on each, checks that all systems return the same
# rows, and prints one table. See docs/benchmarks.md, "Side by side with
# DuckDB and ClickHouse".
#
#   --start DAY    first day of the data, YYYY-MM-DD (UTC midnight); keep
#                  the data in the past: compaction seals (and writes as
#                  day and month files) only spans before the newest event,
#                  and events more than a day ahead of the clock do not
#                  count as newest
#   --reps R       warm runs per query after the first (default 10)
#   --draws K      merchants drawn by traffic for the Q8 dashboard (1000)
#   --build DIR    the meson build to use, set up as a release build if
#                  absent (default build-bench at the top of the tree)
#   --workdir DIR  where data and databases go (default a new directory
#                  under $TMPDIR or /tmp), removed at the end unless --keep
#   --no-install   use what is installed; install nothing
#
# It installs what it lacks: DuckDB through npm (@duckdb/node-api, into
# bench/compare/node_modules, from package-lock.json), ClickHouse through
# apt (clickhouse-server, clickhouse-client). ClickHouse runs on 127.0.0.1
# on free ports with its data in the work directory, and is stopped at the
# end. A system that cannot be installed or started is reported MISSING.
#
# Exit status: 0 when every system ran and all results agree; 1 when the
# results differ (the differences are shown) or a system is MISSING; 2 for
# a usage error.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

EVENTS=10000000
DAYS=30
MERCHANTS=1000
SEED=1
START_DAY=2026-10-01
REPS=10
DRAWS=1000
BUILD="$ROOT/build-bench"
WORKDIR=""
KEEP=0
INSTALL=1

usage() {
    awk 'NR > 2 && !/^#/ { exit } NR > 2 { sub(/^# ?/, ""); print }' "$0" >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case "$1" in
    --events) EVENTS=$2; shift 2 ;;
    --quick) EVENTS=1000000; shift ;;
    --long) EVENTS=2000000 DAYS=365 MERCHANTS=200000 START_DAY=2025-10-01; shift ;;
    --days) DAYS=$2; shift 2 ;;
    --merchants) MERCHANTS=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --start) START_DAY=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --draws) DRAWS=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --workdir) WORKDIR=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --no-install) INSTALL=0; shift ;;
    -h | --help) usage ;;
    *) echo "run.sh: unknown option '$1'" >&2; usage ;;
    esac
done
for v in "$EVENTS" "$DAYS" "$MERCHANTS" "$SEED" "$REPS" "$DRAWS"; do
    [[ "$v" =~ ^[0-9]+$ ]] || { echo "run.sh: '$v' is not a number" >&2; exit 2; }
done
[ "$MERCHANTS" -ge 50 ] || { echo "run.sh: --merchants must be at least 50" >&2; exit 2; }
# A fixed first day (not one relative to today) keeps every run's data, and
# so its bytes and answers, the same.
if ! [[ "$START_DAY" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]] ||
    ! START_S=$(date -u -d "${START_DAY}T00:00:00Z" +%s 2>/dev/null); then
    echo "run.sh: --start '$START_DAY' is not a day (YYYY-MM-DD)" >&2
    exit 2
fi
if [ $((START_S + DAYS * 86400)) -gt "$(date +%s)" ]; then
    echo "run.sh: warning: the data reaches past today; its newest spans stay hour files" >&2
fi

T_START=$(date +%s)
LOAD_START=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo "?")
step() { printf '\n== [%4ss] %s\n' "$(($(date +%s) - T_START))" "$*" >&2; }
note() { printf '   %s\n' "$*" >&2; }
loud() { printf '\n!!!!!!!! %s\n' "$*" >&2; }

# Seconds since the epoch with nanoseconds, and differences of them.
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
# CPU seconds (user + system, every thread) of the children of this shell
# that have finished so far; must run in this shell, not in $(...).
children_cpu() {
    times >"$WORKDIR/.times"
    CHILDREN_CPU=$(awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, a, "m"); t += a[1] * 60 + a[2] }
                       printf "%.3f", t }' "$WORKDIR/.times")
}
# CPU seconds of a running process.
proc_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$1/stat"; }

if [ -z "$WORKDIR" ]; then
    WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/tsagg-compare.XXXXXX")
else
    mkdir -p "$WORKDIR"
    WORKDIR=$(cd "$WORKDIR" && pwd)
fi
CH_PID=""
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
    local rc=$?
    if [ -n "$CH_PID" ] && kill -0 "$CH_PID" 2>/dev/null; then
        kill "$CH_PID" 2>/dev/null || true
        for _ in $(seq 1 60); do kill -0 "$CH_PID" 2>/dev/null || break; sleep 0.5; done
        kill -9 "$CH_PID" 2>/dev/null || true
    fi
    if [ "$KEEP" = 1 ]; then
        echo "run.sh: kept $WORKDIR" >&2
    else
        rm -rf "$WORKDIR"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Per system: empty, or why it is MISSING.
declare -A MISSING=([tsagg]="" [duckdb]="" [clickhouse]="")
declare -A R # results: R[system.key] = value
missing() {
    MISSING[$1]=$2
    loud "$1 is MISSING: $2"
}

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi

# ---------------------------------------------------------------- build ----
step "libtsagg: release build in $BUILD"
if [ ! -f "$BUILD/build.ninja" ]; then
    (cd "$ROOT" && meson setup "$BUILD" --buildtype=release -Dtests=false) >&2
fi
if command -v node >/dev/null &&
    ! node -e 'const o = require(require("path").resolve(process.argv[1]));
               process.exit(o.find(x => x.name === "buildtype").value === "release" ? 0 : 1)' \
        "$BUILD/meson-info/intro-buildoptions.json" 2>/dev/null; then
    loud "$BUILD is not a release build: libtsagg's figures will be worse than they should"
fi
if ! nice ninja -C "$BUILD" >&2; then
    loud "the build of $BUILD failed: going on with the executables it has"
fi
GEN="$BUILD/tools/tsagg-gen"
INGEST="$BUILD/tools/ingest/tsagg-ingest"
QUERY="$BUILD/tools/query/tsagg-query"
HELPER="$BUILD/bench/compare_tsagg"
for exe in "$GEN" "$HELPER"; do
    [ -x "$exe" ] || { echo "run.sh: $exe was not built" >&2; exit 1; }
done
[ -x "$INGEST" ] || missing tsagg "$INGEST was not built"
[ -x "$QUERY" ] || missing tsagg "$QUERY was not built"

# -------------------------------------------------------------- install ----
step "DuckDB: @duckdb/node-api through npm"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    missing duckdb "node and npm are not installed"
elif [ "$INSTALL" = 1 ] && ! [ -d "$HERE/node_modules/@duckdb/node-api" ] &&
    ! (cd "$HERE" && { npm ci --no-audit --no-fund || npm install --no-audit --no-fund; } >&2); then
    # npm ci refuses a lock file without the other platforms' optional
    # engine packages, which some registry mirrors lack; npm install then
    # installs the same versions from the same lock file.
    missing duckdb "npm could not install @duckdb/node-api"
elif ! [ -d "$HERE/node_modules/@duckdb/node-api" ]; then
    missing duckdb "not installed (run without --no-install)"
fi
SQLBENCH=(node "$HERE/sqlbench.mjs")

step "ClickHouse: clickhouse-server and clickhouse-client through apt"
if ! command -v clickhouse-server >/dev/null || ! command -v clickhouse-client >/dev/null; then
    if [ "$INSTALL" = 1 ] && command -v apt-get >/dev/null; then
        { $SUDO apt-get update -q &&
            DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q clickhouse-server clickhouse-client; } >&2 ||
            true
    fi
    if ! command -v clickhouse-server >/dev/null || ! command -v clickhouse-client >/dev/null; then
        missing clickhouse "clickhouse-server/clickhouse-client could not be installed"
    fi
fi

# ----------------------------------------------------------------- data ----
step "data: $EVENTS events, $DAYS days from $START_DAY, $MERCHANTS merchants, seed $SEED (work directory $WORKDIR)"
GENARGS=(-n "$EVENTS" -d "$DAYS" -m "$MERCHANTS" -s "$SEED" --start "${START_DAY}T00:00:00Z")
t0=$(now)
if [ -z "${MISSING[tsagg]}" ]; then
    "$GEN" "${GENARGS[@]}" -f ndjson >"$WORKDIR/events.ndjson"
    note "NDJSON for libtsagg: $(du -m "$WORKDIR/events.ndjson" | cut -f1) MB"
fi
"$GEN" "${GENARGS[@]}" -f csv >"$WORKDIR/events.csv"
note "CSV for DuckDB and ClickHouse: $(du -m "$WORKDIR/events.csv" | cut -f1) MB; generated in $(elapsed "$t0" "$(now)") s"

# The range is whole days from the start.
END_S=$((START_S + DAYS * 86400))
MIDDAY_S=$((START_S + (DAYS / 2) * 86400))
# The year and quarter questions end with the data; on a shorter history
# they span all of it.
YEAR_DAYS=$((DAYS < 365 ? DAYS : 365))
QUARTER_DAYS=$((DAYS < 90 ? DAYS : 90))
MONTH_DAYS=$((DAYS < 30 ? DAYS : 30))
YEAR_S=$((END_S - YEAR_DAYS * 86400))
QUARTER_S=$((END_S - QUARTER_DAYS * 86400))
MONTH_S=$((END_S - MONTH_DAYS * 86400))
BIG=$("$HELPER" rank -m "$MERCHANTS" -s "$SEED" 0)
MID=$("$HELPER" rank -m "$MERCHANTS" -s "$SEED" 49)
R20=$("$HELPER" rank -m "$MERCHANTS" -s "$SEED" 19)
"$HELPER" draw -m "$MERCHANTS" -s "$SEED" "$DRAWS" >"$WORKDIR/merchants.txt"
PARAMS="$WORKDIR/params.env"
cat >"$PARAMS" <<EOF
big=$BIG
mid=$MID
r20=$R20
start_s=$START_S
end_s=$END_S
week_s=$((END_S - 7 * 86400))
hours2_s=$((END_S - 7200))
day_s=$MIDDAY_S
day_end_s=$((MIDDAY_S + 86400))
year_s=$YEAR_S
quarter_s=$QUARTER_S
month_s=$MONTH_S
start_us=${START_S}000000
end_us=${END_S}000000
week_us=$((END_S - 7 * 86400))000000
hours2_us=$((END_S - 7200))000000
day_us=${MIDDAY_S}000000
day_end_us=$((MIDDAY_S + 86400))000000
year_us=${YEAR_S}000000
quarter_us=${QUARTER_S}000000
month_us=${MONTH_S}000000
start_iso=$(date -u -d "@$START_S" +%Y-%m-%dT%H:%M:%SZ)
EOF
note "largest merchant $BIG, rank-20 merchant $R20, rank-50 merchant $MID; Q8 draws $DRAWS merchants by traffic"

QNAMES=$(sed -n 's/^\(Q[0-9][0-9a-z]*\) .*/\1/p' "$HERE/queries.tsagg")
mkdir -p "$WORKDIR/res/tsagg" "$WORKDIR/res/duckdb" "$WORKDIR/res/clickhouse"

# "name value" lines of a file into R[system.name].
slurp() {
    local sys=$1 file=$2 k v rest
    while read -r k v rest; do
        [ -n "$k" ] && R[$sys.$k]=$v
    done <"$file"
    return 0
}
# "Qn first_ms X p50_ms Y [process_ms Z] ..." lines into R[system.Qn.first],
# R[system.Qn.p50] and R[system.Qn.process].
slurp_queries() {
    local sys=$1 file=$2 q rest
    while read -r q rest; do
        case "$q" in Q*) ;; *) continue ;; esac
        R[$sys.$q.first]=$(awk '{for (i = 1; i < NF; i++) if ($i == "first_ms") print $(i + 1)}' <<<"$rest")
        R[$sys.$q.p50]=$(awk '{for (i = 1; i < NF; i++) if ($i == "p50_ms") print $(i + 1)}' <<<"$rest")
        R[$sys.$q.process]=$(awk '{for (i = 1; i < NF; i++) if ($i == "process_ms") print $(i + 1)}' <<<"$rest")
    done <"$file"
    return 0
}

# ---------------------------------------------------------------- tsagg ----
# tsagg-query's CSV with NV metric columns into "k,v[,v...]" lines: the
# header and rows whose values are all 0 dropped, quotes of the key removed,
# no value (NaN) as 0; MODE cents: sums in cents; real: values as printed
# (15 significant digits: means and rates, compared within a tolerance);
# else whole numbers.
tsagg_rows() {
    awk -v mode="$1" -v nv="$2" 'NR == 1 { next }
    {
        rest = $0; vs = ""; nonzero = 0
        for (i = 0; i < nv; i++) {
            if (!match(rest, /,[^,]*$/)) next
            v = substr(rest, RSTART + 1); rest = substr(rest, 1, RSTART - 1)
            if (v == "" || v ~ /[nN][aA][nN]/ || v + 0 == 0) x = "0"
            else if (mode == "real") x = v
            else x = sprintf("%.0f", mode == "cents" ? v * 100 : v)
            if (x == "-0") x = "0"
            if (x != "0") nonzero = 1
            vs = "," x vs
        }
        if (!nonzero) next
        k = rest
        if (k ~ /^".*"$/) { k = substr(k, 2, length(k) - 2); gsub(/""/, "\"", k) }
        print k vs
    }'
}

run_tsagg() {
    local store="$WORKDIR/tsagg-store" t0 t1 c0
    step "libtsagg: load (tsagg-ingest --compact from NDJSON)"
    children_cpu
    c0=$CHILDREN_CPU
    t0=$(now)
    # 2 GiB: the compaction holds 10 M events without spilling sorted runs
    # (DuckDB and ClickHouse take what memory they want).
    "$INGEST" --compact --budget 2048 --sync none "$store" "$WORKDIR/events.ndjson" \
        >"$WORKDIR/tsagg-ingest.out" 2>&1 || {
        cat "$WORKDIR/tsagg-ingest.out" >&2
        missing tsagg "tsagg-ingest failed"
        return 0
    }
    t1=$(now)
    children_cpu
    R[tsagg.load]=$(elapsed "$t0" "$t1")
    R[tsagg.load_cpu]=$(elapsed "$c0" "$CHILDREN_CPU")
    # Until queryable: the log tail answers queries as soon as it is durable,
    # so the ingest's own time (its summary line) is that moment.
    R[tsagg.queryable]=$(sed -n 's/^tsagg-ingest: .* rejected, \([0-9.]*\) s,.*/\1/p' \
        "$WORKDIR/tsagg-ingest.out")
    R[tsagg.bytes]=$(du -sb "$store" | cut -f1)
    # Partitions: every *.tpart file of the store, whatever its tier, name or
    # folder.
    local files bytes
    read -r files bytes < <(find "$store" -type f -name '*.tpart' -printf '%s\n' |
        awk '{ n++; b += $1 } END { printf "%d %.0f\n", n, b }')
    R[tsagg.files]=$files
    R[tsagg.bytes_parts]=$bytes
    note "$(tail -n 3 "$WORKDIR/tsagg-ingest.out" | tr '\n' ' ')"
    note "load ${R[tsagg.load]} s, ${R[tsagg.load_cpu]} CPU s; store ${R[tsagg.bytes]} bytes," \
        "of which partitions ${R[tsagg.bytes_parts]} in ${R[tsagg.files]} files"

    step "libtsagg: queries (tsagg-query, first run and p50 of $REPS warm runs)"
    local q args mode nv line t0 t1
    : >"$WORKDIR/tsagg-queries.out"
    while read -r q args; do
        case "$q" in Q[0-9]*) ;; *) continue ;; esac
        args=$(sed -e "$(sed 's/^\([a-z0-9_]*\)=\(.*\)$/s|{\1}|\2|g/' "$PARAMS")" <<<"$args")
        mode=count
        case "$args" in
        *"--metric sum:"*) mode=cents ;;
        *"--metric bounce_rate"* | *"--metric visit_duration"* | *"--metric pages_per_visit"*) mode=real ;;
        esac
        # One value column per --metric; count when there is none.
        nv=$(awk '{ n = gsub(/--metric /, ""); print n ? n : 1 }' <<<"$args")
        # shellcheck disable=SC2086 # args are words
        if ! "$QUERY" "$store" $args --format csv --repeat $((REPS + 1)) \
            >"$WORKDIR/res/tsagg/$q.raw" 2>"$WORKDIR/res/tsagg/$q.err"; then
            cat "$WORKDIR/res/tsagg/$q.err" >&2
            missing tsagg "tsagg-query failed on $q"
            return 0
        fi
        tsagg_rows "$mode" "$nv" <"$WORKDIR/res/tsagg/$q.raw" >"$WORKDIR/res/tsagg/$q.csv"
        line=$(grep -m1 'p50_ms' "$WORKDIR/res/tsagg/$q.err" || true)
        # The whole of a new process once more: start, opening the store,
        # the one query and its output (first_ms times the query alone).
        # EPOCHREALTIME rather than date(1): no process of its own to time.
        t0=${EPOCHREALTIME/,/.}
        # shellcheck disable=SC2086 # args are words
        "$QUERY" "$store" $args --format csv >/dev/null 2>&1 || {
            missing tsagg "tsagg-query failed on $q"
            return 0
        }
        t1=${EPOCHREALTIME/,/.}
        line="$line process_ms $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) * 1000 }')"
        echo "$q $line" >>"$WORKDIR/tsagg-queries.out"
        note "$q $line"
    done <"$HERE/queries.tsagg"
    slurp_queries tsagg "$WORKDIR/tsagg-queries.out"

    step "libtsagg: Q8 dashboard, $DRAWS merchants x (Q1, Q2, Q3, Q5), through the library"
    "$HELPER" dashboard --out "$WORKDIR/res/tsagg/Q8.csv" "$store" "$WORKDIR/merchants.txt" \
        "${START_S}000000" "${END_S}000000" "$((END_S - 7 * 86400))000000" >"$WORKDIR/tsagg-q8.out" ||
        { missing tsagg "the dashboard failed"; return 0; }
    slurp tsagg "$WORKDIR/tsagg-q8.out"
    note "$(tr '\n' ' ' <"$WORKDIR/tsagg-q8.out")"
    "$HELPER" dashboard --approx "$store" "$WORKDIR/merchants.txt" \
        "${START_S}000000" "${END_S}000000" "$((END_S - 7 * 86400))000000" >"$WORKDIR/tsagg-q8a.out" ||
        { missing tsagg "the dashboard failed"; return 0; }
    R[tsagg.qps_approx]=$(awk '$1 == "qps" { print $2 }' "$WORKDIR/tsagg-q8a.out")
    note "with estimated unique users (HyperLogLog rollups): ${R[tsagg.qps_approx]} queries/s"
    rm -f "$WORKDIR/events.ndjson"
}

# --------------------------------------------------------------- DuckDB ----
run_duckdb() {
    local db="$WORKDIR/duck.db"
    step "DuckDB: load (read_csv, DISTINCT ON (merchant, ts, id), ORDER BY merchant, ts; CHECKPOINT)"
    R[duckdb.version]=$("${SQLBENCH[@]}" version --system duckdb | awk '{ print $2 }') || {
        missing duckdb "the @duckdb/node-api module does not load"
        return 0
    }
    "${SQLBENCH[@]}" load-duckdb --db "$db" --csv "$WORKDIR/events.csv" --sql "$HERE/load.duckdb.sql" \
        >"$WORKDIR/duckdb-load.out" || { missing duckdb "the load failed"; return 0; }
    slurp duckdb "$WORKDIR/duckdb-load.out"
    R[duckdb.load]=${R[duckdb.load_s]}
    R[duckdb.load_cpu]=${R[duckdb.load_cpu_s]}
    note "$(tr '\n' ' ' <"$WORKDIR/duckdb-load.out")"

    step "DuckDB: queries (first run on a freshly opened database, p50 of $REPS warm runs)"
    "${SQLBENCH[@]}" queries --system duckdb --db "$db" --sql "$HERE/queries.duckdb.sql" \
        --params "$PARAMS" --reps "$REPS" --out "$WORKDIR/res/duckdb" >"$WORKDIR/duckdb-queries.out" ||
        { missing duckdb "a query failed"; return 0; }
    slurp_queries duckdb "$WORKDIR/duckdb-queries.out"
    slurp duckdb "$WORKDIR/duckdb-queries.out"
    sed 's/^/   /' "$WORKDIR/duckdb-queries.out" >&2

    step "DuckDB: Q8 dashboard, $DRAWS merchants x (Q1, Q2, Q3, Q5)"
    "${SQLBENCH[@]}" dashboard --system duckdb --db "$db" --sql "$HERE/queries.duckdb.sql" \
        --params "$PARAMS" --merchants "$WORKDIR/merchants.txt" --out "$WORKDIR/res/duckdb/Q8.csv" \
        >"$WORKDIR/duckdb-q8.out" || { missing duckdb "the dashboard failed"; return 0; }
    slurp duckdb "$WORKDIR/duckdb-q8.out"
    note "$(tr '\n' ' ' <"$WORKDIR/duckdb-q8.out")"
    "${SQLBENCH[@]}" dashboard --system duckdb --db "$db" --sql "$HERE/queries.duckdb.sql" --approx 1 \
        --params "$PARAMS" --merchants "$WORKDIR/merchants.txt" --out /dev/null \
        >"$WORKDIR/duckdb-q8a.out" || { missing duckdb "the dashboard failed"; return 0; }
    R[duckdb.qps_approx]=$(awk '$1 == "qps" { print $2 }' "$WORKDIR/duckdb-q8a.out")
    note "with estimated unique users (approx_count_distinct): ${R[duckdb.qps_approx]} queries/s"
    rm -f "$db" "$db.wal"
}

# ----------------------------------------------------------- ClickHouse ----
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_clickhouse() {
    local dir=$1 p
    CH_TCP=""
    for p in 29100 29200 29300 29400 29500 39100 39200 39300; do
        if port_free "$p" && port_free $((p + 1)); then CH_TCP=$p; break; fi
    done
    [ -n "$CH_TCP" ] || { missing clickhouse "no free port pair found"; return 1; }
    CH_HTTP=$((CH_TCP + 1))
    mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/log"
    # zstd level 3 (what libtsagg's partitions use) for every part: this
    # version has no per-column CODECs; the server-wide <compression> rule
    # is the way to choose zstd over the default LZ4.
    cat >"$dir/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>$dir/log/server.log</log>
        <errorlog>$dir/log/server.err.log</errorlog>
        <size>100M</size>
        <count>1</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>$CH_TCP</tcp_port>
    <http_port>$CH_HTTP</http_port>
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/user_files/</user_files_path>
    <users_config>$dir/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mark_cache_size>1073741824</mark_cache_size>
    <uncompressed_cache_size>1073741824</uncompressed_cache_size>
    <max_concurrent_queries>16</max_concurrent_queries>
    <compression>
        <case>
            <method>zstd</method>
            <level>3</level>
        </case>
    </compression>
</yandex>
EOF
    cat >"$dir/users.xml" <<'EOF'
<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>8000000000</max_memory_usage>
            <max_threads>2</max_threads>
            <allow_experimental_low_cardinality_type>1</allow_experimental_low_cardinality_type>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF
    clickhouse-server --config-file="$dir/config.xml" >"$dir/log/stdout" 2>&1 &
    CH_PID=$!
    for _ in $(seq 1 120); do
        if clickhouse-client --port "$CH_TCP" -q 'SELECT 1' >/dev/null 2>&1; then return 0; fi
        kill -0 "$CH_PID" 2>/dev/null || break
        sleep 0.5
    done
    tail -n 20 "$dir/log/stdout" "$dir/log/server.err.log" >&2 2>/dev/null || true
    missing clickhouse "the server did not start"
    return 1
}

run_clickhouse() {
    local dir="$WORKDIR/clickhouse" t0 t1 c0 s0
    step "ClickHouse: start the server on 127.0.0.1 (data in $dir)"
    start_clickhouse "$dir" || return 0
    local CH=(clickhouse-client --port "$CH_TCP")
    R[clickhouse.version]=$("${CH[@]}" -q 'SELECT version()')
    note "ClickHouse ${R[clickhouse.version]}, native port $CH_TCP, HTTP port $CH_HTTP"
    "${CH[@]}" --multiquery <"$HERE/load.clickhouse.sql" || { missing clickhouse "CREATE TABLE failed"; return 0; }

    step "ClickHouse: load (INSERT ... FORMAT CSVWithNames through clickhouse-client, then OPTIMIZE TABLE FINAL)"
    children_cpu
    c0=$CHILDREN_CPU
    s0=$(proc_cpu "$CH_PID")
    t0=$(now)
    "${CH[@]}" -q 'INSERT INTO events_in FORMAT CSVWithNames' <"$WORKDIR/events.csv" ||
        { missing clickhouse "the INSERT failed"; return 0; }
    # This version's OPTIMIZE returns without merging while background merges
    # of the fresh parts run: repeat until one active part is left, which is
    # when ReplacingMergeTree has dropped every duplicate.
    local parts tries=0
    while :; do
        "${CH[@]}" -q 'OPTIMIZE TABLE events FINAL' || { missing clickhouse "OPTIMIZE failed"; return 0; }
        parts=$("${CH[@]}" -q "SELECT count() FROM system.parts WHERE active AND database = 'default' AND table = 'events'")
        [ "$parts" -le 1 ] && break
        tries=$((tries + 1))
        [ "$tries" -lt 600 ] || { missing clickhouse "OPTIMIZE FINAL left $parts parts"; return 0; }
        sleep 0.5
    done
    t1=$(now)
    children_cpu
    # The client parses the CSV, the server converts, sorts and merges.
    R[clickhouse.load_cpu]=$(awk -v a="$(elapsed "$c0" "$CHILDREN_CPU")" -v b="$(elapsed "$s0" "$(proc_cpu "$CH_PID")")" \
        'BEGIN { printf "%.3f", a + b }')
    R[clickhouse.load]=$(elapsed "$t0" "$t1")
    R[clickhouse.bytes]=$("${CH[@]}" -q "SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = 'default' AND table = 'events'")
    R[clickhouse.rows]=$("${CH[@]}" -q 'SELECT count() FROM events')
    note "load ${R[clickhouse.load]} s, ${R[clickhouse.load_cpu]} CPU s (client and server);" \
        "${R[clickhouse.rows]} rows, ${R[clickhouse.bytes]} bytes in" \
        "$("${CH[@]}" -q "SELECT count() FROM system.parts WHERE active AND table = 'events'") part(s)"
    note "bytes per row by column:"
    "${CH[@]}" -q "SELECT name, round(data_compressed_bytes / ${R[clickhouse.rows]}, 2) FROM system.columns
                   WHERE database = 'default' AND table = 'events' ORDER BY data_compressed_bytes DESC" |
        tee "$WORKDIR/clickhouse-columns.txt" | awk '{ printf "      %-10s %s\n", $1, $2 }' >&2

    step "ClickHouse: queries over HTTP (first run after SYSTEM DROP MARK/UNCOMPRESSED CACHE, p50 of $REPS warm runs)"
    "${SQLBENCH[@]}" queries --system clickhouse --url "http://127.0.0.1:$CH_HTTP" \
        --sql "$HERE/queries.clickhouse.sql" --params "$PARAMS" --reps "$REPS" \
        --out "$WORKDIR/res/clickhouse" >"$WORKDIR/clickhouse-queries.out" ||
        { missing clickhouse "a query failed"; return 0; }
    slurp_queries clickhouse "$WORKDIR/clickhouse-queries.out"
    slurp clickhouse "$WORKDIR/clickhouse-queries.out"
    sed 's/^/   /' "$WORKDIR/clickhouse-queries.out" >&2

    step "ClickHouse: Q8 dashboard, $DRAWS merchants x (Q1, Q2, Q3, Q5), over HTTP"
    "${SQLBENCH[@]}" dashboard --system clickhouse --url "http://127.0.0.1:$CH_HTTP" --sql "$HERE/queries.clickhouse.sql" \
        --params "$PARAMS" --merchants "$WORKDIR/merchants.txt" --out "$WORKDIR/res/clickhouse/Q8.csv" \
        >"$WORKDIR/clickhouse-q8.out" || { missing clickhouse "the dashboard failed"; return 0; }
    slurp clickhouse "$WORKDIR/clickhouse-q8.out"
    note "$(tr '\n' ' ' <"$WORKDIR/clickhouse-q8.out")"
    "${SQLBENCH[@]}" dashboard --system clickhouse --url "http://127.0.0.1:$CH_HTTP" --approx 1 \
        --sql "$HERE/queries.clickhouse.sql" --params "$PARAMS" --merchants "$WORKDIR/merchants.txt" \
        --out /dev/null >"$WORKDIR/clickhouse-q8a.out" || { missing clickhouse "the dashboard failed"; return 0; }
    R[clickhouse.qps_approx]=$(awk '$1 == "qps" { print $2 }' "$WORKDIR/clickhouse-q8a.out")
    note "with estimated unique users (uniq): ${R[clickhouse.qps_approx]} queries/s"

    kill "$CH_PID" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$CH_PID" 2>/dev/null || break; sleep 0.5; done
    CH_PID=""
    rm -rf "$dir"
}

[ -z "${MISSING[tsagg]}" ] && run_tsagg
[ -z "${MISSING[duckdb]}" ] && run_duckdb
[ -z "${MISSING[clickhouse]}" ] && run_clickhouse
rm -f "$WORKDIR/events.csv"

# ----------------------------------------------------------- cross-check ----
step "cross-check: every query's rows, every system"
FAILED=0
# Whether two result files have the same lines but for values that differ
# by at most 1e-9 of the larger: the last bits of a mean or a rate depend
# on the order of the additions, which no two systems share.
rows_close() {
    awk -F, 'NR == FNR { a[FNR] = $0; n = FNR; next }
    {
        if (FNR > n) exit 1
        na = split(a[FNR], x, ","); nb = split($0, y, ",")
        if (na != nb) exit 1
        for (i = 1; i <= na; i++) {
            if (x[i] == y[i]) continue
            if (i == 1 || x[i] !~ /^-?[0-9.eE+-]+$/ || y[i] !~ /^-?[0-9.eE+-]+$/) exit 1
            d = x[i] - y[i]; d = d < 0 ? -d : d
            m = x[i] < 0 ? -x[i] : x[i]; if (y[i] > m) m = y[i]; if (-y[i] > m) m = -y[i]
            if (d > 1e-9 * m) exit 1
        }
        seen = FNR
    }
    END { if (seen != n) exit 1 }' "$1" "$2"
}
SYSTEMS=()
for s in tsagg duckdb clickhouse; do [ -z "${MISSING[$s]}" ] && SYSTEMS+=("$s"); done
if [ ${#SYSTEMS[@]} -ge 2 ]; then
    ref=${SYSTEMS[0]}
    for q in $QNAMES Q8; do
        for s in "${SYSTEMS[@]:1}"; do
            a="$WORKDIR/res/$ref/$q.csv" b="$WORKDIR/res/$s/$q.csv"
            if [ ! -f "$a" ] || [ ! -f "$b" ]; then
                loud "$q: no result from $ref or $s"
                FAILED=1
            elif [[ "$q" == *a ]]; then
                note "$q: estimates, compared with the exact answers below"
            elif cmp -s "$a" "$b"; then
                note "$q: $ref and $s agree ($(wc -l <"$a") rows)"
            elif rows_close "$a" "$b"; then
                note "$q: $ref and $s agree ($(wc -l <"$a") rows; means and rates within 1e-9 of each other)"
            else
                loud "$q: $ref and $s DIFFER ($(wc -l <"$a") vs $(wc -l <"$b") rows; first differences):"
                diff "$a" "$b" | head -n 20 >&2 || true
                FAILED=1
            fi
        done
    done
else
    loud "fewer than two systems ran: nothing to compare"
fi
# Estimated distinct counts (Q2a) against each system's exact ones (Q2,
# compared above): the same days, and the largest relative error.
for s in "${SYSTEMS[@]}"; do
    a="$WORKDIR/res/$s/Q2.csv" b="$WORKDIR/res/$s/Q2a.csv"
    if [ ! -f "$a" ] || [ ! -f "$b" ]; then continue; fi
    if err=$(awk -F, 'NR == FNR { x[$1] = $2; next }
            { if (!($1 in x)) { bad = 1; exit }
              e = ($2 - x[$1]) / x[$1]; if (e < 0) e = -e; if (e > m) m = e; delete x[$1] }
            END { for (k in x) bad = 1; if (bad) exit 1; printf "%.1f", 100 * m }' "$a" "$b"); then
        R[$s.Q2a_err]=$err
        note "Q2a: $s's estimates are within $err% of the exact counts"
    else
        loud "Q2a: $s's estimates are not for the same days as its exact counts"
        FAILED=1
    fi
done

# ---------------------------------------------------------------- table ----
cell() { # a value or MISSING / -
    local s=$1 k=$2
    if [ -n "${MISSING[$s]}" ]; then echo MISSING; else echo "${R[$s.$k]:--}"; fi
}
ratio() { # how many times better tsagg is: $3 = lower (smaller is better) or higher
    awk -v t="$1" -v o="$2" -v dir="$3" 'BEGIN {
        if (t !~ /^[0-9.]+$/ || o !~ /^[0-9.]+$/ || t + 0 == 0 || o + 0 == 0) { print "-"; exit }
        r = dir == "lower" ? o / t : t / o
        printf(r >= 100 ? "%.0fx" : r >= 10 ? "%.1fx" : "%.2fx", r)
    }'
}
fmt() { # number formatting by kind
    awk -v x="$1" -v kind="$2" 'BEGIN {
        if (x !~ /^[0-9.]+$/) { print x; exit }
        if (kind == "mb") printf("%.1f", x / 1e6)
        else if (kind == "s") printf("%.1f", x)
        else if (kind == "qps") printf("%.0f", x)
        else if (x >= 100) printf("%.0f", x)
        else if (x >= 10) printf("%.1f", x)
        else printf("%.2f", x)
    }'
}
TABLE="$WORKDIR/table.txt"
row() { # label key kind lower|higher
    local t d c
    t=$(cell tsagg "$2") d=$(cell duckdb "$2") c=$(cell clickhouse "$2")
    printf '%-52s %10s %10s %10s %13s %16s\n' "$1" "$(fmt "$t" "$3")" "$(fmt "$d" "$3")" "$(fmt "$c" "$3")" \
        "$(ratio "$t" "$d" "$4")" "$(ratio "$t" "$c" "$4")" >>"$TABLE"
}
# Bytes: tsagg's partitions against the others' tables; the whole store
# (raw log included) on its own row.
R[duckdb.queryable]=${R[duckdb.load]:-}
R[clickhouse.queryable]=${R[clickhouse.load]:-}
R[duckdb.bytes_parts]=${R[duckdb.bytes]:-}
R[clickhouse.bytes_parts]=${R[clickhouse.bytes]:-}
R[tsagg.load_eps]=$(awk -v n="$EVENTS" -v s="${R[tsagg.load]:-}" 'BEGIN { if (s + 0 > 0) printf "%.0f", n / s }')
R[duckdb.load_eps]=$(awk -v n="$EVENTS" -v s="${R[duckdb.load]:-}" 'BEGIN { if (s + 0 > 0) printf "%.0f", n / s }')
R[clickhouse.load_eps]=$(awk -v n="$EVENTS" -v s="${R[clickhouse.load]:-}" 'BEGIN { if (s + 0 > 0) printf "%.0f", n / s }')

{
    echo "$EVENTS events, $DAYS days from $START_DAY, $MERCHANTS merchants (seed $SEED); DuckDB ${R[duckdb.version]:-?}, ClickHouse ${R[clickhouse.version]:-?}"
    echo "times in ms (first run / median of $REPS warm runs); ratios > 1: libtsagg is faster or smaller"
    echo "$(nproc) CPUs; load average (1 min) $LOAD_START at the start, $(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo "?") at the end"
    echo
    printf '%-52s %10s %10s %10s %13s %16s\n' query tsagg DuckDB ClickHouse DuckDB/tsagg ClickHouse/tsagg
} >"$TABLE"
row "load, s (tsagg: ingest + compaction)" load s lower
row "load until queryable, s (tsagg: ingest)" queryable s lower
row "load, events/s" load_eps qps higher
row "load, CPU s (all threads and processes)" load_cpu s lower
row "disk, MB (tsagg: partitions)" bytes_parts mb lower
row "disk, MB (tsagg: partitions + raw log)" bytes mb lower
printf '%-52s %10s %10s %10s\n' "partition files (tsagg: *.tpart)" "$(cell tsagg files)" - - >>"$TABLE"
declare -A LABEL=(
    [Q1]="Q1 hourly page views, $DAYS d, largest"
    [Q2]="Q2 daily unique users, $DAYS d, rank 50"
    [Q2a]="Q2a the same, estimated uniques"
    [Q3]="Q3 top-10 pages, 7 d, country=US"
    [Q4]="Q4 minute buckets, 2 h, largest"
    [Q5]="Q5 daily revenue, $DAYS d, largest"
    [Q6]="Q6 hourly, device+country, $DAYS d"
    [Q7]="Q7 1 day by event, all merchants"
    [Q9]="Q9 months, count+users, $YEAR_DAYS d, rank 20"
    [Q10]="Q10 daily revenue, $YEAR_DAYS d, rank 20"
    [Q11]="Q11 top-10 pages, $QUARTER_DAYS d, rank 20"
    [Q12]="Q12 daily visit figures, $YEAR_DAYS d, largest"
    [Q13]="Q13 top-10 entry pages, $MONTH_DAYS d, largest"
    [Q14]="Q14 months, users+new+returning, $YEAR_DAYS d"
)
# "new process": tsagg-query started, the store opened, the query run once
# and its rows written, by the wall clock (libtsagg only).
for q in $QNAMES; do
    [ -n "${LABEL[$q]:-}" ] || continue
    row "${LABEL[$q]}: first" "$q.first" ms lower
    row "${LABEL[$q]}: warm" "$q.p50" ms lower
    row "${LABEL[$q]}: new process" "$q.process" ms lower
done
printf '%-52s %10s %10s %10s\n' "Q2a largest error of the estimates, %" "$(cell tsagg Q2a_err)" \
    "$(cell duckdb Q2a_err)" "$(cell clickhouse Q2a_err)" >>"$TABLE"
row "Q8 dashboard, queries/s (exact uniques)" qps qps higher
row "Q8 dashboard, queries/s (estimated uniques)" qps_approx qps higher
printf '%-52s %10s %10s %10s\n' "SELECT 1 round trip, ms (client floor)" - \
    "$(fmt "$(cell duckdb roundtrip_ms)" ms)" "$(fmt "$(cell clickhouse roundtrip_ms)" ms)" >>"$TABLE"
for s in tsagg duckdb clickhouse; do
    [ -z "${MISSING[$s]}" ] || echo "MISSING: $s: ${MISSING[$s]}" >>"$TABLE"
done

step "results"
echo
cat "$TABLE"
echo
rc=0
for s in tsagg duckdb clickhouse; do
    if [ -n "${MISSING[$s]}" ]; then loud "$s is MISSING: ${MISSING[$s]}"; rc=1; fi
done
if [ "$FAILED" = 1 ]; then
    loud "the systems DISAGREE: see the differences above"
    rc=1
else
    note "all compared results agree"
fi
step "done in $(($(date +%s) - T_START)) s"
exit $rc
