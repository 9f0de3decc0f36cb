/*
 * schema.c - declared dimensions and measures.
 *
 * Canonical encoding (also hashed for the schema id):
 *   u8 ndims, then per dimension: u8 name length, name bytes;
 *   u8 nmeasures, then per measure: u8 name length, name bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "schema_internal.h"

static const char *const core_fields[] = {"ts", "merchant", "event", "user", "session", "id"};

int tsagg_schema_create(tsagg_schema **out)
{
    *out = calloc(1, sizeof(tsagg_schema));
    return *out ? 0 : -ENOMEM;
}

int tsagg_schema_create_default(tsagg_schema **out)
{
    static const char *const dims[] = {"page", "referrer", "country", "device", "browser", "os"};
    int rc = tsagg_schema_create(out);
    for (size_t i = 0; rc == 0 && i < sizeof dims / sizeof dims[0]; i++)
        rc = tsagg_schema_add_dimension(*out, dims[i]);
    if (rc == 0)
        rc = tsagg_schema_add_measure(*out, "value");
    if (rc != 0) {
        tsagg_schema_free(*out);
        *out = NULL;
    }
    return rc;
}

void tsagg_schema_free(tsagg_schema *schema)
{
    free(schema);
}

static int valid_name(const char *name)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > TSAGG_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '.' || c == '-';
        if (!ok)
            return 0;
    }
    for (size_t i = 0; i < sizeof core_fields / sizeof core_fields[0]; i++)
        if (!strcmp(name, core_fields[i]))
            return 0;
    return 1;
}

static int add_field(tsagg_schema *schema, const char *name, int measure)
{
    if (!schema || !valid_name(name))
        return TSAGG_EARG;
    if (tsagg_schema_dimension_index(schema, name) >= 0 ||
        tsagg_schema_measure_index(schema, name) >= 0)
        return TSAGG_EARG;
    uint32_t *n = measure ? &schema->nmeasures : &schema->ndims;
    if (*n >= TSAGG_SCHEMA_MAX_FIELDS)
        return TSAGG_EARG;
    char *slot = measure ? schema->measures[*n] : schema->dims[*n];
    strcpy(slot, name);
    (*n)++;
    return 0;
}

int tsagg_schema_add_dimension(tsagg_schema *schema, const char *name)
{
    return add_field(schema, name, 0);
}

int tsagg_schema_add_measure(tsagg_schema *schema, const char *name)
{
    return add_field(schema, name, 1);
}

size_t tsagg_schema_dimension_count(const tsagg_schema *schema)
{
    return schema->ndims;
}

size_t tsagg_schema_measure_count(const tsagg_schema *schema)
{
    return schema->nmeasures;
}

const char *tsagg_schema_dimension_name(const tsagg_schema *schema, size_t i)
{
    return i < schema->ndims ? schema->dims[i] : NULL;
}

const char *tsagg_schema_measure_name(const tsagg_schema *schema, size_t i)
{
    return i < schema->nmeasures ? schema->measures[i] : NULL;
}

int tsagg_schema_dimension_index(const tsagg_schema *schema, const char *name)
{
    for (uint32_t i = 0; i < schema->ndims; i++)
        if (!strcmp(schema->dims[i], name))
            return (int)i;
    return -1;
}

int tsagg_schema_measure_index(const tsagg_schema *schema, const char *name)
{
    for (uint32_t i = 0; i < schema->nmeasures; i++)
        if (!strcmp(schema->measures[i], name))
            return (int)i;
    return -1;
}

static size_t put_names(uint8_t *p, const char (*names)[TSAGG_NAME_MAX + 1], uint32_t n)
{
    size_t off = 0;
    p[off++] = (uint8_t)n;
    for (uint32_t i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        p[off++] = (uint8_t)len;
        memcpy(p + off, names[i], len);
        off += len;
    }
    return off;
}

size_t tsagg__schema_encode(const tsagg_schema *schema, uint8_t *buf)
{
    size_t off = put_names(buf, schema->dims, schema->ndims);
    return off + put_names(buf + off, schema->measures, schema->nmeasures);
}

uint64_t tsagg_schema_id(const tsagg_schema *schema)
{
    uint8_t buf[TSAGG_SCHEMA_ENCODED_MAX];
    size_t len = tsagg__schema_encode(schema, buf);
    return XXH64(buf, len, 0);
}

static int get_names(const uint8_t **p, const uint8_t *end, tsagg_schema *schema, int measure)
{
    if (*p >= end)
        return TSAGG_ECORRUPT;
    unsigned n = *(*p)++;
    for (unsigned i = 0; i < n; i++) {
        if (*p >= end)
            return TSAGG_ECORRUPT;
        unsigned len = *(*p)++;
        if (len == 0 || len > TSAGG_NAME_MAX || (size_t)(end - *p) < len)
            return TSAGG_ECORRUPT;
        char name[TSAGG_NAME_MAX + 1];
        memcpy(name, *p, len);
        name[len] = 0;
        *p += len;
        if (add_field(schema, name, measure) != 0)
            return TSAGG_ECORRUPT;
    }
    return 0;
}

int tsagg__schema_decode(const uint8_t *buf, size_t len, tsagg_schema **out)
{
    tsagg_schema *schema;
    int rc = tsagg_schema_create(&schema);
    if (rc != 0)
        return rc;
    const uint8_t *p = buf, *end = buf + len;
    rc = get_names(&p, end, schema, 0);
    if (rc == 0)
        rc = get_names(&p, end, schema, 1);
    if (rc == 0 && p != end)
        rc = TSAGG_ECORRUPT;
    if (rc != 0) {
        free(schema);
        return rc;
    }
    *out = schema;
    return 0;
}

int tsagg__schema_clone(const tsagg_schema *schema, tsagg_schema **out)
{
    *out = malloc(sizeof(tsagg_schema));
    if (!*out)
        return -ENOMEM;
    memcpy(*out, schema, sizeof(tsagg_schema));
    return 0;
}
