/* version.c - run-time version of the library. */
#include "tsagg_store.h"
#include "tsagg_version.h"

const char *tsagg_version(void)
{
    return TSAGG_VERSION_STRING;
}

unsigned tsagg_version_number(void)
{
    return TSAGG_VERSION_NUMBER;
}
