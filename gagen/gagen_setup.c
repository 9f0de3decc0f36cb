/* gagen_setup.c - configuration, the merchant population and the lookup
 * tables the stream draws from; the merchant accessors. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gagen.h"
#include "gagen_internal.h"

void gagen_config_init(gagen_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->seed = 1;
    cfg->events = 1000000;
    cfg->days = 30;
    cfg->merchants = 1000;
    cfg->start_us = GAGEN_DEFAULT_START_US;
    cfg->zipf_s = 1.1;
    cfg->late_fraction = 0.01;
    cfg->dup_fraction = 0.005;
    cfg->extra_fraction = 0.02;
    cfg->flags = 0;
}

static int frac_ok(double f)
{
    return f >= 0.0 && f <= 1.0; /* false for NaN */
}

static int config_ok(const gagen_config *c)
{
    /* Keep every timestamp within years 0001..9999 for the formatters. */
    const int64_t lo = INT64_C(-62135596800000000), hi = INT64_C(253402300799000000);
    if (c->days < 1 || c->days > GAGEN_DAYS_MAX)
        return 0;
    if (c->merchants < 1 || c->merchants > GAGEN_MERCHANTS_MAX)
        return 0;
    if (!(c->zipf_s >= 0.0 && c->zipf_s <= 4.0))
        return 0;
    if (!frac_ok(c->late_fraction) || !frac_ok(c->dup_fraction) ||
        !frac_ok(c->extra_fraction) || c->late_fraction + c->dup_fraction > 1.0)
        return 0;
    if (c->flags & ~GAGEN_RANDOM_IDS)
        return 0;
    if (c->start_us < lo ||
        c->start_us > hi - (int64_t)c->days * 24 * HOUR_US)
        return 0;
    return 1;
}

static uint32_t frac32(double f)
{
    double x = f * 4294967296.0;
    return x >= 4294967295.0 ? UINT32_MAX : (uint32_t)x;
}

/* ------------------------------------------------------------------------ */
/* Setup                                                                    */
/* ------------------------------------------------------------------------ */

static int setup_merchants(gagen *g, void *scratch)
{
    uint32_t n = g->nm;
    double *w = malloc(n * sizeof *w);
    uint8_t tz_lut[GG_LUT_SIZE];
    double tzw[GG_NTZ];
    uint32_t count[GG_NTZ] = { 0 };
    gg_rng r;
    if (!w)
        return -1;
    gg_rng_seed(&r, g->cfg.seed ^ UINT64_C(0x6d65726368616e74)); /* "merchant" */

    double sum = 0;
    for (uint32_t i = 0; i < n; i++)
        sum += (w[i] = pow((double)i + 1.0, -g->cfg.zipf_s));
    for (uint32_t i = 0; i < n; i++)
        g->share[i] = w[i] / sum;

    /* Ids 1..n in random order: a benchmark that always picks id 1 gets an
     * arbitrary merchant, not the largest. */
    for (uint32_t i = 0; i < n; i++)
        g->ids[i] = i + 1;
    for (uint32_t i = n - 1; i > 0; i--) {
        uint32_t j = (uint32_t)gg_below64(&r, (uint64_t)i + 1);
        uint32_t t = g->ids[i];
        g->ids[i] = g->ids[j];
        g->ids[j] = t;
    }
    for (uint32_t i = 0; i < n; i++)
        g->rank_of[g->ids[i] - 1] = i;

    for (int t = 0; t < GG_NTZ; t++)
        tzw[t] = gg_tzs[t].weight;
    gg_lut_build(tz_lut, tzw, GG_NTZ);
    for (uint32_t i = 0; i < n; i++) {
        gg_merchant *m = &g->ms[i];
        uint64_t x = gg_next(&r), y = gg_next(&r);
        const gg_tz *tz;
        m->tz = tz_lut[x & (GG_LUT_SIZE - 1)];
        tz = &gg_tzs[m->tz];
        m->home = tz->home[gg_below32((uint32_t)(x >> 16), tz->nhome)];
        m->page_class = i < 10 ? 3 : i < 100 ? 2 : i < 1000 ? 1 : 0;
        m->price_level = (uint8_t)gg_below32((uint32_t)(x >> 32), 12);
        m->pc_off = (uint16_t)(y & 63);
        m->pc_stride = (uint16_t)(((y >> 6) & 63) | 1);
        m->pt_off = (uint16_t)((y >> 12) & 8191);
        m->pt_stride = (uint16_t)(((y >> 25) & 8191) | 1);
        count[m->tz]++;
    }

    /* Group ranks by time zone (counting sort keeps them in rank order),
     * one alias table per zone over its merchants' Zipf weights. */
    g->grp_off[0] = 0;
    for (int t = 0; t < GG_NTZ; t++)
        g->grp_off[t + 1] = g->grp_off[t] + count[t];
    uint32_t fill[GG_NTZ];
    memcpy(fill, g->grp_off, sizeof fill);
    for (uint32_t i = 0; i < n; i++)
        g->members[fill[g->ms[i].tz]++] = i;
    double mass[GG_NTZ];
    g->ngroups = 0;
    for (int t = 0; t < GG_NTZ; t++) {
        uint32_t off = g->grp_off[t], cnt = count[t];
        mass[t] = 0;
        g->grp[t].thresh = g->grp_store + off;
        g->grp[t].alias = g->grp_store + n + off;
        g->grp[t].n = 0;
        if (!cnt)
            continue;
        double *gw = malloc(cnt * sizeof *gw);
        if (!gw) {
            free(w);
            return -1;
        }
        for (uint32_t k = 0; k < cnt; k++)
            mass[t] += (gw[k] = w[g->members[off + k]]);
        gg_alias_build(&g->grp[t], gw, cnt, scratch);
        free(gw);
        g->groups[g->ngroups++] = (uint8_t)t;
    }
    free(w);

    /* For each hour of the day (counted from the start time), the traffic
     * of each zone: its mass times the curve at its local hour. */
    int64_t start_min = g->cfg.start_us / 60000000;
    if (g->cfg.start_us % 60000000 < 0)
        start_min--;
    g->hour_cum[0] = 0;
    for (int j = 0; j < 24; j++) {
        double hw[GG_NTZ], tot = 0;
        for (uint32_t k = 0; k < g->ngroups; k++) {
            const gg_tz *tz = &gg_tzs[g->groups[k]];
            int64_t mid = start_min + j * 60 + 30 + tz->offset_min;
            int64_t lmin = ((mid % 1440) + 1440) % 1440;
            tot += (hw[k] = mass[g->groups[k]] * gg_diurnal[lmin / 60]);
        }
        g->hour_grp[j].thresh = g->hour_store[j];
        g->hour_grp[j].alias = g->hour_store[j] + GG_NTZ;
        gg_alias_build(&g->hour_grp[j], hw, g->ngroups, scratch);
        g->hour_cum[j + 1] = g->hour_cum[j] + tot;
    }
    return 0;
}

/* Quantile table of a mixture of two geometric distributions on 1, 2, ...
 * (share a with mean m1, the rest with mean m2), capped. Products instead
 * of log() keep it bit-identical everywhere. */
static void lut_geo_mix(uint16_t *lut, double a, double m1, double m2, unsigned cap)
{
    double q1 = 1.0 - 1.0 / m1, q2 = 1.0 - 1.0 / m2, p1 = 1.0, p2 = 1.0;
    unsigned k = 1;
    p1 *= q1;
    p2 *= q2;
    for (unsigned j = 0; j < GG_LUT_SIZE; j++) {
        double u = (j + 0.5) / GG_LUT_SIZE;
        /* CDF(k) = a (1 - q1^k) + (1 - a)(1 - q2^k) */
        while (k < cap && a * (1.0 - p1) + (1.0 - a) * (1.0 - p2) < u) {
            k++;
            p1 *= q1;
            p2 *= q2;
        }
        lut[j] = (uint16_t)k;
    }
}

static uint16_t find_page(const gg_pages *p, const char *path)
{
    for (uint32_t i = 0; i < GG_NPAGES; i++)
        if (strcmp(p->page[i].s, path) == 0)
            return (uint16_t)i;
    return 0;
}

static int setup_tables(gagen *g, void *scratch)
{
    gg_lut_build(g->lut_event, gg_event_weights, GG_NEVENTS);
    gg_lut_build(g->lut_device, gg_device_weights, GG_NDEVICES);
    for (int d = 0; d < GG_NDEVICES; d++)
        gg_lut_build(g->lut_os[d], gg_os_weights[d], GG_NOS);
    for (int o = 0; o < GG_NOS; o++)
        gg_lut_build(g->lut_browser[o], gg_browser_weights[o], GG_NBROWSERS);
    gg_lut_build(g->lut_country, gg_country_weights, GG_NCOUNTRIES);
    gg_lut_build(g->lut_referrer, gg_referrer_weights, GG_NREFERRERS);
    /* Step above the merchant's price level: mostly mid-range items. */
    static const double price_steps[12] = { 4, 8, 12, 14, 14, 12, 10, 8, 6, 5, 4, 3 };
    gg_lut_build(g->lut_price, price_steps, 12);
    /* Events per session: many short visits, some long ones (mean ~5.7). */
    lut_geo_mix(g->lut_len, 0.7, 3.0, 12.0, 300);
    /* Seconds to the next event: mostly reading a page, some long reads;
     * capped below the 30-minute timeout. */
    lut_geo_mix(g->lut_gap, 0.85, 25.0, 180.0, 1700);

    /* Zipf(1) page popularity for each page-count class. */
    uint32_t off = 0;
    for (int c = 0; c < PAGE_CLASSES; c++) {
        uint32_t np = 64u << c;
        double *pw = malloc(np * sizeof *pw);
        if (!pw)
            return -1;
        for (uint32_t k = 0; k < np; k++)
            pw[k] = 1.0 / (k + 1.0);
        g->page_zipf[c].thresh = g->page_store + off;
        g->page_zipf[c].alias = g->page_store + off + np;
        gg_alias_build(&g->page_zipf[c], pw, np, scratch);
        free(pw);
        off += 2 * np;
    }
    if (gg_pages_build(&g->pages) != 0)
        return -1;
    g->pg_search = find_page(&g->pages, "/search");
    g->pg_checkout = find_page(&g->pages, "/checkout");
    g->pg_confirm = find_page(&g->pages, "/checkout/confirmation");
    return 0;
}

/* Positions before the end of hour h (of the range): N times the traffic
 * share of hours [0, h). Exact N at the end, monotonic in between. */
uint64_t gg_positions_before(const gagen *g, uint64_t h)
{
    if (h >= g->hours)
        return g->cfg.events;
    double frac = ((double)(h / 24) + g->hour_cum[h % 24] / g->hour_cum[24]) / g->cfg.days;
    uint64_t p = (uint64_t)((double)g->cfg.events * frac);
    return p > g->cfg.events ? g->cfg.events : p;
}

int gg_batch_reserve(gagen *g, size_t want)
{
    size_t per = sizeof(gg_rec) + NATTRS_MAX * sizeof(tsagg_attr) + sizeof(gagen_ids) + IDS_BYTES;
    void *mem = malloc(want * per);
    if (!mem)
        return -1;
    free(g->bmem);
    g->bmem = mem;
    g->battr = mem; /* the most aligned member first */
    g->brec = (gg_rec *)(g->battr + want * NATTRS_MAX);
    g->bids = (gagen_ids *)(g->brec + want);
    g->bid_arena = (char *)(g->bids + want);
    g->bcap = want;
    g->bn = 0;
    g->bids_ready = 0;
    return 0;
}

gagen *gagen_create(const gagen_config *cfg)
{
    gagen_config def;
    if (!cfg) {
        gagen_config_init(&def);
        cfg = &def;
    }
    if (!config_ok(cfg)) {
        errno = EINVAL;
        return NULL;
    }
    gagen *g = calloc(1, sizeof *g);
    if (!g)
        goto nomem;
    g->cfg = *cfg;
    g->nm = cfg->merchants;
    g->hours = (uint64_t)cfg->days * 24;
    gg_rng_seed(&g->rng, cfg->seed);
    g->id_key = gg_mix64(cfg->seed ^ UINT64_C(0x6964)); /* "id" */
    g->dup_th = frac32(cfg->dup_fraction);
    g->late_th = frac32(cfg->dup_fraction + cfg->late_fraction);
    g->extra_th = frac32(cfg->extra_fraction);
    g->new_user_th = frac32(NEW_USER_SHARE);
    g->home_th = frac32(HOME_SHARE);
    g->app_th = frac32(APP_SHARE);

    uint32_t n = g->nm;
    size_t scratch_n = n > 512 ? n : 512;
    void *scratch = malloc(gg_alias_scratch_bytes((uint32_t)scratch_n));
    g->ids = malloc(n * sizeof *g->ids);
    g->rank_of = malloc(n * sizeof *g->rank_of);
    g->share = malloc(n * sizeof *g->share);
    g->ms = calloc(n, sizeof *g->ms);
    g->members = malloc(n * sizeof *g->members);
    g->grp_store = malloc(2 * (size_t)n * sizeof *g->grp_store);
    g->page_store = malloc(2 * (64 + 128 + 256 + 512) * sizeof *g->page_store);
    if (!scratch || !g->ids || !g->rank_of || !g->share || !g->ms || !g->members ||
        !g->grp_store || !g->page_store || setup_tables(g, scratch) != 0 ||
        setup_merchants(g, scratch) != 0 || gg_batch_reserve(g, BATCH_INIT) != 0) {
        free(scratch);
        goto nomem;
    }
    free(scratch);

    for (uint32_t i = 0; i < WHEEL; i++)
        g->wheel[i] = NONE;
    g->free_head = NONE;
    g->hour = 0;
    g->hour_begin = 0;
    g->hour_end = gg_positions_before(g, 1);
    return g;

nomem:
    gagen_free(g);
    errno = ENOMEM;
    return NULL;
}

void gagen_free(gagen *g)
{
    if (!g)
        return;
    free(g->ids);
    free(g->rank_of);
    free(g->share);
    free(g->ms);
    free(g->members);
    free(g->grp_store);
    free(g->page_store);
    gg_pages_free(&g->pages);
    free(g->pool);
    free(g->bmem);
    free(g);
}

size_t gagen_merchant_count(const gagen *g)
{
    return g->nm;
}

uint64_t gagen_merchant_by_rank(const gagen *g, size_t rank)
{
    return rank < g->nm ? g->ids[rank] : 0;
}

double gagen_merchant_share(const gagen *g, size_t rank)
{
    return rank < g->nm ? g->share[rank] : 0.0;
}

size_t gagen_merchant_rank(const gagen *g, uint64_t merchant)
{
    if (merchant < 1 || merchant > g->nm)
        return SIZE_MAX;
    return g->rank_of[merchant - 1];
}

int gagen_merchant_utc_offset(const gagen *g, uint64_t merchant)
{
    size_t r = gagen_merchant_rank(g, merchant);
    return r == SIZE_MAX ? 0 : gg_tzs[g->ms[r].tz].offset_min;
}
