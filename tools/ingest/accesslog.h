/*
 * accesslog.h - web server access logs (Apache/nginx "combined" format,
 * and "common" format, which lacks the last two fields) into events of one
 * merchant:
 *
 *   host ident user [17/May/2015:10:05:03 +0000] "GET /path?q HTTP/1.1" 200 1234 "referrer" "user agent"
 *
 * docs/tsagg-ingest.md gives the mapping to event fields.
 */
#ifndef INGEST_ACCESSLOG_H
#define INGEST_ACCESSLOG_H

#include <stddef.h>
#include <stdint.h>

#include "ingest.h"

typedef struct accesslog_parser accesslog_parser;

/* Every event gets this merchant. NULL on ENOMEM. */
accesslog_parser *accesslog_parser_create(uint64_t merchant);
void accesslog_parser_free(accesslog_parser *p);

/* Parse one line (no newline). 0, or -1 with the reason in b->err. Sessions
 * continue across calls and files. */
int accesslog_parse(accesslog_parser *p, const char *line, size_t len, evbuild *b);

/* The host of a URL as written, into *host (pointing into url): without
 * scheme, user info, port, path, query and fragment, nor the final dot of
 * a fully qualified name; an IPv6 literal keeps its brackets ("[::1]");
 * "//host/p" is protocol-relative. Its length, 0 when there is none.
 * Letters keep their case. */
size_t url_host(const char *url, size_t len, const char **host);

/* Whether a request path names a static asset (by its extension). */
int accesslog_is_asset(const char *path, size_t len);

#endif
