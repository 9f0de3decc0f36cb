/*
 * schemafile.h - schemas as text files, for --schema FILE.
 *
 * One field per line, "dimension NAME" or "measure NAME"; blank lines and
 * lines starting with '#' are ignored; order is kept. For example:
 *
 *     # the default schema plus a campaign
 *     dimension page
 *     dimension referrer
 *     dimension country
 *     dimension device
 *     dimension browser
 *     dimension os
 *     dimension utm_campaign
 *     measure value
 */
#ifndef TSAGG_SCHEMAFILE_H
#define TSAGG_SCHEMAFILE_H

#include <stddef.h>
#include <stdio.h>

#include "tsagg.h"

/*
 * Read a schema file. On failure returns NULL and writes "FILE:LINE: what"
 * into err.
 */
tsagg_schema *schemafile_read(const char *path, char *err, size_t errlen);

/* Write schema in the same form to f (for --help-style listings). */
void schemafile_print(const tsagg_schema *schema, FILE *f);

#endif
