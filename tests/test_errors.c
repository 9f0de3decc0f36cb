/* test_errors.c - the error table: stable values, names, messages. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stddef.h>
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
    /* Every public struct, as laid out on LP64. Input structs may only
     * grow at the end (struct_size tells the library which fields the
     * caller has); output structs likewise. Any other change here breaks
     * binaries built against an older header: a soname bump. */
    cr_assert_eq(sizeof(tsagg_attr), 32);
    cr_assert_eq(sizeof(tsagg_event), 72);
    cr_assert_eq(sizeof(tsagg_options), 88);
    cr_assert_eq(offsetof(tsagg_options, head_max_bytes), 64);
    cr_assert_eq(offsetof(tsagg_options, query_cache_bytes), 48); /* the first release's size */
    cr_assert_eq(offsetof(tsagg_options, maintenance), 56);
    cr_assert_eq(sizeof(tsagg_maintain_options), 88);
    cr_assert_eq(sizeof(tsagg_maintain_stats), 424);
    cr_assert_eq(offsetof(tsagg_maintain_stats, head_bytes), 408); /* the first release's size */
    cr_assert_eq(sizeof(tsagg_io), 14 * sizeof(void *));
    cr_assert_eq(offsetof(tsagg_io, version), 0);
    cr_assert_eq(TSAGG_IO_VERSION, 1);
    cr_assert_eq(sizeof(tsagg_segment_info), 64);
    cr_assert_eq(sizeof(tsagg_log_range), 32);
    cr_assert_eq(sizeof(tsagg_compact_options), 48);
    cr_assert_eq(sizeof(tsagg_compact_stats), 128);
    cr_assert_eq(offsetof(tsagg_compact_stats, hour_files), 96); /* the first release's size */
    cr_assert_eq(sizeof(tsagg_rebuild_options), 72);
    cr_assert_eq(sizeof(tsagg_rebuild_stats), 120);
    cr_assert_eq(offsetof(tsagg_rebuild_stats, regenerated), 112); /* the first release's */
    cr_assert_eq(sizeof(tsagg_metric), 16);
    cr_assert_eq(sizeof(tsagg_filter), 24);
    cr_assert_eq(sizeof(tsagg_query), 96);
    cr_assert_eq(sizeof(tsagg_verify_problem), 40);
    cr_assert_eq(offsetof(tsagg_verify_problem, hours), 36); /* in the first release's padding */
    cr_assert_eq(sizeof(tsagg_verify_stats), 72);
    /* Sizes travel first, where every version of a struct has them. */
    cr_assert_eq(offsetof(tsagg_options, struct_size), 0);
    cr_assert_eq(offsetof(tsagg_query, struct_size), 0);
    cr_assert_eq(offsetof(tsagg_compact_options, struct_size), 0);
    cr_assert_eq(offsetof(tsagg_rebuild_options, struct_size), 0);
    cr_assert_eq(offsetof(tsagg_compact_stats, struct_size), 0);
    cr_assert_eq(offsetof(tsagg_rebuild_stats, struct_size), 0);
    cr_assert_eq(offsetof(tsagg_verify_stats, struct_size), 0);
    cr_assert_eq(offsetof(tsagg_verify_problem, struct_size), 0);
    cr_assert_eq(offsetof(tsagg_segment_info, struct_size), 0);
}
