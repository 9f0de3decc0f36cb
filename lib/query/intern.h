/*
 * intern.h - handle-wide numbers for the strings of files' dictionaries.
 *
 * Each partition file numbers the strings of a column by codes of its own
 * dictionary, so a group-by over many files (top pages over a week: 30
 * files) found each code's group by its string, file after file and query
 * after query. A store handle gives each distinct string its queries meet
 * one id for as long as it is open (kept with the partition cache); a
 * file's codes are mapped to ids once (tsagg__pcent_code_id) and a query
 * maps ids to its groups by a table indexed by id (plan.c), and keeps the
 * id's string as its group's key.
 *
 * Bounded: past TSAGG__INTERN_MAX_IDS ids or TSAGG__INTERN_MAX_BYTES bytes
 * of strings, a new string gets no id and the query compares strings as
 * before. Thread-safe: new ids are given under a lock; the key of an id is
 * read without one (the entries never move once written).
 */
#ifndef TSAGG_INTERN_H
#define TSAGG_INTERN_H

#include <stddef.h>
#include <stdint.h>

/* About 20 MiB a handle at the most: 24-byte entries, a table of 4-byte
 * slots at most half full, and the strings with their allocations. */
#define TSAGG__INTERN_MAX_IDS (1u << 18)
#define TSAGG__INTERN_MAX_BYTES ((size_t)8 << 20)

/* The string of an id, its length and its XXH3. */
typedef struct tsagg__intern_str {
    const char *s;
    uint64_t hash;
    size_t len;
} tsagg__intern_str;

typedef struct tsagg__intern tsagg__intern;

/* An empty table (NULL: no memory); free accepts NULL. */
tsagg__intern *tsagg__intern_new(void);
void tsagg__intern_free(tsagg__intern *t);

/* The id of key (len bytes, hash its XXH3), given one when new: 0 and *id;
 * 1 when the table is full (no id); -ENOMEM. */
int tsagg__intern_id(tsagg__intern *t, const char *key, size_t len, uint64_t hash, uint32_t *id);

/* The key of an id the table gave (the caller got the id from
 * tsagg__intern_id, or from another thread through a release store). */
const tsagg__intern_str *tsagg__intern_key(const tsagg__intern *t, uint32_t id);

/* Give no id past max_ids of them (at most TSAGG__INTERN_MAX_IDS). Tests
 * only (through tsagg__partcache_set_intern_limit): the bound's fallback. */
void tsagg__intern_set_limit(tsagg__intern *t, uint32_t max_ids);

#endif
