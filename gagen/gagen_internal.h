/* gagen_internal.h - PRNG, samplers and static tables of the generator. */
#ifndef GAGEN_INTERNAL_H
#define GAGEN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "gagen.h"

/* ------------------------------------------------------------------------ */
/* PRNG: xoshiro256** seeded through splitmix64 (never rand(): the stream
 * must not depend on the C library or on other users of it).              */
/* ------------------------------------------------------------------------ */

__extension__ typedef unsigned __int128 gg_u128; /* GCC/Clang: 64x64->128 products */

typedef struct gg_rng {
    uint64_t s[4];
} gg_rng;

static inline uint64_t gg_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* A bijection of 64-bit integers (the splitmix64 finaliser). */
static inline uint64_t gg_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static inline void gg_rng_seed(gg_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = gg_splitmix64(&x);
}

static inline uint64_t gg_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t gg_next(gg_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = gg_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = gg_rotl(s[3], 45);
    return result;
}

/* Uniform in [0, n) from 32 random bits (Lemire; the bias is < n / 2^32,
 * irrelevant here). */
static inline uint32_t gg_below32(uint32_t bits, uint32_t n)
{
    return (uint32_t)(((uint64_t)bits * n) >> 32);
}

/* Uniform in [0, n) for 64-bit n. */
static inline uint64_t gg_below64(gg_rng *r, uint64_t n)
{
    return (uint64_t)(((gg_u128)gg_next(r) * n) >> 64);
}

/* ------------------------------------------------------------------------ */
/* Samplers                                                                 */
/* ------------------------------------------------------------------------ */

/* Walker/Vose alias table: O(1) sampling from n weights with one 64-bit
 * random number. thresh[i] == UINT32_MAX with alias[i] == i means "always
 * i". */
typedef struct gg_alias {
    uint32_t *thresh;
    uint32_t *alias;
    uint32_t n;
} gg_alias;

/* Build into caller-provided arrays of n entries; scratch holds 2n uint32
 * and n doubles worth of bytes (see gg_alias_scratch_bytes). */
size_t gg_alias_scratch_bytes(uint32_t n);
void gg_alias_build(gg_alias *a, const double *w, uint32_t n, void *scratch);

static inline uint32_t gg_alias_pick(const gg_alias *a, uint64_t r)
{
    uint32_t i = gg_below32((uint32_t)r, a->n);
    return (uint32_t)(r >> 32) < a->thresh[i] ? i : a->alias[i];
}

/* Categorical lookup table: 4096 entries, each a category index. A 12-bit
 * random number picks a category with ~1/4096 resolution: enough for mixes
 * whose smallest share is ~0.5%, and one load per draw. */
#define GG_LUT_BITS 12
#define GG_LUT_SIZE (1u << GG_LUT_BITS)
void gg_lut_build(uint8_t *lut, const double *w, size_t n);

/* ------------------------------------------------------------------------ */
/* Static tables (gagen_tables.c)                                           */
/* ------------------------------------------------------------------------ */

typedef struct gg_str {
    const char *s;
    uint32_t len;
} gg_str;

enum gg_event {
    GG_PAGE_VIEW, GG_CLICK, GG_SCROLL, GG_SEARCH, GG_ADD_TO_CART,
    GG_BEGIN_CHECKOUT, GG_PURCHASE, GG_LOGIN, GG_SIGN_UP, GG_SHARE,
    GG_VIDEO_START, GG_APP_OPEN, GG_APP_CRASH, GG_NEVENTS
};
extern const gg_str gg_event_names[GG_NEVENTS];
/* Weights of the events after the first of a session (which is page_view,
 * or app_open in app sessions). */
extern const double gg_event_weights[GG_NEVENTS];

enum { GG_NDEVICES = 3, GG_NOS = 5, GG_NBROWSERS = 5 };
enum { GG_DESKTOP, GG_MOBILE, GG_TABLET };
enum { GG_WINDOWS, GG_MACOS, GG_LINUX, GG_ANDROID, GG_IOS };
extern const gg_str gg_device_names[GG_NDEVICES];
extern const gg_str gg_os_names[GG_NOS];
extern const gg_str gg_browser_names[GG_NBROWSERS];
extern const double gg_device_weights[GG_NDEVICES];
extern const double gg_os_weights[GG_NDEVICES][GG_NOS];
extern const double gg_browser_weights[GG_NOS][GG_NBROWSERS];

#define GG_NCOUNTRIES 32
extern const gg_str gg_country_names[GG_NCOUNTRIES];
extern const double gg_country_weights[GG_NCOUNTRIES];

#define GG_NREFERRERS 16
extern const gg_str gg_referrer_names[GG_NREFERRERS];
extern const double gg_referrer_weights[GG_NREFERRERS];

#define GG_NCAMPAIGNS 8
extern const gg_str gg_campaign_names[GG_NCAMPAIGNS];

/* Fixed-offset time zones merchants live in (no DST), with the share of
 * merchants and up to 4 home countries (indexes into gg_country_names). */
#define GG_NTZ 16
typedef struct gg_tz {
    int offset_min;
    double weight;
    uint8_t home[4];
    uint8_t nhome;
} gg_tz;
extern const gg_tz gg_tzs[GG_NTZ];

/* Relative traffic by local hour of day (peak in the evening). */
extern const double gg_diurnal[24];

/* Purchase prices in cents, ascending. */
#define GG_NPRICES 24
extern const uint32_t gg_prices[GG_NPRICES];

/* Page paths: index 0 is "/", then GG_PAGES_COMMON common paths, then
 * GG_PAGES_TAIL generated ones (products, categories, blog, help). */
#define GG_PAGES_COMMON 64u
#define GG_PAGES_TAIL 8192u
#define GG_NPAGES (1u + GG_PAGES_COMMON + GG_PAGES_TAIL)

typedef struct gg_pages {
    gg_str page[GG_NPAGES];
    char *arena;
} gg_pages;

int gg_pages_build(gg_pages *p);
void gg_pages_free(gg_pages *p);

/* Decimal digits of v into p (no NUL); returns the count. */
size_t gg_u64_to_dec(uint64_t v, char *p);

/* ------------------------------------------------------------------------ */
/* Generator state (gagen_setup.c builds it, gagen.c runs the stream)       */
/* ------------------------------------------------------------------------ */

#define BATCH_MAX 16384u
#define BATCH_INIT 1024u
#define NATTRS_MAX 8u
#define IDS_BYTES 96u          /* per event: "u-<m>-<u>\0" + "s-<m>-<u>-<s>\0" */
#define RING 1024u             /* recent events duplicates are drawn from */
#define WHEEL 4096u            /* seconds; > the longest gap (1700 s) */
#define TIMEOUT_S 1800         /* session timeout, as in GA */
#define NONE UINT32_MAX
#define HOUR_US INT64_C(3600000000)
#define NEW_USER_SHARE 0.4     /* ~2.5 sessions per user */
#define HOME_SHARE 0.6         /* visitors from the merchant's home country */
#define APP_SHARE 0.3          /* mobile/tablet sessions that are in-app */
#define PAGE_CLASSES 4         /* 64, 128, 256, 512 pages */

typedef struct gg_merchant {
    uint32_t n_users;
    uint32_t n_sessions;
    uint16_t pc_off, pc_stride; /* page ranks 1..39 -> common paths */
    uint16_t pt_off, pt_stride; /* ranks >= 40 -> the generated tail */
    uint8_t tz;
    uint8_t home;               /* country index */
    uint8_t page_class;
    uint8_t price_level;
} gg_merchant;

typedef struct gg_session {
    uint64_t user_hash, session_hash;
    uint32_t merchant; /* rank */
    uint32_t user_no, session_no;
    uint32_t next;     /* wheel chain or free list */
    uint16_t page;     /* current page, pool index */
    uint16_t remaining;
    uint8_t referrer, country, device, os, browser, campaign, app;
} gg_session;

/* An event in compact form: what the batch, the duplicate ring and the
 * string-id formatter need. */
typedef struct gg_rec {
    int64_t ts;
    uint64_t id;
    uint64_t user_hash, session_hash;
    uint32_t merchant, user_no, session_no, value_cents;
    uint16_t page;
    uint8_t event, referrer, country, device, os, browser;
    uint8_t campaign; /* 0: none, else 1 + index */
} gg_rec;

struct gagen {
    gagen_config cfg;
    gg_rng rng;
    uint32_t dup_th, late_th; /* on 32 random bits: dup below dup_th, late below late_th */
    uint32_t extra_th, new_user_th, home_th, app_th;

    /* merchants, by rank */
    uint32_t nm;
    uint32_t *ids;     /* rank -> id */
    uint32_t *rank_of; /* id - 1 -> rank */
    double *share;
    gg_merchant *ms;
    uint32_t *members; /* ranks grouped by time zone */
    uint32_t grp_off[GG_NTZ + 1];
    gg_alias grp[GG_NTZ];
    uint32_t *grp_store;
    uint8_t groups[GG_NTZ]; /* time zones that have merchants */
    uint32_t ngroups;
    gg_alias hour_grp[24];  /* over groups[], for each hour of the day */
    uint32_t hour_store[24][2 * GG_NTZ];
    double hour_cum[25];    /* traffic of the first j hours of a day */

    uint8_t lut_event[GG_LUT_SIZE], lut_device[GG_LUT_SIZE];
    uint8_t lut_os[GG_NDEVICES][GG_LUT_SIZE], lut_browser[GG_NOS][GG_LUT_SIZE];
    uint8_t lut_country[GG_LUT_SIZE], lut_referrer[GG_LUT_SIZE];
    uint8_t lut_price[GG_LUT_SIZE];
    uint16_t lut_len[GG_LUT_SIZE], lut_gap[GG_LUT_SIZE];
    gg_alias page_zipf[PAGE_CLASSES];
    uint32_t *page_store;
    gg_pages pages;
    uint16_t pg_search, pg_checkout, pg_confirm;

    /* time process */
    uint64_t hours, hour, hour_begin, hour_end; /* positions of this hour */
    uint64_t pos;                               /* positions used */

    /* sessions */
    gg_session *pool;
    uint32_t pool_cap, pool_used, free_head, active;
    uint64_t cursor; /* wheel: seconds before it hold nothing */
    uint32_t wheel[WHEEL];

    gg_rec ring[RING];
    uint32_t ring_n, ring_pos;
    uint64_t seq, id_key;

    /* last batch */
    void *bmem;
    gg_rec *brec;
    tsagg_attr *battr;
    gagen_ids *bids;
    char *bid_arena;
    size_t bcap, bn;
    int bids_ready;

    gagen_stats st;
};

/* Positions (events) before the start of hour h of the range. */
uint64_t gg_positions_before(const gagen *g, uint64_t h);
/* Batch buffers for want events; 0 or -1 (out of memory, old ones kept). */
int gg_batch_reserve(gagen *g, size_t want);

#endif
