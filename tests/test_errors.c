/* test_errors.c - the error table: stable values, names, messages. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "tsagg.h"

Test(errors, stable_values)
{
    /* These values are part of the ABI; changing one breaks callers. */
    cr_assert_eq(TSAGG_ECORRUPT, -30001);
    cr_assert_eq(TSAGG_ECHECKSUM, -30002);
    cr_assert_eq(TSAGG_EVERSION, -30003);
    cr_assert_eq(TSAGG_ENOTSTORE, -30004);
    cr_assert_eq(TSAGG_ELOCKED, -30005);
    cr_assert_eq(TSAGG_EARG, -30006);
    cr_assert_eq(TSAGG_EINPUT, -30007);
    cr_assert_eq(TSAGG_EREADONLY, -30008);
    cr_assert_eq(TSAGG_ENOURING, -30009);
    cr_assert_eq(TSAGG_ETIMEDOUT, -30010);
    cr_assert_eq(TSAGG_ESCHEMA, -30011);
}

Test(errors, messages_and_names)
{
    cr_assert_str_eq(tsagg_strerror(0), "success");
    cr_assert_str_eq(tsagg_strerror(TSAGG_ECHECKSUM), "checksum mismatch");
    cr_assert_str_eq(tsagg_strerror(-ENOSPC), strerror(ENOSPC));
    cr_assert_str_eq(tsagg_strerror(12345), "unknown error");
    cr_assert_str_eq(tsagg_errname(TSAGG_ELOCKED), "TSAGG_ELOCKED");
    cr_assert_str_eq(tsagg_errname(-EIO), "ERRNO");
    cr_assert_str_eq(tsagg_errname(0), "OK");
}

Test(errors, version)
{
    cr_assert_str_eq(tsagg_version(), TSAGG_VERSION_STRING);
    cr_assert_eq(tsagg_version_number(), TSAGG_VERSION_NUMBER);
}

Test(abi, public_struct_sizes)
{
    /* Public structs are part of the ABI on LP64; a change here is a
     * soname bump. */
    cr_assert_eq(sizeof(tsagg_attr), 32);
    cr_assert_eq(sizeof(tsagg_event), 72);
    cr_assert_eq(sizeof(tsagg_options), 48);
    cr_assert_eq(sizeof(tsagg_segment_info), 56);
    cr_assert_eq(sizeof(tsagg_log_range), 32);
    cr_assert_eq(sizeof(tsagg_io), 13 * sizeof(void *));
}
