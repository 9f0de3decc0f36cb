/* rules.c - see rules.h. */
#include "rules.h"

#include <string.h>

#include "cli.h"

int rules_add_arg(const char *prog, tsagg_rules **rules, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) {
        cli_usage_error(prog, "--drop-where: expected FIELD=VALUE, got '%s'", arg);
        return 0;
    }
    if (!*rules && tsagg_rules_create(rules) != 0) {
        cli_error(prog, "out of memory");
        return 0;
    }
    char field[TSAGG_NAME_MAX + 1];
    size_t flen = (size_t)(eq - arg);
    if (flen > TSAGG_NAME_MAX) {
        cli_usage_error(prog, "--drop-where '%s': field name of %zu bytes: expected 1..%d", arg,
                        flen, TSAGG_NAME_MAX);
        return 0;
    }
    memcpy(field, arg, flen);
    field[flen] = '\0';
    char why[256];
    int rc = tsagg_rules_add_drop(*rules, field, eq + 1, why, sizeof why);
    if (rc != 0) {
        cli_usage_error(prog, "--drop-where '%s': %s", arg,
                  rc == TSAGG_EARG ? why : tsagg_strerror(rc));
        return 0;
    }
    return 1;
}

void rules_print(const tsagg_rules *rules, FILE *f)
{
    size_t n = tsagg_rules_count(rules);
    if (n == 0)
        fputs("none", f);
    for (size_t i = 0; i < n; i++) {
        const char *field, *value;
        tsagg_rules_get(rules, i, &field, &value);
        fprintf(f, "%s%s=%s", i ? ", " : "", field, value);
    }
}
