/*
 * rules.h - the processing logic the tools can apply when they compact or
 * rebuild: drop events whose field has one of the given values
 * (--drop-where FIELD=VALUE, repeatable). FIELD is "event" or any attribute
 * key, declared in the schema or not (the raw log keeps every field), so a
 * rule can use a field the schema does not have. Pass the same rules to
 * tsagg-compact and tsagg-rebuild, or rebuilt hours and compacted ones will
 * disagree.
 */
#ifndef TSAGG_RULES_H
#define TSAGG_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "tsagg.h"

#define RULES_MAX 32

typedef struct rules {
    size_t n;
    struct {
        const char *field; /* borrowed from argv */
        size_t field_len;
        const char *value;
        size_t value_len;
    } r[RULES_MAX];
    uint64_t dropped;
} rules;

/* Add "FIELD=VALUE"; 1 on success, 0 when malformed or too many. */
int rules_add(rules *rs, const char *arg);

/* A tsagg_process_fn: ctx is a rules*. Drops an event matching any rule. */
int rules_process(void *ctx, tsagg_event *ev, uint64_t seq);

#endif
