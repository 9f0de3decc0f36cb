/*
 * useragent.h - device, browser and operating system from a User-Agent
 * header, and whether it is a crawler. A few ordered tables of tokens
 * (useragent.c); the first token found decides. Good enough for analytics
 * dimensions, not a complete user-agent database.
 */
#ifndef INGEST_USERAGENT_H
#define INGEST_USERAGENT_H

#include <stddef.h>

typedef struct ua_info {
    const char *device;  /* "desktop", "mobile", "tablet", "bot" or "other" */
    const char *browser; /* "Chrome", ...; a crawler's name; "Other" */
    size_t browser_len;  /* a crawler's name may point into ua itself */
    const char *os;      /* "Windows", "macOS", ..., "Other" */
    int crawler;         /* 1 for crawlers, feed fetchers, scripts */
} ua_info;

void ua_classify(const char *ua, size_t len, ua_info *out);

#endif
