/* compact_internal.h - what the compactor's files share. */
#ifndef TSAGG_COMPACT_INTERNAL_H
#define TSAGG_COMPACT_INTERNAL_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hourbuf.h"
#include "manifest.h"
#include "merge.h"
#include "numtext.h"
#include "partfile.h"

/* A measure sent as a string ("12.50"): its number, or NaN. */
static inline double strtod_prefix(const char *s, size_t len)
{
    double v;
    return tsagg__num_parse(s, len, &v) == 0 ? v : NAN;
}

#endif
