/* schemafile.c - see schemafile.h. */
#include "schemafile.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Cut leading and trailing blanks of s in place. */
static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Why the library refused a field (it says only TSAGG_EARG): the rules
 * of tsagg_store.h, checked in the library's order. */
static void refusal(const tsagg_schema *schema, int measure, const char *name, char *buf,
                    size_t cap)
{
    static const char *const core[] = {"ts", "merchant", "event", "user", "session", "id"};
    size_t len = strlen(name), ok = len >= 1 && len <= TSAGG_NAME_MAX;
    for (size_t i = 0; ok && i < len; i++)
        ok = isalnum((unsigned char)name[i]) || strchr("_.-", name[i]);
    if (!ok) {
        snprintf(buf, cap, "invalid name: expected 1..%d bytes of [A-Za-z0-9_.-]",
                 TSAGG_NAME_MAX);
        return;
    }
    for (size_t i = 0; i < sizeof core / sizeof core[0]; i++) {
        if (!strcmp(name, core[i])) {
            snprintf(buf, cap,
                     "a core field (ts merchant event user session id), always present");
            return;
        }
    }
    if (tsagg_schema_dimension_index(schema, name) >= 0 ||
        tsagg_schema_measure_index(schema, name) >= 0) {
        snprintf(buf, cap, "already declared as a %s",
                 tsagg_schema_dimension_index(schema, name) >= 0 ? "dimension" : "measure");
        return;
    }
    size_t n = measure ? tsagg_schema_measure_count(schema)
                       : tsagg_schema_dimension_count(schema);
    if (n >= TSAGG_SCHEMA_MAX_FIELDS) {
        snprintf(buf, cap, "too many: at most %d %s", TSAGG_SCHEMA_MAX_FIELDS,
                 measure ? "measures" : "dimensions");
        return;
    }
    snprintf(buf, cap, "%s", tsagg_strerror(TSAGG_EARG));
}

tsagg_schema *schemafile_read(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    tsagg_schema *schema = NULL;
    int rc = tsagg_schema_create(&schema);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", path, tsagg_strerror(rc));
        fclose(f);
        return NULL;
    }
    char line[512];
    unsigned lineno = 0;
    size_t fields = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            snprintf(err, errlen, "%s:%u: line too long", path, lineno);
            goto fail;
        }
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *name = s + strcspn(s, " \t");
        if (*name)
            *name++ = '\0';
        name = trim(name);
        if (strcmp(s, "dimension") != 0 && strcmp(s, "measure") != 0) {
            snprintf(err, errlen, "%s:%u: expected 'dimension NAME' or 'measure NAME', got '%s'",
                     path, lineno, s);
            goto fail;
        }
        if (*name == '\0' || strpbrk(name, " \t")) {
            snprintf(err, errlen, "%s:%u: expected one name after '%s'", path, lineno, s);
            goto fail;
        }
        rc = s[0] == 'd' ? tsagg_schema_add_dimension(schema, name)
                         : tsagg_schema_add_measure(schema, name);
        if (rc != 0) {
            char why[128];
            if (rc == TSAGG_EARG)
                refusal(schema, s[0] == 'm', name, why, sizeof why);
            snprintf(err, errlen, "%s:%u: %s '%s': %s", path, lineno, s, name,
                     rc == TSAGG_EARG ? why : tsagg_strerror(rc));
            goto fail;
        }
        fields++;
    }
    if (ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        goto fail;
    }
    if (fields == 0) {
        snprintf(err, errlen, "%s: no 'dimension' or 'measure' line", path);
        goto fail;
    }
    fclose(f);
    return schema;
fail:
    fclose(f);
    tsagg_schema_free(schema);
    return NULL;
}

void schemafile_print(const tsagg_schema *schema, FILE *f)
{
    for (size_t i = 0; i < tsagg_schema_dimension_count(schema); i++)
        fprintf(f, "dimension %s\n", tsagg_schema_dimension_name(schema, i));
    for (size_t i = 0; i < tsagg_schema_measure_count(schema); i++)
        fprintf(f, "measure %s\n", tsagg_schema_measure_name(schema, i));
}
