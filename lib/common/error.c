/* error.c - tsagg_strerror and tsagg_errname from the one error table. */
#include <string.h>

#include "tsagg_errors.h"

const char *tsagg_strerror(int code)
{
    switch (code) {
#define TSAGG_ERROR_MSG_(name, value, msg) \
    case value:                            \
        return msg;
        TSAGG_ERROR_TABLE(TSAGG_ERROR_MSG_)
#undef TSAGG_ERROR_MSG_
    case 0:
        return "success";
    default:
        break;
    }
    /* strerror() of glibc returns static strings for known errno values. */
    if (code < 0 && code > -4096)
        return strerror(-code);
    return "unknown error";
}

const char *tsagg_errname(int code)
{
    switch (code) {
#define TSAGG_ERROR_NAME_(name, value, msg) \
    case value:                             \
        return #name;
        TSAGG_ERROR_TABLE(TSAGG_ERROR_NAME_)
#undef TSAGG_ERROR_NAME_
    case 0:
        return "OK";
    default:
        break;
    }
    return (code < 0 && code > -4096) ? "ERRNO" : "UNKNOWN";
}
