/*
 * bench_json_parsers - what Debian's tree-building JSON parsers cost on
 * tsagg-ingest's input, to set beside tsagg-ingest's own rate (simdjson).
 *
 *   bench_json_parsers FILE.ndjson
 *
 * Parses every line with json-c and with cJSON and walks the keys (no
 * conversion to events, no append): a lower bound on what an ingest built
 * on either would cost. Built only where libjson-c-dev and libcjson-dev are
 * installed (they are not project dependencies).
 */
#include <cjson/cJSON.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchutil.h"

static long walk_json_c(json_tokener *tok, const char *line, size_t n)
{
    long keys = 0;
    json_tokener_reset(tok);
    json_object *o = json_tokener_parse_ex(tok, line, (int)n);
    if (!o)
        return -1;
    json_object_object_foreach(o, k, v)
    {
        keys += k[0] != 0 && v != NULL;
    }
    json_object_put(o);
    return keys;
}

static long walk_cjson(const char *line, size_t n)
{
    cJSON *o = cJSON_ParseWithLength(line, n);
    if (!o)
        return -1;
    long keys = 0;
    for (cJSON *c = o->child; c; c = c->next)
        keys += c->string[0] != 0;
    cJSON_Delete(o);
    return keys;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: bench_json_parsers FILE.ndjson\n");
        return 2;
    }
    const char *names[] = {"json-c", "cJSON"};
    for (int p = 0; p < 2; p++) {
        FILE *f = fopen(argv[1], "r");
        if (!f) {
            perror(argv[1]);
            return 1;
        }
        json_tokener *tok = json_tokener_new();
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        long events = 0, keys = 0;
        double t0 = cpu_s();
        while ((n = getline(&line, &cap, f)) > 0) {
            long k = p == 0 ? walk_json_c(tok, line, (size_t)n) : walk_cjson(line, (size_t)n);
            if (k < 0) {
                fprintf(stderr, "%s: line %ld does not parse\n", argv[1], events + 1);
                return 1;
            }
            keys += k;
            events++;
        }
        double cpu = cpu_s() - t0;
        printf("json_parse_%s %.3f M_events_per_cpu_s (%ld events, %ld keys, %.2f cpu s)\n",
               names[p], events / cpu / 1e6, events, keys, cpu);
        free(line);
        json_tokener_free(tok);
        fclose(f);
    }
    return 0;
}
