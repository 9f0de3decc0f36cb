/* rules_internal.h - the processing rules' set, shared by rules.c (matching)
 * and rules_file.c (STORE/RULES). */
#ifndef TSAGG_RULES_INTERNAL_H
#define TSAGG_RULES_INTERNAL_H

#include <stdint.h>

#include "tsagg_rules.h"

/* What a rule's field names. */
enum { RULE_EVENT, RULE_MERCHANT, RULE_ATTR };

typedef struct tsagg__rule {
    char *field; /* NUL-terminated, owned */
    uint32_t field_len;
    int kind;    /* RULE_* */
    char *value; /* NUL-terminated, owned */
    uint32_t value_len;
    /* VALUE read as a number, for numeric attributes and the merchant. */
    int is_num, is_int;
    double num;
    int64_t i;
    uint64_t merchant;
} tsagg__rule;

struct tsagg_rules {
    tsagg__rule *r;
    size_t n, cap;
};

#endif
