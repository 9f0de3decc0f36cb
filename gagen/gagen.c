/*
 * gagen.c - the event stream.
 *
 * Model (docs/tsagg-gen.md has the numbers):
 *
 *  - Positions. The N events get arrival positions in time: each hour of
 *    the range receives a share of N proportional to the traffic expected
 *    in that hour (the sum over time zones of their merchants' mass times
 *    the diurnal curve at the local hour), spread evenly with jitter, so
 *    the stream is in time order and the total is exactly N.
 *  - Sessions. At each position either an active session whose next event
 *    is due takes it, or a new session starts: its merchant is drawn with
 *    weight zipf(rank) x diurnal(merchant's local hour), its user is new or
 *    returning, and it will produce L events with gaps of seconds to
 *    minutes. Pending sessions wait in a timing wheel of one-second slots
 *    (O(1) per event, unlike a heap); one overdue by more than 30 minutes
 *    is dropped, as an analytics session times out.
 *  - Late events take a position but carry a time 1-48 h earlier (a client
 *    that was offline); duplicates re-emit a recent event unchanged.
 *
 * The hot path allocates nothing (the session pool grows by doubling, the
 * batch buffers when a caller asks for a larger batch) and formats no
 * strings: events point into precomputed tables and the page pool.
 */
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL /* inlined XXH64 of short ids; same function as tsagg_hash_id */
#include <xxhash.h>

#include "gagen.h"
#include "gagen_internal.h"

/* ------------------------------------------------------------------------ */
/* Sessions                                                                 */
/* ------------------------------------------------------------------------ */

static uint32_t pick_merchant(gagen *g, uint64_t hour)
{
    const gg_alias *ha = &g->hour_grp[hour % 24];
    uint32_t t = g->groups[gg_alias_pick(ha, gg_next(&g->rng))];
    uint32_t k = gg_alias_pick(&g->grp[t], gg_next(&g->rng));
    return g->members[g->grp_off[t] + k];
}

/* "u-<merchant>-<user>" into p; returns its length. */
static size_t fmt_user(char *p, uint32_t merchant, uint32_t user)
{
    size_t n = 2;
    p[0] = 'u';
    p[1] = '-';
    n += gg_u64_to_dec(merchant, p + n);
    p[n++] = '-';
    n += gg_u64_to_dec(user, p + n);
    return n;
}

/* "s-<merchant>-<user>-<session>" given the user string of the same
 * merchant and user. */
static size_t fmt_session(char *p, const char *ustr, size_t ulen, uint32_t session)
{
    memcpy(p, ustr, ulen);
    p[0] = 's';
    p[ulen] = '-';
    return ulen + 1 + gg_u64_to_dec(session, p + ulen + 1);
}

static void session_start(gagen *g, gg_session *s, uint32_t rank)
{
    gg_merchant *m = &g->ms[rank];
    uint64_t r = gg_next(&g->rng);
    char ub[40], sb[56];

    s->merchant = rank;
    if (m->n_users == 0 || (uint32_t)r < g->new_user_th) {
        s->user_no = ++m->n_users;
        g->st.users++;
    } else {
        /* A returning visitor, any earlier one. */
        s->user_no = 1 + gg_below32((uint32_t)(r >> 32), m->n_users);
    }
    s->session_no = ++m->n_sessions;
    g->st.sessions++;
    size_t ul = fmt_user(ub, g->ids[rank], s->user_no);
    size_t sl = fmt_session(sb, ub, ul, s->session_no);
    s->user_hash = XXH64(ub, ul, 0);
    s->session_hash = XXH64(sb, sl, 0);

    /* A user keeps country and device across sessions: derive them from
     * the user's hash, not from the stream. */
    uint64_t u = gg_mix64(s->user_hash), v = gg_mix64(u);
    s->country = (uint32_t)u < g->home_th ? m->home
                                          : g->lut_country[(u >> 32) & (GG_LUT_SIZE - 1)];
    s->device = g->lut_device[(u >> 44) & (GG_LUT_SIZE - 1)];
    s->os = g->lut_os[s->device][v & (GG_LUT_SIZE - 1)];
    s->browser = g->lut_browser[s->os][(v >> 12) & (GG_LUT_SIZE - 1)];

    r = gg_next(&g->rng);
    s->referrer = g->lut_referrer[r & (GG_LUT_SIZE - 1)];
    s->remaining = (uint16_t)(g->lut_len[(r >> 12) & (GG_LUT_SIZE - 1)] - 1);
    s->campaign = 0;
    if ((uint32_t)(r >> 32) < g->extra_th)
        s->campaign = (uint8_t)(1 + ((r >> 24) & (GG_NCAMPAIGNS - 1)));
    r = gg_next(&g->rng);
    s->app = s->device != GG_DESKTOP && (uint32_t)r < g->app_th ? 1 : 0;
    s->page = 0;
}

static uint16_t page_of_rank(const gg_merchant *m, uint32_t pr)
{
    if (pr == 0)
        return 0;
    if (pr < 40)
        return (uint16_t)(1 + ((m->pc_off + pr * m->pc_stride) & (GG_PAGES_COMMON - 1)));
    return (uint16_t)(1 + GG_PAGES_COMMON +
                      ((m->pt_off + pr * m->pt_stride) & (GG_PAGES_TAIL - 1)));
}

/* The next event of session s at time ts into rec. */
static void session_event(gagen *g, gg_session *s, int first, int64_t ts, gg_rec *rec)
{
    const gg_merchant *m = &g->ms[s->merchant];
    uint64_t r = gg_next(&g->rng);
    unsigned ev;

    if (first)
        ev = s->app ? GG_APP_OPEN : GG_PAGE_VIEW;
    else {
        ev = g->lut_event[r & (GG_LUT_SIZE - 1)];
        if ((ev == GG_APP_OPEN || ev == GG_APP_CRASH) && !s->app)
            ev = GG_PAGE_VIEW;
    }
    switch (ev) {
    case GG_PAGE_VIEW:
    case GG_APP_OPEN:
        s->page = page_of_rank(m, gg_alias_pick(&g->page_zipf[m->page_class], gg_next(&g->rng)));
        break;
    case GG_SEARCH:
        s->page = g->pg_search;
        break;
    case GG_BEGIN_CHECKOUT:
        s->page = g->pg_checkout;
        break;
    case GG_PURCHASE:
        s->page = g->pg_confirm;
        break;
    default: /* clicks, scrolls... happen on the page being read */
        break;
    }
    rec->value_cents = 0;
    if (ev == GG_PURCHASE) {
        unsigned step = g->lut_price[(r >> 12) & (GG_LUT_SIZE - 1)];
        unsigned idx = m->price_level + step;
        unsigned q = (r >> 24) & 1023; /* quantity: 80% one, 15% two, 5% three */
        if (idx >= GG_NPRICES)
            idx = GG_NPRICES - 1;
        rec->value_cents = gg_prices[idx] * (q < 819 ? 1u : q < 973 ? 2u : 3u);
    }
    g->seq++;
    rec->ts = ts;
    rec->id = (g->cfg.flags & GAGEN_RANDOM_IDS) ? gg_mix64(g->seq + g->id_key) : g->seq;
    rec->user_hash = s->user_hash;
    rec->session_hash = s->session_hash;
    rec->merchant = s->merchant;
    rec->user_no = s->user_no;
    rec->session_no = s->session_no;
    rec->page = s->page;
    rec->event = (uint8_t)ev;
    rec->referrer = s->referrer;
    rec->country = s->country;
    rec->device = s->device;
    rec->os = s->os;
    rec->browser = s->browser;
    rec->campaign = s->campaign;
}

static uint32_t pool_get(gagen *g)
{
    if (g->free_head != NONE) {
        uint32_t i = g->free_head;
        g->free_head = g->pool[i].next;
        return i;
    }
    if (g->pool_used == g->pool_cap) {
        uint32_t cap = g->pool_cap ? g->pool_cap * 2 : 4096;
        gg_session *p = cap > g->pool_cap ? realloc(g->pool, cap * sizeof *p) : NULL;
        if (!p)
            return NONE; /* the caller makes it a one-event session */
        g->pool = p;
        g->pool_cap = cap;
    }
    return g->pool_used++;
}

static void pool_put(gagen *g, uint32_t i)
{
    g->pool[i].next = g->free_head;
    g->free_head = i;
}

static void wheel_add(gagen *g, uint32_t i, uint64_t sec)
{
    uint64_t due = sec + g->lut_gap[gg_next(&g->rng) & (GG_LUT_SIZE - 1)];
    /* Only while far behind (never in practice): keep within the wheel. */
    if (due - g->cursor >= WHEEL)
        due = g->cursor + WHEEL - 1;
    uint32_t *slot = &g->wheel[due & (WHEEL - 1)];
    g->pool[i].next = *slot;
    *slot = i;
    g->active++;
}

/* A session whose next event is due at second sec, or NONE. */
static uint32_t wheel_due(gagen *g, uint64_t sec)
{
    while (g->active && g->cursor <= sec) {
        uint32_t *slot = &g->wheel[g->cursor & (WHEEL - 1)];
        uint32_t i = *slot;
        if (i == NONE) {
            g->cursor++;
            continue;
        }
        *slot = g->pool[i].next;
        g->active--;
        if (sec - g->cursor > TIMEOUT_S) {
            pool_put(g, i); /* the visitor left long ago */
            continue;
        }
        return i;
    }
    if (!g->active)
        g->cursor = sec; /* nothing pending: skip the empty seconds */
    return NONE;
}

/* ------------------------------------------------------------------------ */
/* The stream                                                               */
/* ------------------------------------------------------------------------ */

static void materialize(const gagen *g, const gg_rec *rec, tsagg_event *ev, tsagg_attr *a)
{
    const gg_str *page = &g->pages.page[rec->page];
    const gg_str *ref = &gg_referrer_names[rec->referrer];
    const gg_str *cty = &gg_country_names[rec->country];
    const gg_str *dev = &gg_device_names[rec->device];
    const gg_str *brw = &gg_browser_names[rec->browser];
    const gg_str *os = &gg_os_names[rec->os];
    uint32_t n = 6;

    ev->ts = rec->ts;
    ev->merchant = g->ids[rec->merchant];
    ev->event = gg_event_names[rec->event].s;
    ev->event_len = gg_event_names[rec->event].len;
    ev->flags = TSAGG_EVENT_HAS_ID;
    ev->user = rec->user_hash;
    ev->session = rec->session_hash;
    ev->id = rec->id;
    ev->attrs = a;
    a[0] = (tsagg_attr){ "page", 4, TSAGG_STR, { .s = { page->s, page->len } } };
    a[1] = (tsagg_attr){ "referrer", 8, TSAGG_STR, { .s = { ref->s, ref->len } } };
    a[2] = (tsagg_attr){ "country", 7, TSAGG_STR, { .s = { cty->s, cty->len } } };
    a[3] = (tsagg_attr){ "device", 6, TSAGG_STR, { .s = { dev->s, dev->len } } };
    a[4] = (tsagg_attr){ "browser", 7, TSAGG_STR, { .s = { brw->s, brw->len } } };
    a[5] = (tsagg_attr){ "os", 2, TSAGG_STR, { .s = { os->s, os->len } } };
    if (rec->event == GG_PURCHASE) {
        /* cents / 100.0 is the double nearest the decimal price, so it
         * prints and parses back as "19.99". */
        a[n++] = (tsagg_attr){ "value", 5, TSAGG_F64, { .f = rec->value_cents / 100.0 } };
    }
    if (rec->campaign) {
        const gg_str *c = &gg_campaign_names[rec->campaign - 1];
        a[n++] = (tsagg_attr){ "utm_campaign", 12, TSAGG_STR, { .s = { c->s, c->len } } };
    }
    ev->nattrs = n;
}

/* Produce the event at the next position into rec. */
static void step(gagen *g, gg_rec *rec)
{
    while (g->pos >= g->hour_end) {
        g->hour++;
        g->hour_begin = g->hour_end;
        g->hour_end = gg_positions_before(g, g->hour + 1);
    }
    /* Spread the hour's positions evenly, each jittered within its own
     * slice, so positions are in order. */
    uint64_t i = g->pos - g->hour_begin, c = g->hour_end - g->hour_begin;
    uint64_t lo = (uint64_t)(((gg_u128)i * (uint64_t)HOUR_US) / c);
    uint64_t hi = (uint64_t)(((gg_u128)(i + 1) * (uint64_t)HOUR_US) / c);
    uint64_t r = gg_next(&g->rng);
    int64_t off = (int64_t)g->hour * HOUR_US + (int64_t)lo +
                  (int64_t)gg_below32((uint32_t)(r >> 32), (uint32_t)(hi - lo));
    int64_t ts = g->cfg.start_us + off;
    uint32_t roll = (uint32_t)r;
    g->pos++;

    if (roll < g->dup_th && g->ring_n) {
        /* A client retry: the same event again, shortly after. */
        uint32_t back = 1 + gg_below32((uint32_t)gg_next(&g->rng), g->ring_n);
        *rec = g->ring[(g->ring_pos + RING - back) & (RING - 1)];
        g->st.duplicates++;
        return;
    }
    if (roll < g->late_th && off >= HOUR_US) {
        /* Sent from an offline client: a one-event session back in time. */
        gg_session s;
        int64_t span = off < 48 * HOUR_US ? off : 48 * HOUR_US;
        int64_t late = HOUR_US + (int64_t)gg_below64(&g->rng, (uint64_t)(span - HOUR_US) + 1);
        session_start(g, &s, pick_merchant(g, g->hour));
        session_event(g, &s, 0, ts - late, rec);
        g->st.late++;
    } else {
        uint64_t sec = (uint64_t)off / 1000000;
        uint32_t si = wheel_due(g, sec);
        if (si != NONE) {
            gg_session *s = &g->pool[si];
            session_event(g, s, 0, ts, rec);
            if (s->remaining) {
                s->remaining--;
                wheel_add(g, si, sec);
            } else {
                pool_put(g, si);
            }
        } else {
            uint32_t rank = pick_merchant(g, g->hour);
            si = pool_get(g);
            if (si == NONE) {
                gg_session s;
                session_start(g, &s, rank);
                session_event(g, &s, 1, ts, rec);
            } else {
                gg_session *s = &g->pool[si];
                session_start(g, s, rank);
                session_event(g, s, 1, ts, rec);
                if (s->remaining) {
                    s->remaining--;
                    wheel_add(g, si, sec);
                } else {
                    pool_put(g, si);
                }
            }
        }
    }
    g->ring[g->ring_pos] = *rec;
    g->ring_pos = (g->ring_pos + 1) & (RING - 1);
    if (g->ring_n < RING)
        g->ring_n++;
}

size_t gagen_next(gagen *g, tsagg_event *out, size_t cap)
{
    if (!g || !out)
        return 0;
    size_t want = cap < BATCH_MAX ? cap : BATCH_MAX;
    if (want > g->bcap && gg_batch_reserve(g, want) != 0)
        want = g->bcap; /* keep going with the batch size we have */
    uint64_t left = g->cfg.events - g->pos;
    if (want > left)
        want = (size_t)left;
    for (size_t k = 0; k < want; k++) {
        step(g, &g->brec[k]);
        materialize(g, &g->brec[k], &out[k], g->battr + k * NATTRS_MAX);
    }
    g->bn = want;
    g->bids_ready = 0;
    g->st.events += want;
    return want;
}

const gagen_ids *gagen_batch_ids(gagen *g)
{
    if (!g || !g->bn)
        return NULL;
    if (g->bids_ready)
        return g->bids;
    for (size_t k = 0; k < g->bn; k++) {
        const gg_rec *rec = &g->brec[k];
        char *u = g->bid_arena + k * IDS_BYTES, *s = u + 32;
        size_t ul = fmt_user(u, g->ids[rec->merchant], rec->user_no);
        size_t sl = fmt_session(s, u, ul, rec->session_no);
        u[ul] = 0;
        s[sl] = 0;
        g->bids[k] = (gagen_ids){ u, s, (uint32_t)ul, (uint32_t)sl };
    }
    g->bids_ready = 1;
    return g->bids;
}

void gagen_get_stats(const gagen *g, gagen_stats *out)
{
    *out = g->st;
}
