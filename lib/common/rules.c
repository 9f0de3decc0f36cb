/*
 * rules.c - processing rules: the set, what a rule may name, and matching
 * (the rule is stated in tsagg_rules.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules_internal.h"

int tsagg_rules_create(tsagg_rules **out)
{
    *out = calloc(1, sizeof(tsagg_rules));
    return *out ? 0 : -ENOMEM;
}

void tsagg_rules_free(tsagg_rules *rules)
{
    if (!rules)
        return;
    for (size_t i = 0; i < rules->n; i++) {
        free(rules->r[i].field);
        free(rules->r[i].value);
    }
    free(rules->r);
    free(rules);
}

size_t tsagg_rules_count(const tsagg_rules *rules)
{
    return rules ? rules->n : 0;
}

int tsagg_rules_get(const tsagg_rules *rules, size_t i, const char **field, const char **value)
{
    if (!rules || i >= rules->n)
        return TSAGG_EARG;
    *field = rules->r[i].field;
    *value = rules->r[i].value;
    return 0;
}

static int refuse(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int refuse(char *why, size_t why_len, const char *fmt, ...)
{
    if (why && why_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
    }
    return TSAGG_EARG;
}

/* Whether s is a decimal number: [+-]digits[.digits][e[+-]digits], digits
 * on at least one side of the point. *integer: no point, no exponent.
 * Stricter than strtod, which would also take hex, "inf" and blanks. */
static int decimal_syntax(const char *s, int *integer)
{
    size_t i = 0, digits = 0;
    *integer = 1;
    if (s[i] == '+' || s[i] == '-')
        i++;
    for (; s[i] >= '0' && s[i] <= '9'; i++)
        digits++;
    if (s[i] == '.') {
        *integer = 0;
        for (i++; s[i] >= '0' && s[i] <= '9'; i++)
            digits++;
    }
    if (digits == 0)
        return 0;
    if (s[i] == 'e' || s[i] == 'E') {
        *integer = 0;
        i++;
        if (s[i] == '+' || s[i] == '-')
            i++;
        if (!(s[i] >= '0' && s[i] <= '9'))
            return 0;
        while (s[i] >= '0' && s[i] <= '9')
            i++;
    }
    return s[i] == '\0';
}

/* Read VALUE as a number, whatever the host's locale (a host that set a
 * locale writing "0,1" must not change what a stored rule means). */
static void parse_number(tsagg__rule *r)
{
    int integer;
    if (!decimal_syntax(r->value, &integer))
        return;
    locale_t c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (!c)
        return; /* out of memory: the caller checks is_num */
    r->num = strtod_l(r->value, NULL, c);
    freelocale(c);
    r->is_num = r->num == r->num && r->num - r->num == 0; /* finite */
    if (integer && r->is_num) {
        errno = 0;
        char *end;
        long long v = strtoll(r->value, &end, 10);
        r->is_int = errno == 0 && *end == '\0';
        r->i = (int64_t)v;
    }
}

static int parse_merchant(tsagg__rule *r)
{
    const char *s = r->value;
    if (!(*s >= '0' && *s <= '9'))
        return 0;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    r->merchant = (uint64_t)v;
    return errno == 0 && *end == '\0';
}

int tsagg_rules_add_drop(tsagg_rules *rules, const char *field, const char *value, char *why,
                         size_t why_len)
{
    static const char *const unmatchable[] = {"ts", "user", "session", "id"};
    if (!rules || !field || !value)
        return refuse(why, why_len, "NULL argument");
    size_t flen = strlen(field), vlen = strlen(value);
    if (flen == 0 || flen > TSAGG_NAME_MAX)
        return refuse(why, why_len, "field name of %zu bytes: expected 1..%d", flen,
                      TSAGG_NAME_MAX);
    for (size_t i = 0; i < sizeof unmatchable / sizeof unmatchable[0]; i++)
        if (!strcmp(field, unmatchable[i]))
            return refuse(why, why_len,
                          "'%s' is a core field that rules cannot match: expected 'event', "
                          "'merchant' or an attribute",
                          field);
    if (vlen > TSAGG_RULE_VALUE_MAX)
        return refuse(why, why_len, "value of %zu bytes: at most %d", vlen,
                      TSAGG_RULE_VALUE_MAX);
    if (rules->n >= TSAGG_RULES_MAX)
        return refuse(why, why_len, "more than %d rules", TSAGG_RULES_MAX);
    tsagg__rule r = {.field_len = (uint32_t)flen, .value_len = (uint32_t)vlen,
                     .kind = RULE_ATTR};
    r.kind = !strcmp(field, "event") ? RULE_EVENT
             : !strcmp(field, "merchant") ? RULE_MERCHANT
                                         : RULE_ATTR;
    if (r.kind == RULE_EVENT && (vlen == 0 || vlen > TSAGG_EVENT_NAME_MAX))
        return refuse(why, why_len, "event names are 1..%d bytes: 'event=%s' matches nothing",
                      TSAGG_EVENT_NAME_MAX, value);
    r.value = (char *)value;
    if (r.kind == RULE_MERCHANT && !parse_merchant(&r))
        return refuse(why, why_len, "merchant: expected a decimal merchant number, got '%s'",
                      value);
    if (rules->n == rules->cap) {
        size_t cap = rules->cap ? rules->cap * 2 : 8;
        tsagg__rule *p = realloc(rules->r, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        rules->r = p;
        rules->cap = cap;
    }
    r.field = strdup(field);
    r.value = strdup(value);
    if (!r.field || !r.value) {
        free(r.field);
        free(r.value);
        return -ENOMEM;
    }
    if (r.kind == RULE_ATTR)
        parse_number(&r);
    rules->r[rules->n++] = r;
    return 0;
}

/* The attribute an event has under key, the last one when it repeats. */
static const tsagg_attr *find_attr(const tsagg_event *ev, const char *key, uint32_t len)
{
    for (uint32_t i = ev->nattrs; i-- > 0;)
        if (ev->attrs[i].key_len == len && !memcmp(ev->attrs[i].key, key, len))
            return &ev->attrs[i];
    return NULL;
}

static int attr_matches(const tsagg__rule *r, const tsagg_attr *a)
{
    if (!a) /* absent reads as "" */
        return r->value_len == 0;
    switch (a->type) {
    case TSAGG_STR:
        return a->v.s.len == r->value_len && !memcmp(a->v.s.ptr, r->value, r->value_len);
    case TSAGG_INT:
        if (r->is_int)
            return a->v.i == r->i;
        return r->is_num && (double)a->v.i == r->num;
    case TSAGG_F64:
        return r->is_num && a->v.f == r->num;
    default:
        return 0;
    }
}

static int rule_matches(const tsagg__rule *r, const tsagg_event *ev)
{
    switch (r->kind) {
    case RULE_EVENT:
        return ev->event_len == r->value_len && !memcmp(ev->event, r->value, r->value_len);
    case RULE_MERCHANT:
        return ev->merchant == r->merchant;
    default:
        return attr_matches(r, find_attr(ev, r->field, r->field_len));
    }
}

int tsagg_rules_drops(const tsagg_rules *rules, const tsagg_event *ev)
{
    if (!rules)
        return 0;
    for (size_t i = 0; i < rules->n; i++)
        if (rule_matches(&rules->r[i], ev))
            return 1;
    return 0;
}
