/* gagen_tables.c - the mixes the generator draws from, the page pool, and
 * the sampler builders. The shares are rough public web-analytics figures;
 * docs/tsagg-gen.md lists them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gagen_internal.h"

#define S(x) { x, sizeof(x) - 1 }

const gg_str gg_event_names[GG_NEVENTS] = {
    S("page_view"), S("click"), S("scroll"), S("search"), S("add_to_cart"),
    S("begin_checkout"), S("purchase"), S("login"), S("sign_up"), S("share"),
    S("video_start"), S("app_open"), S("app_crash"),
};

/* page_view is lower than its overall ~70% because every session's first
 * event is a page_view (or app_open). */
const double gg_event_weights[GG_NEVENTS] = {
    [GG_PAGE_VIEW] = 66.0, [GG_CLICK] = 11.0, [GG_SCROLL] = 9.0,
    [GG_SEARCH] = 3.0, [GG_ADD_TO_CART] = 4.0, [GG_BEGIN_CHECKOUT] = 1.8,
    [GG_PURCHASE] = 1.4, [GG_LOGIN] = 1.5, [GG_SIGN_UP] = 0.7,
    [GG_SHARE] = 0.8, [GG_VIDEO_START] = 1.0, [GG_APP_OPEN] = 0.7,
    [GG_APP_CRASH] = 0.3,
};

const gg_str gg_device_names[GG_NDEVICES] = { S("desktop"), S("mobile"), S("tablet") };
const gg_str gg_os_names[GG_NOS] = {
    S("Windows"), S("macOS"), S("Linux"), S("Android"), S("iOS"),
};
const gg_str gg_browser_names[GG_NBROWSERS] = {
    S("Chrome"), S("Safari"), S("Firefox"), S("Edge"), S("Samsung"),
};

const double gg_device_weights[GG_NDEVICES] = { 42, 53, 5 };

/* os given device */
const double gg_os_weights[GG_NDEVICES][GG_NOS] = {
    [GG_DESKTOP] = { [GG_WINDOWS] = 70, [GG_MACOS] = 24, [GG_LINUX] = 6 },
    [GG_MOBILE] = { [GG_ANDROID] = 68, [GG_IOS] = 32 },
    [GG_TABLET] = { [GG_ANDROID] = 45, [GG_IOS] = 55 },
};

/* browser given os: Chrome, Safari, Firefox, Edge, Samsung */
const double gg_browser_weights[GG_NOS][GG_NBROWSERS] = {
    [GG_WINDOWS] = { 68, 0, 9, 23, 0 },
    [GG_MACOS] = { 42, 52, 5, 1, 0 },
    [GG_LINUX] = { 62, 0, 38, 0, 0 },
    [GG_ANDROID] = { 78, 0, 3, 0, 19 },
    [GG_IOS] = { 12, 88, 0, 0, 0 },
};

const gg_str gg_country_names[GG_NCOUNTRIES] = {
    S("US"), S("IN"), S("BR"), S("DE"), S("GB"), S("FR"), S("JP"), S("CN"),
    S("CA"), S("ID"), S("MX"), S("IT"), S("ES"), S("RU"), S("TR"), S("KR"),
    S("AU"), S("NL"), S("PL"), S("VN"), S("PH"), S("NG"), S("EG"), S("NP"),
    S("PK"), S("SE"), S("CH"), S("AR"), S("ZA"), S("SG"), S("AE"), S("IE"),
};
enum {
    C_US, C_IN, C_BR, C_DE, C_GB, C_FR, C_JP, C_CN, C_CA, C_ID, C_MX, C_IT,
    C_ES, C_RU, C_TR, C_KR, C_AU, C_NL, C_PL, C_VN, C_PH, C_NG, C_EG, C_NP,
    C_PK, C_SE, C_CH, C_AR, C_ZA, C_SG, C_AE, C_IE,
};

/* Visitors from anywhere (the merchant's home country is added on top). */
const double gg_country_weights[GG_NCOUNTRIES] = {
    22, 10, 6, 6, 6, 5, 5, 3, 3, 3, 3, 3, 3, 2, 2, 2,
    2, 2, 2, 2, 2, 1, 1, 0.5, 1, 1, 1, 1, 1, 1, 1, 0.5,
};

/* "" is direct traffic (no referrer). */
const gg_str gg_referrer_names[GG_NREFERRERS] = {
    S(""), S("google.com"), S("facebook.com"), S("bing.com"),
    S("instagram.com"), S("t.co"), S("youtube.com"), S("duckduckgo.com"),
    S("linkedin.com"), S("reddit.com"), S("news.ycombinator.com"),
    S("baidu.com"), S("yandex.ru"), S("pinterest.com"), S("tiktok.com"),
    S("mail.google.com"),
};
const double gg_referrer_weights[GG_NREFERRERS] = {
    38, 31, 8, 4, 4, 2, 2, 2, 1.5, 1.5, 0.5, 1, 1, 1.5, 1.5, 1,
};

const gg_str gg_campaign_names[GG_NCAMPAIGNS] = {
    S("spring_sale"), S("black_friday"), S("newsletter_2026_10"),
    S("retargeting"), S("brand_search"), S("launch_week"),
    S("influencer_q4"), S("holiday_gift_guide"),
};

const gg_tz gg_tzs[GG_NTZ] = {
    { -480, 7, { C_US, C_CA }, 2 },
    { -420, 3, { C_US, C_MX }, 2 },
    { -360, 5, { C_US, C_MX }, 2 },
    { -300, 12, { C_US, C_CA }, 2 },
    { -180, 6, { C_BR, C_AR }, 2 },
    { 0, 7, { C_GB, C_IE }, 2 },
    { 60, 16, { C_DE, C_FR, C_IT, C_ES }, 4 },
    { 120, 3, { C_ZA, C_EG }, 2 },
    { 180, 4, { C_RU, C_TR }, 2 },
    { 240, 1, { C_AE }, 1 },
    { 300, 1, { C_PK }, 1 },
    { 330, 10, { C_IN }, 1 },
    { 345, 1, { C_NP }, 1 },
    { 420, 4, { C_ID, C_VN }, 2 },
    { 480, 6, { C_CN, C_PH, C_SG }, 3 },
    { 540, 6, { C_JP, C_KR }, 2 },
};

/* Local hour 0..23: quiet 2-5 am, a midday plateau, the peak at 19-21. */
const double gg_diurnal[24] = {
    0.40, 0.25, 0.17, 0.13, 0.12, 0.16, 0.30, 0.55, 0.80, 0.95, 1.05, 1.10,
    1.15, 1.10, 1.05, 1.05, 1.10, 1.25, 1.45, 1.65, 1.75, 1.60, 1.20, 0.75,
};

const uint32_t gg_prices[GG_NPRICES] = {
    299, 499, 799, 999, 1250, 1499, 1999, 2499, 2999, 3499, 3999, 4900,
    4999, 5999, 7999, 9900, 9999, 12900, 14999, 19999, 24900, 29999, 49900,
    99900,
};

size_t gg_u64_to_dec(uint64_t v, char *p)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

/* ------------------------------------------------------------------------ */
/* Page pool                                                                */
/* ------------------------------------------------------------------------ */

static const char *const common_pages[GG_PAGES_COMMON] = {
    "/pricing", "/about", "/contact", "/blog", "/login", "/signup", "/cart",
    "/checkout", "/search", "/account", "/faq", "/help", "/products", "/shop",
    "/sale", "/new", "/features", "/docs", "/careers", "/terms", "/privacy",
    "/shipping", "/returns", "/gift-cards", "/stores", "/wishlist", "/orders",
    "/settings", "/category/men", "/category/women", "/category/kids",
    "/category/shoes", "/category/electronics", "/category/home",
    "/category/beauty", "/category/sports", "/category/books", "/category/toys",
    "/blog/announcements", "/news", "/events", "/partners", "/press",
    "/support", "/download", "/app", "/compare", "/reviews", "/deals",
    "/brands", "/collections/summer", "/collections/winter",
    "/collections/new-arrivals", "/collections/best-sellers", "/account/orders",
    "/account/settings", "/checkout/shipping", "/checkout/payment",
    "/checkout/confirmation", "/de/\303\274ber-uns", "/fr/", "/es/", "/ja/",
    "/search?q=gift+ideas",
};

static const char *const words[64] = {
    "red", "blue", "green", "black", "white", "summer", "winter", "classic",
    "organic", "vintage", "smart", "wireless", "leather", "cotton", "wool",
    "linen", "running", "hiking", "yoga", "travel", "kitchen", "garden",
    "office", "gaming", "audio", "camera", "phone", "laptop", "watch", "bag",
    "jacket", "dress", "shirt", "sneakers", "boots", "lamp", "chair", "table",
    "coffee", "tea", "chocolate", "skincare", "perfume", "toy", "puzzle",
    "book", "guide", "review", "tips", "how-to", "best", "new", "sale",
    "gift", "kids", "women", "men", "pet", "bike", "outdoor", "home", "eco",
    "mini", "pro",
};

int gg_pages_build(gg_pages *p)
{
    /* Longest generated path is well under 64 bytes. */
    size_t cap = 2 + GG_PAGES_COMMON * 64 + GG_PAGES_TAIL * 64;
    char *arena = malloc(cap);
    if (!arena)
        return -1;
    size_t off = 0;
    p->arena = arena;
    p->page[0] = (gg_str){ arena, 1 };
    memcpy(arena, "/", 2);
    off = 2;
    for (uint32_t i = 0; i < GG_PAGES_COMMON; i++) {
        size_t len = strlen(common_pages[i]);
        memcpy(arena + off, common_pages[i], len + 1);
        p->page[1 + i] = (gg_str){ arena + off, (uint32_t)len };
        off += len + 1;
    }
    for (uint32_t i = 0; i < GG_PAGES_TAIL; i++) {
        uint64_t h = gg_mix64(i + 1);
        const char *w1 = words[h & 63], *w2 = words[(h >> 6) & 63];
        const char *w3 = words[(h >> 12) & 63];
        char *dst = arena + off;
        int n;
        switch (i % 20) {
        case 12: case 13: case 14:
            n = snprintf(dst, 64, "/category/%s/%s-%s", w1, w2, w3);
            break;
        case 15: case 16: case 17:
            n = snprintf(dst, 64, "/blog/%s-%s-%s-%u", w1, w2, w3, i);
            break;
        case 18:
            n = snprintf(dst, 64, "/help/%s-%s", w1, w2);
            break;
        case 19:
            n = snprintf(dst, 64, "/search?q=%s+%s", w1, w2);
            break;
        default:
            /* 48271 is coprime to 900000: distinct product numbers. */
            n = snprintf(dst, 64, "/product/%u", 100000u + (i * 48271u) % 900000u);
            break;
        }
        p->page[1 + GG_PAGES_COMMON + i] = (gg_str){ dst, (uint32_t)n };
        off += (size_t)n + 1;
    }
    return 0;
}

void gg_pages_free(gg_pages *p)
{
    if (p)
        free(p->arena);
}

/* ------------------------------------------------------------------------ */
/* Samplers                                                                 */
/* ------------------------------------------------------------------------ */

size_t gg_alias_scratch_bytes(uint32_t n)
{
    return (size_t)n * (2 * sizeof(uint32_t) + sizeof(double));
}

void gg_alias_build(gg_alias *a, const double *w, uint32_t n, void *scratch)
{
    double *p = scratch;
    uint32_t *small = (uint32_t *)(p + n), *large = small + n;
    uint32_t ns = 0, nl = 0;
    double sum = 0;
    a->n = n;
    for (uint32_t i = 0; i < n; i++)
        sum += w[i];
    for (uint32_t i = 0; i < n; i++) {
        p[i] = sum > 0 ? w[i] * n / sum : 1.0;
        if (p[i] < 1.0)
            small[ns++] = i;
        else
            large[nl++] = i;
    }
    while (ns && nl) {
        uint32_t s = small[--ns], l = large[nl - 1];
        a->thresh[s] = (uint32_t)(p[s] * 4294967296.0);
        a->alias[s] = l;
        p[l] -= 1.0 - p[s];
        if (p[l] < 1.0) {
            nl--;
            small[ns++] = l;
        }
    }
    /* What is left is 1.0 up to rounding: always itself. */
    while (nl) {
        uint32_t l = large[--nl];
        a->thresh[l] = UINT32_MAX;
        a->alias[l] = l;
    }
    while (ns) {
        uint32_t s = small[--ns];
        a->thresh[s] = UINT32_MAX;
        a->alias[s] = s;
    }
}

void gg_lut_build(uint8_t *lut, const double *w, size_t n)
{
    double sum = 0, cum = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        sum += w[i];
    /* Entry j takes the category whose cumulative range holds its centre. */
    for (size_t j = 0; j < GG_LUT_SIZE; j++) {
        double x = (j + 0.5) / GG_LUT_SIZE * sum;
        while (k + 1 < n && cum + w[k] <= x)
            cum += w[k++];
        lut[j] = (uint8_t)k;
    }
}
