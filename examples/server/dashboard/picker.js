// picker.js - GET /: the sites this browser holds keys for (every site with
// the admin key), and a form to sign in with a key.
'use strict';

function siteLink(m, domain, tz) {
  return el('li', {}, el('a', { href: `/dashboard/${m}` }, domain || `site ${m}`),
    el('span', { class: 'muted' }, ` #${m}${tz ? ' · ' + tz : ''}`));
}

async function listSites() {
  const ul = document.getElementById('sites');
  ul.replaceChildren();
  const shown = new Set();
  const admin = Keys.admin();
  if (admin) {
    try {
      const r = await api('GET', '/api/v1/sites', admin);
      for (const s of r.sites) { ul.append(siteLink(s.merchant, s.domain, s.timezone)); shown.add(String(s.merchant)); }
    } catch (e) {
      if (e.status === 401 || e.status === 403) Keys.setAdmin(null);
    }
  }
  for (const [m, s] of Object.entries(Keys.sites()))
    if (!shown.has(m)) ul.append(siteLink(m, s.domain, ''));
  document.getElementById('no-sites').hidden = ul.children.length > 0;
}

document.getElementById('login').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const key = document.getElementById('key').value.trim();
  const merchant = document.getElementById('merchant').value.trim();
  const err = document.getElementById('login-error');
  err.hidden = true;
  try {
    // The admin key lists the sites; a site's key is refused there (403).
    await api('GET', '/api/v1/sites', key);
    Keys.setAdmin(key);
    document.getElementById('key').value = '';
    await listSites();
    return;
  } catch (e) {
    if (e.status !== 403) { err.textContent = e.status === 401 ? 'No site has this key.' : e.message; err.hidden = false; return; }
  }
  if (!/^[0-9]+$/.test(merchant)) { err.textContent = 'With a site\'s query key, give the site number too.'; err.hidden = false; return; }
  try {
    const r = await api('POST', '/api/v1/query', key, { site_id: Number(merchant), metrics: ['count'], date_range: 'day' });
    Keys.setSite(merchant, key, r.meta.domain);
    location.href = `/dashboard/${merchant}`;
  } catch (e) {
    err.textContent = e.status === 403 ? `This key does not open site ${merchant}.` : e.message;
    err.hidden = false;
  }
});

document.getElementById('forget').addEventListener('click', () => { Keys.forget(); listSites(); });
listSites();
