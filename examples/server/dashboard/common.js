// common.js - what the site picker and the dashboard share: the keys kept
// in this browser, calls to the server's API, number formats.
'use strict';

const Keys = {
  // localStorage: {"admin": KEY, "sites": {"42": {"key": KEY, "domain": D}}}
  load() {
    try { return JSON.parse(localStorage.getItem('tsagg') || '{}'); } catch (e) { return {}; }
  },
  save(v) { localStorage.setItem('tsagg', JSON.stringify(v)); },
  admin() { return this.load().admin || null; },
  setAdmin(key) { const v = this.load(); v.admin = key; this.save(v); },
  site(m) { const s = (this.load().sites || {})[m]; return s ? s.key : null; },
  sites() { return this.load().sites || {}; },
  setSite(m, key, domain) {
    const v = this.load();
    v.sites = v.sites || {};
    v.sites[m] = { key, domain: domain || (v.sites[m] && v.sites[m].domain) || '' };
    this.save(v);
  },
  forget() { localStorage.removeItem('tsagg'); },
};

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// One call to the server; a bounded wait, the server's own error message.
async function api(method, path, key, body) {
  const res = await fetch(path, {
    method,
    headers: { Authorization: 'Bearer ' + key, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(15000),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch (e) { /* not JSON */ }
  if (!res.ok) throw new ApiError(res.status, (json && json.error) || `HTTP ${res.status}`);
  return json;
}

const fmtInt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const fmtCompact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });
const fmtMoney = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });

// 1,234 up to 99,999; 123.4K, 1.2M beyond, where columns are narrow.
function formatCount(n) {
  if (n == null) return '–';
  return Math.abs(n) < 100000 ? fmtInt.format(n) : fmtCompact.format(n);
}

// Totals have room: 1,234,567 up to ten million.
function formatTotal(n) {
  if (n == null) return '–';
  return Math.abs(n) < 1e7 ? fmtInt.format(n) : fmtCompact.format(n);
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v != null) e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}
