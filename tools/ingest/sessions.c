/* sessions.c - see sessions.h. */
#include "sessions.h"

#include <stdlib.h>

#include "tsagg.h"

#define FORGET_AFTER_US (2 * SESSION_GAP_US)
#define INITIAL_SLOTS 4096

typedef struct visit {
    uint64_t visitor; /* 0: empty slot */
    int64_t first, last;
    uint64_t session;
} visit;

struct sessions {
    visit *slots;
    size_t cap, count; /* cap: power of two */
    int64_t newest;
};

sessions *sessions_create(void)
{
    sessions *s = calloc(1, sizeof *s);
    if (s && !(s->slots = calloc(INITIAL_SLOTS, sizeof *s->slots))) {
        free(s);
        return NULL;
    }
    if (s) {
        s->cap = INITIAL_SLOTS;
        s->newest = INT64_MIN;
    }
    return s;
}

void sessions_free(sessions *s)
{
    if (s)
        free(s->slots);
    free(s);
}

static visit *slot_of(visit *slots, size_t cap, uint64_t visitor)
{
    size_t i = (size_t)(visitor * UINT64_C(0x9E3779B97F4A7C15) >> 32) & (cap - 1);
    while (slots[i].visitor && slots[i].visitor != visitor)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

/* Drop idle visitors; grow when most of the table is still in use. */
static int rebuild(sessions *s)
{
    size_t live = 0;
    for (size_t i = 0; i < s->cap; i++)
        live += s->slots[i].visitor && s->slots[i].last + FORGET_AFTER_US >= s->newest;
    size_t cap = live * 4 > s->cap ? s->cap * 2 : s->cap;
    visit *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < s->cap; i++) {
        const visit *v = &s->slots[i];
        if (v->visitor && v->last + FORGET_AFTER_US >= s->newest)
            *slot_of(slots, cap, v->visitor) = *v;
    }
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
    s->count = live;
    return 0;
}

static uint64_t session_id(uint64_t visitor, int64_t start)
{
    unsigned char key[16];
    for (int i = 0; i < 8; i++) { /* little-endian: the same ids on any machine */
        key[i] = (unsigned char)(visitor >> (8 * i));
        key[8 + i] = (unsigned char)((uint64_t)start >> (8 * i));
    }
    return tsagg_hash_id(key, sizeof key);
}

uint64_t sessions_assign(sessions *s, uint64_t visitor, int64_t ts)
{
    if (visitor == 0)
        visitor = 1; /* 0 marks empty slots */
    if (ts > s->newest)
        s->newest = ts;
    visit *v = slot_of(s->slots, s->cap, visitor);
    if (v->visitor) {
        if (ts >= v->first - SESSION_GAP_US && ts <= v->last + SESSION_GAP_US) {
            v->first = ts < v->first ? ts : v->first;
            v->last = ts > v->last ? ts : v->last;
            return v->session;
        }
    } else {
        if ((s->count + 1) * 2 > s->cap) {
            if (rebuild(s) != 0)
                return 0;
            v = slot_of(s->slots, s->cap, visitor);
        }
        s->count++;
        v->visitor = visitor;
    }
    v->first = v->last = ts;
    v->session = session_id(visitor, ts);
    return v->session;
}
