/* rules.c - see rules.h. */
#include "rules.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int rules_add(rules *rs, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || rs->n == RULES_MAX)
        return 0;
    rs->r[rs->n].field = arg;
    rs->r[rs->n].field_len = (size_t)(eq - arg);
    rs->r[rs->n].value = eq + 1;
    rs->r[rs->n].value_len = strlen(eq + 1);
    rs->n++;
    return 1;
}

static int same(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

/* An attribute's value as text: strings as they are, numbers in decimal. */
static int attr_equals(const tsagg_attr *a, const char *value, size_t len)
{
    char num[40];
    switch (a->type) {
    case TSAGG_STR:
        return same(a->v.s.ptr, a->v.s.len, value, len);
    case TSAGG_INT:
        snprintf(num, sizeof num, "%" PRId64, a->v.i);
        return same(num, strlen(num), value, len);
    default:
        snprintf(num, sizeof num, "%.17g", a->v.f);
        return same(num, strlen(num), value, len);
    }
}

int rules_process(void *ctx, tsagg_event *ev, uint64_t seq)
{
    (void)seq;
    rules *rs = ctx;
    for (size_t k = 0; k < rs->n; k++) {
        const char *f = rs->r[k].field, *v = rs->r[k].value;
        size_t flen = rs->r[k].field_len, vlen = rs->r[k].value_len;
        if (same(f, flen, "event", 5)) {
            if (same(ev->event, ev->event_len, v, vlen))
                goto drop;
            continue;
        }
        for (uint32_t i = 0; i < ev->nattrs; i++)
            if (same(ev->attrs[i].key, ev->attrs[i].key_len, f, flen) &&
                attr_equals(&ev->attrs[i], v, vlen))
                goto drop;
    }
    return 1;
drop:
    rs->dropped++;
    return 0;
}
