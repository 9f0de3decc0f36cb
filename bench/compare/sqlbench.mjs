// sqlbench.mjs - the SQL side of the comparison: DuckDB (in process, through
// @duckdb/node-api) and ClickHouse (its HTTP interface, one keep-alive
// connection). run.sh drives it:
//
//   node sqlbench.mjs version     --system duckdb|clickhouse [--url URL]
//   node sqlbench.mjs load-duckdb --db FILE --csv FILE --sql load.duckdb.sql
//   node sqlbench.mjs queries     --system S (--db FILE | --url URL) --sql FILE
//                                 --params FILE --reps N --out DIR
//   node sqlbench.mjs dashboard   --system S (--db FILE | --url URL) --sql FILE
//                                 --params FILE --merchants FILE --out FILE [--approx 1]
//
// Results go to stdout as "name value" lines. `queries` writes each query's
// rows to DIR/Qn.csv as "k,v" lines, or "k,v,v" for more values (rows whose
// values are all 0 left out, as the comparison wants) and times a cold first run (DuckDB: a freshly opened
// database; ClickHouse: mark and uncompressed caches dropped; the operating
// system's page cache is warm in both) and then --reps warm runs, of which
// it prints the median. `dashboard` runs Q1, Q2, Q3 and Q5 for every merchant
// of the list, one query after the other, and prints queries per second.
//
// ClickHouse is queried over HTTP: a SELECT 1 costs 1-1.5 ms there against
// about 0.5 ms through clickhouse-client, but the client reports times in
// whole milliseconds only, and a clickhouse-client session running the
// dashboard's statements one after the other managed fewer than half the
// queries per second of HTTP.
import { readFileSync, writeFileSync, statSync, mkdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { DuckDBInstance, version as duckdbVersion } from '@duckdb/node-api';

const DASHBOARD = ['Q1', 'Q2', 'Q3', 'Q5'];

function parseArgs(argv) {
  const opts = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const key = a.slice(2);
      if (i + 1 >= argv.length) throw new Error(`option ${a} needs a value`);
      opts[key] = argv[++i];
    } else {
      opts._.push(a);
    }
  }
  return opts;
}

function need(opts, key) {
  if (opts[key] === undefined) throw new Error(`missing --${key}`);
  return opts[key];
}

// key=value lines.
function readParams(file) {
  const p = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Za-z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) p[m[1]] = m[2];
  }
  return p;
}

function fill(template, params) {
  return template.replace(/\{([A-Za-z0-9_]+)\}/g, (_, k) => {
    if (params[k] === undefined) throw new Error(`no value for {${k}}`);
    return params[k];
  });
}

// The "-- @Qn description" blocks of a query file, comments dropped.
function readQueries(file) {
  const out = [];
  let cur = null;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^--\s*@(\S+)/.exec(line);
    if (m) {
      cur = { name: m[1], sql: '' };
      out.push(cur);
    } else if (cur && !/^\s*--/.test(line)) {
      cur.sql += line + '\n';
    }
  }
  for (const q of out) q.sql = q.sql.trim().replace(/;\s*$/, '');
  return out;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

// ---- the two systems behind one interface: run(sql) -> [[k, v], ...] ----

class Duck {
  constructor(db) { this.db = db; }
  async open() {
    this.instance = await DuckDBInstance.create(this.db, { threads: '2', memory_limit: '8GB' });
    this.conn = await this.instance.connect();
  }
  async close() {
    this.conn.closeSync();
    this.instance.closeSync();
  }
  async run(sql) {
    const reader = await this.conn.runAndReadAll(sql);
    return reader.getRowsJson();
  }
  async cold() { await this.close(); await this.open(); }
  async version() { return duckdbVersion().replace(/^v/, ''); }
}

class ClickHouse {
  constructor(url) { this.url = url.replace(/\/$/, ''); }
  async open() {}
  async close() {}
  async post(sql) {
    const res = await fetch(`${this.url}/?max_threads=2`, { method: 'POST', body: sql });
    const text = await res.text();
    if (!res.ok) throw new Error(`ClickHouse: ${text.trim()}\nin: ${sql}`);
    return text;
  }
  async run(sql) {
    return JSON.parse(await this.post(`${sql} FORMAT JSONCompact`)).data;
  }
  async cold() {
    await this.post('SYSTEM DROP MARK CACHE');
    await this.post('SYSTEM DROP UNCOMPRESSED CACHE');
  }
  async version() { return (await this.post('SELECT version()')).trim(); }
}

function system(opts) {
  const s = need(opts, 'system');
  if (s === 'duckdb') return new Duck(need(opts, 'db'));
  if (s === 'clickhouse') return new ClickHouse(need(opts, 'url'));
  throw new Error(`unknown system ${s}`);
}

// "k,v[,v...]" lines; rows whose values are all 0 left out.
function csvRows(rows) {
  return rows.filter(r => r.slice(1).some(v => String(v) !== '0')).map(r => `${r.join(',')}\n`).join('');
}

// ---- commands ----

async function cmdVersion(opts) {
  const sys = system({ ...opts, db: ':memory:' });
  await sys.open();
  console.log(`version ${await sys.version()}`);
  await sys.close();
}

async function cmdLoadDuckdb(opts) {
  const db = need(opts, 'db');
  const sql = fill(readFileSync(need(opts, 'sql'), 'utf8'), { csv: need(opts, 'csv') });
  const duck = new Duck(db);
  await duck.open();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await duck.conn.run(sql);
  await duck.conn.run('CHECKPOINT');
  const t = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const rows = (await duck.run('SELECT count(*) FROM events'))[0][0];
  await duck.close();
  console.log(`load_s ${t.toFixed(3)}`);
  console.log(`load_cpu_s ${((c.user + c.system) / 1e6).toFixed(3)}`);
  console.log(`rows ${rows}`);
  console.log(`bytes ${statSync(db).size}`);
}

async function cmdQueries(opts) {
  const params = readParams(need(opts, 'params'));
  const queries = readQueries(need(opts, 'sql'));
  const reps = Number(opts.reps ?? 10);
  const out = need(opts, 'out');
  mkdirSync(out, { recursive: true });
  const sys = system(opts);
  await sys.open();
  // What a query costs with nothing to do: the client round trip.
  const trip = [];
  await sys.run('SELECT 1');
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    await sys.run('SELECT 1');
    trip.push(performance.now() - t0);
  }
  console.log(`roundtrip_ms ${median(trip).toFixed(3)}`);
  for (const q of queries) {
    const sql = fill(q.sql, params);
    await sys.cold();
    let t0 = performance.now();
    const rows = await sys.run(sql);
    const first = performance.now() - t0;
    const warm = [];
    for (let i = 0; i < reps; i++) {
      t0 = performance.now();
      await sys.run(sql);
      warm.push(performance.now() - t0);
    }
    writeFileSync(`${out}/${q.name}.csv`, csvRows(rows));
    console.log(`${q.name} first_ms ${first.toFixed(3)} p50_ms ${median(warm).toFixed(3)} rows ${rows.length}`);
  }
  await sys.close();
}

async function cmdDashboard(opts) {
  const params = readParams(need(opts, 'params'));
  const byName = Object.fromEntries(readQueries(need(opts, 'sql')).map(q => [q.name, q.sql]));
  const merchants = readFileSync(need(opts, 'merchants'), 'utf8').split('\n').filter(Boolean);
  // The statements are built before the clock starts, as the C side's
  // query structs are.
  const work = [];
  // --approx 1: unique users estimated (Q2a's statement), labelled Q2.
  const approx = opts.approx === '1';
  for (const m of merchants)
    for (const name of DASHBOARD)
      work.push([m, name, fill(byName[approx && name === 'Q2' ? 'Q2a' : name],
                               { ...params, big: m, mid: m })]);
  const sys = system(opts);
  await sys.open();
  const parts = [];
  const t0 = performance.now();
  for (const [m, name, sql] of work) {
    const rows = await sys.run(sql);
    for (const r of rows)
      if (String(r[1]) !== '0') parts.push(`${m},${name},${r[0]},${r[1]}\n`);
  }
  const s = (performance.now() - t0) / 1000;
  await sys.close();
  writeFileSync(need(opts, 'out'), parts.join(''));
  console.log(`queries ${work.length}`);
  console.log(`seconds ${s.toFixed(3)}`);
  console.log(`qps ${(work.length / s).toFixed(1)}`);
}

const commands = {
  version: cmdVersion,
  'load-duckdb': cmdLoadDuckdb,
  queries: cmdQueries,
  dashboard: cmdDashboard,
};

const opts = parseArgs(process.argv.slice(2));
const cmd = commands[opts._[0]];
if (!cmd) {
  console.error(`usage: node sqlbench.mjs ${Object.keys(commands).join('|')} [options]`);
  process.exit(2);
}
try {
  await cmd(opts);
} catch (e) {
  console.error(`sqlbench: ${e.message}`);
  process.exit(1);
}
