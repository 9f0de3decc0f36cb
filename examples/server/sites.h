/*
 * sites.h - the sites a server collects for: each is one merchant of the
 * store, with a domain, a time zone, and credentials for every way in.
 *
 * Persisted as STORE/server-sites.json (docs/server.md), replaced
 * atomically on every change: written to a temporary file, fsynced,
 * renamed over the old one, and the directory fsynced. Lookups take a
 * read lock and copy what they need out: a site may be deleted meanwhile.
 */
#ifndef SERVER_SITES_H
#define SERVER_SITES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SITE_DOMAIN_MAX 253
#define SITE_TZ_MAX 64
#define SITE_KEY_MAX 48

typedef struct site {
    uint64_t merchant;
    char domain[SITE_DOMAIN_MAX + 1];
    char timezone[SITE_TZ_MAX + 1];
    char query_key[SITE_KEY_MAX];
    char ingest_key[SITE_KEY_MAX];
    char measurement_id[SITE_KEY_MAX]; /* GA4: G-XXXXXXXXXX */
    char api_secret[SITE_KEY_MAX];     /* GA4 */
    char ua_tid[SITE_KEY_MAX];         /* Universal Analytics: UA-<merchant>-1 */
} site;

typedef struct sites sites;

/* Load STORE/server-sites.json (none yet: no sites). NULL after writing
 * why into err. */
sites *sites_open(const char *store_dir, char *err, size_t errlen);
void sites_free(sites *s);

/* Add a site with new credentials (filled into *inout). 0; -EEXIST when
 * the merchant or domain has a site; -errno when it could not be saved
 * (then nothing changed). */
int sites_add(sites *s, site *inout);
/* 0, or -ENOENT. */
int sites_remove(sites *s, uint64_t merchant);

/* Lookups: 1 and a copy in *out (may be NULL), or 0. Keys are compared in
 * constant time. */
enum site_key { KEY_QUERY, KEY_INGEST };
int sites_by_merchant(sites *s, uint64_t merchant, site *out);
int sites_by_key(sites *s, enum site_key which, const char *key, site *out);
int sites_by_measurement_id(sites *s, const char *mid, site *out);
int sites_by_ua_tid(sites *s, const char *tid, site *out);
int sites_by_domain(sites *s, const char *domain, size_t len, site *out);

/* Every site as a JSON array (with credentials) into f. */
void sites_write_json(sites *s, FILE *f);
/* One site as a JSON object. */
void site_write_json(const site *x, FILE *f);

/* Equal strings, in time independent of where they differ. */
int keys_equal(const char *a, const char *b);

#endif
