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
            snprintf(err, errlen, "%s:%u: %s '%s': %s", path, lineno, s, name,
                     rc == TSAGG_EARG ? "invalid, repeated, a core field, or too many"
                                      : tsagg_strerror(rc));
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
