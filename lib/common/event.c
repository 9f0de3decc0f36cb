/* event.c - event identifiers and validation. */
#include <xxhash.h>

#include "tsagg_store.h"

uint64_t tsagg_hash_id(const void *data, size_t len)
{
    return XXH64(data, len, 0);
}

int tsagg_event_validate(const tsagg_event *ev)
{
    if (!ev || !ev->event || ev->event_len == 0 || ev->event_len > TSAGG_EVENT_NAME_MAX)
        return TSAGG_EINPUT;
    if (ev->flags & ~TSAGG_EVENT_HAS_ID)
        return TSAGG_EINPUT;
    if (ev->nattrs > TSAGG_ATTRS_MAX || (ev->nattrs && !ev->attrs))
        return TSAGG_EINPUT;
    for (uint32_t i = 0; i < ev->nattrs; i++) {
        const tsagg_attr *a = &ev->attrs[i];
        if (!a->key || a->key_len == 0 || a->key_len > TSAGG_NAME_MAX)
            return TSAGG_EINPUT;
        switch (a->type) {
        case TSAGG_STR:
            if (a->v.s.len > TSAGG_VALUE_MAX || (a->v.s.len && !a->v.s.ptr))
                return TSAGG_EINPUT;
            break;
        case TSAGG_INT:
        case TSAGG_F64:
            break;
        default:
            return TSAGG_EINPUT;
        }
    }
    return 0;
}
