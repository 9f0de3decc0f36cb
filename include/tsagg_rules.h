/*
 * tsagg_rules.h - processing rules kept in the store.
 *
 * A store keeps one set of processing rules (STORE/RULES, docs/format.md)
 * beside its schema. Every path that turns log events into answers applies
 * them: tsagg_compact() and tsagg_rebuild() drop the events they match
 * before the processing hook sees them, and queries apply them to the log
 * tail (tsagg_rules_drops) so an answer does not change when it is compacted. tsagg_merge() combines files that were
 * already written through them. Because they are stored, a rebuild that
 * repairs an hour applies the same rules the hour was compacted with.
 *
 * Changing the rules (tsagg_store_set_rules) affects what is compacted or
 * rebuilt afterwards; hours compacted before keep what the old rules gave
 * them until they are rebuilt. To apply new rules to history, set them and
 * rebuild the hours concerned (tsagg-rebuild --drop-where does both).
 *
 * One kind of rule: drop an event whose FIELD equals VALUE. The rules are
 * ORed: an event matching any of them is dropped. A rule's field is
 *
 *   "event"     the event name; VALUE is compared byte for byte
 *               (1..255 bytes: an empty name matches no event)
 *   "merchant"  the merchant; VALUE is a decimal integer
 *   any other   an attribute key (declared in the schema or not: the log
 *               keeps every field as received), 1..TSAGG_NAME_MAX bytes.
 *
 * An attribute is compared as follows. When the key repeats in an event,
 * the last one counts (as in compaction and queries). A number (TSAGG_INT,
 * TSAGG_F64) compares as a number with VALUE read as a decimal number
 * ("0.1", "1e-1" and "0.10" are the same value; integers compare exactly);
 * VALUE that is not a number matches no number. A string compares byte for
 * byte. An absent attribute reads as the empty string, as in a query's
 * filter (tsagg_filter): "page=" drops the events without a page as well as
 * those with an empty one, and "page=/x" never drops an event without one.
 *
 * The core fields "ts", "user", "session" and "id" cannot be matched and
 * are refused (TSAGG_EARG).
 */
#ifndef TSAGG_RULES_H
#define TSAGG_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "tsagg_export.h"
#include "tsagg_store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TSAGG_RULES_MAX 256         /* rules in a set */
#define TSAGG_RULE_VALUE_MAX 4096   /* bytes of a rule's value */

typedef struct tsagg_rules tsagg_rules;

/* An empty set in *out. Returns 0 or -ENOMEM. Free with tsagg_rules_free. */
TSAGG_API int tsagg_rules_create(tsagg_rules **out);

/* Accepts NULL. */
TSAGG_API void tsagg_rules_free(tsagg_rules *rules);

/*
 * Add "drop events whose field equals value" (both NUL-terminated). Returns
 * 0, -ENOMEM, or TSAGG_EARG when the rule cannot match anything (a core
 * field, a merchant that is not a decimal integer, an empty event name, a
 * field of 0 or more than TSAGG_NAME_MAX bytes, a value longer than
 * TSAGG_RULE_VALUE_MAX, more than TSAGG_RULES_MAX rules); then, where why is
 * not NULL, the reason is copied into it (why_len bytes at most,
 * NUL-terminated).
 */
TSAGG_API int tsagg_rules_add_drop(tsagg_rules *rules, const char *field, const char *value,
                                   char *why, size_t why_len);

/* Number of rules, and the i-th one's field and value (strings owned by
 * the set); tsagg_rules_get returns TSAGG_EARG when i is out of range. */
TSAGG_API size_t tsagg_rules_count(const tsagg_rules *rules);
TSAGG_API int tsagg_rules_get(const tsagg_rules *rules, size_t i, const char **field,
                              const char **value);

/* 1 when the rules drop ev, 0 when they keep it. Reads nothing but its
 * arguments: safe from any number of threads at once. */
TSAGG_API int tsagg_rules_drops(const tsagg_rules *rules, const tsagg_event *ev);

/*
 * The store's rules, read from STORE/RULES now, into a new set in *out (an
 * empty one when none were ever set); free it with tsagg_rules_free. Any
 * handle, any thread. Errors: TSAGG_ECHECKSUM, TSAGG_ECORRUPT (damaged
 * file), TSAGG_EVERSION (written by a newer library), -errno; the store's
 * errmsg names the file and offset.
 */
TSAGG_API int tsagg_store_rules(tsagg_store *store, tsagg_rules **out);

/*
 * Replace the store's rules by `rules` (NULL: no rules), durably and
 * atomically (a crash leaves the old set or the new one). Needs a handle
 * opened with TSAGG_OPEN_WRITE (TSAGG_EREADONLY otherwise); waits for a
 * running compaction, merge or rebuild, and applies to those that start
 * after it returns. Errors: -errno of the write, TSAGG_EARG.
 */
TSAGG_API int tsagg_store_set_rules(tsagg_store *store, const tsagg_rules *rules);

#ifdef __cplusplus
}
#endif
#endif
