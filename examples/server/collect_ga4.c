/*
 * collect_ga4.c - the GA4 Measurement Protocol: POST /mp/collect and
 * /debug/mp/collect ?measurement_id=G-...&api_secret=...
 *
 *   {"client_id": "123.456", "user_id": "u1", "timestamp_micros": 1700000000000000,
 *    "events": [{"name": "page_view", "params": {"page_location": "https://..."}}]}
 *
 * GA's limits and rules are checked (25 events, 25 parameters, names of 40
 * characters starting with a letter, reserved names and prefixes, values
 * of 100 characters, 72 hours of backdating, < 130 kB); the debug endpoint
 * reports them as GA does, {"validationMessages": [{"fieldPath",
 * "description", "validationCode"}]}, and stores nothing. Unlike GA, the
 * collect endpoint answers 204 only for events it stored (durable), and 400
 * with the same messages otherwise: nothing of a bad request is stored.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collect.h"
#include "jsonout.h"
#include "metrics.h"

#define GA4_MAX_EVENTS 25
#define GA4_MAX_PARAMS 25
#define GA4_MAX_USER_PROPS 25
#define GA4_NAME_MAX 40
#define GA4_PARAM_VALUE_MAX 100
#define GA4_USER_PROP_NAME_MAX 24
#define GA4_USER_PROP_VALUE_MAX 36
#define GA4_BACKDATE_US (INT64_C(72) * 3600 * 1000000)
#define GA4_FUTURE_US (INT64_C(60) * 1000000) /* clock skew allowed */

typedef struct messages {
    FILE *f;
    char *buf;
    size_t len;
    unsigned n;
} messages;

static void msg(messages *m, const char *path, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void msg(messages *m, const char *path, const char *code, const char *fmt, ...)
{
    char d[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d, sizeof d, fmt, ap);
    va_end(ap);
    fputs(m->n++ ? ", {\"fieldPath\": " : "{\"fieldPath\": ", m->f);
    json_put_str(m->f, path, strlen(path));
    fputs(", \"description\": ", m->f);
    json_put_str(m->f, d, strlen(d));
    fprintf(m->f, ", \"validationCode\": \"%s\"}", code);
}

static const char *const reserved_events[] = {
    "ad_activeview", "ad_click", "ad_exposure", "ad_impression", "ad_query", "ad_reward",
    "adunit_exposure", "app_background", "app_clear_data", "app_exception", "app_remove",
    "app_store_refund", "app_store_subscription_cancel", "app_store_subscription_convert",
    "app_store_subscription_renew", "app_update", "app_upgrade", "dynamic_link_app_open",
    "dynamic_link_app_update", "dynamic_link_first_open", "error", "firebase_campaign",
    "firebase_in_app_message_action", "firebase_in_app_message_dismiss",
    "firebase_in_app_message_impression", "first_open", "first_visit", "in_app_purchase",
    "notification_dismiss", "notification_foreground", "notification_open",
    "notification_receive", "os_update", "session_start", "session_start_with_rollout",
    "user_engagement",
};
static const char *const reserved_prefixes[] = {"_", "firebase_", "ga_", "google_", "gtag."};

/* GA's name rule; the validation code, or NULL when the name is good. */
static const char *name_problem(const char *s, size_t max, int is_event)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < sizeof reserved_prefixes / sizeof *reserved_prefixes; i++)
        if (!strncmp(s, reserved_prefixes[i], strlen(reserved_prefixes[i])))
            return "NAME_RESERVED";
    if (n == 0 || n > max)
        return n ? "VALUE_OUT_OF_BOUNDS" : "VALUE_REQUIRED";
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return "NAME_INVALID";
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return "NAME_INVALID";
    }
    if (is_event)
        for (size_t i = 0; i < sizeof reserved_events / sizeof *reserved_events; i++)
            if (!strcmp(s, reserved_events[i]))
                return "NAME_RESERVED";
    return NULL;
}

/* timestamp_micros as a number or a string of digits; 1 when present and
 * good, 0 absent, -1 bad. */
static int get_micros(json_t *v, int64_t *out)
{
    if (!v)
        return 0;
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 1;
    }
    const char *s = json_string_value(v);
    char *end;
    if (s && *s >= '0' && *s <= '9') {
        *out = strtoll(s, &end, 10);
        if (!*end)
            return 1;
    }
    return -1;
}

/* Check the whole request; messages go to m. */
static void validate(json_t *o, int64_t now, messages *m)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        static const char *const known[] = {"client_id", "user_id", "timestamp_micros",
                                            "user_properties", "events", "non_personalized_ads",
                                            "app_instance_id", "consent", "user_data",
                                            "user_location", "device", "ip_override",
                                            "validation_behavior"};
        size_t k = 0;
        while (k < sizeof known / sizeof *known && strcmp(key, known[k]))
            k++;
        if (k == sizeof known / sizeof *known)
            msg(m, key, "NAME_INVALID", "Unknown field [%s].", key);
    }
    json_t *cid = json_object_get(o, "client_id");
    if (!cid)
        msg(m, "client_id", "VALUE_REQUIRED", "Measurement requires a client_id.");
    else if (!json_is_string(cid) || !json_string_length(cid))
        msg(m, "client_id", "VALUE_INVALID", "client_id must be a non-empty string.");
    v = json_object_get(o, "user_id");
    if (v && !json_is_string(v))
        msg(m, "user_id", "VALUE_INVALID", "user_id must be a string.");
    int64_t ts;
    int got = get_micros(json_object_get(o, "timestamp_micros"), &ts);
    if (got < 0)
        msg(m, "timestamp_micros", "VALUE_INVALID", "timestamp_micros must be an integer.");
    else if (got && (ts < now - GA4_BACKDATE_US || ts > now + GA4_FUTURE_US))
        msg(m, "timestamp_micros", "VALUE_OUT_OF_BOUNDS",
            "timestamp_micros [%lld] must be within the last 72 hours and not in the future.",
            (long long)ts);
    json_t *up = json_object_get(o, "user_properties");
    if (up && !json_is_object(up))
        msg(m, "user_properties", "VALUE_INVALID", "user_properties must be an object.");
    else if (up && json_object_size(up) > GA4_MAX_USER_PROPS)
        msg(m, "user_properties", "EXCEEDED_MAX_ENTITIES",
            "A request can have a maximum of %d user properties.", GA4_MAX_USER_PROPS);
    else if (up)
        json_object_foreach(up, key, v) {
            char path[128];
            snprintf(path, sizeof path, "user_properties.%s", key);
            const char *c = name_problem(key, GA4_USER_PROP_NAME_MAX, 0);
            if (c)
                msg(m, path, c, "User property [%s] has an invalid name.", key);
            json_t *val = json_object_get(v, "value");
            if (json_is_string(val) && json_string_length(val) > GA4_USER_PROP_VALUE_MAX)
                msg(m, path, "VALUE_OUT_OF_BOUNDS",
                    "User property [%s] has a value longer than %d characters.", key,
                    GA4_USER_PROP_VALUE_MAX);
        }
    json_t *evs = json_object_get(o, "events");
    if (!evs) {
        msg(m, "events", "VALUE_REQUIRED", "Measurement requires events.");
        return;
    }
    if (!json_is_array(evs) || json_array_size(evs) == 0) {
        msg(m, "events", "VALUE_INVALID", "events must be a non-empty array.");
        return;
    }
    if (json_array_size(evs) > GA4_MAX_EVENTS) {
        msg(m, "events", "EXCEEDED_MAX_ENTITIES", "A request can have a maximum of %d events.",
            GA4_MAX_EVENTS);
        return;
    }
    size_t i;
    json_t *e;
    json_array_foreach(evs, i, e) {
        char path[160];
        snprintf(path, sizeof path, "events[%zu].name", i);
        const char *name = json_string_value(json_object_get(e, "name"));
        if (!json_is_object(e)) {
            snprintf(path, sizeof path, "events[%zu]", i);
            msg(m, path, "VALUE_INVALID", "Event at index: [%zu] must be an object.", i);
            continue;
        }
        if (!name) {
            msg(m, path, "VALUE_REQUIRED", "Event at index: [%zu] requires a name.", i);
        } else {
            const char *c = name_problem(name, GA4_NAME_MAX, 1);
            if (c)
                msg(m, path, c,
                    "Event at index: [%zu] has invalid name [%s]. Names must start with an "
                    "alphabetic character, hold letters, digits and underscores only, be at "
                    "most %d characters and not be reserved.", i, name, GA4_NAME_MAX);
        }
        got = get_micros(json_object_get(e, "timestamp_micros"), &ts);
        if (got < 0 || (got && (ts < now - GA4_BACKDATE_US || ts > now + GA4_FUTURE_US))) {
            snprintf(path, sizeof path, "events[%zu].timestamp_micros", i);
            msg(m, path, "VALUE_OUT_OF_BOUNDS",
                "Event at index: [%zu] has a timestamp_micros that is not an integer within "
                "the last 72 hours.", i);
        }
        json_t *params = json_object_get(e, "params");
        if (!params)
            continue;
        if (!json_is_object(params)) {
            snprintf(path, sizeof path, "events[%zu].params", i);
            msg(m, path, "VALUE_INVALID", "Event at index: [%zu] has params that are not an "
                                          "object.", i);
            continue;
        }
        if (json_object_size(params) > GA4_MAX_PARAMS) {
            snprintf(path, sizeof path, "events[%zu].params", i);
            msg(m, path, "EXCEEDED_MAX_ENTITIES",
                "Event at index: [%zu] can have a maximum of %d params.", i, GA4_MAX_PARAMS);
            continue;
        }
        json_object_foreach(params, key, v) {
            snprintf(path, sizeof path, "events[%zu].params.%s", i, key);
            const char *c = name_problem(key, GA4_NAME_MAX, 0);
            if (c)
                msg(m, path, c, "Event at index: [%zu] has invalid param [%s].", i, key);
            else if (json_is_string(v) && json_string_length(v) > GA4_PARAM_VALUE_MAX &&
                     strcmp(key, "page_location") && strcmp(key, "page_referrer"))
                msg(m, path, "VALUE_OUT_OF_BOUNDS",
                    "Event at index: [%zu] has param [%s] with a value longer than %d "
                    "characters.", i, key, GA4_PARAM_VALUE_MAX);
            else if (!json_is_string(v) && !json_is_number(v) && strcmp(key, "items"))
                msg(m, path, "VALUE_INVALID",
                    "Event at index: [%zu] has param [%s] that is neither a string nor a "
                    "number.", i, key);
        }
    }
}

/* One GA4 event into the worker's batch. */
static int add_event(request *r, worker *w, const site *s, json_t *o, json_t *e, size_t index,
                     int64_t now)
{
    const char *cid = json_string_value(json_object_get(o, "client_id"));
    const char *uid = json_string_value(json_object_get(o, "user_id"));
    const char *name = json_string_value(json_object_get(e, "name"));
    json_t *params = json_object_get(e, "params");
    hit h = {0};
    h.merchant = s->merchant;
    h.event = name;
    h.event_len = strlen(name);
    h.country = req_country(r);
    collect_user_agent(r, w, &h, NULL);
    h.user = uid && *uid ? tsagg_hash_id(uid, strlen(uid)) : tsagg_hash_id(cid, strlen(cid));
    int64_t ts;
    int given = get_micros(json_object_get(e, "timestamp_micros"), &ts) == 1 ||
                get_micros(json_object_get(o, "timestamp_micros"), &ts) == 1;
    h.ts = given ? ts : now;
    if (given) {
        /* A retried request repeats its client, times and order: the same
         * id, so compaction keeps one copy. */
        char key[512];
        int n = snprintf(key, sizeof key, "ga4\n%s\n%lld\n%zu\n%s", cid, (long long)ts, index,
                         name);
        h.has_id = 1;
        h.id = tsagg_hash_id(key, (size_t)n < sizeof key ? (size_t)n : sizeof key - 1);
    }
    json_t *v;
    if ((v = json_object_get(params, "page_location")) && json_is_string(v)) {
        h.page = json_string_value(v);
        h.page_len = json_string_length(v);
    }
    if ((v = json_object_get(params, "page_referrer")) && json_is_string(v)) {
        h.referrer = json_string_value(v);
        h.referrer_len = json_string_length(v);
    }
    if ((v = json_object_get(params, "session_id"))) {
        char sk[256];
        const char *sid = json_string_value(v);
        int n = sid ? snprintf(sk, sizeof sk, "%s\n%s", cid, sid)
                    : snprintf(sk, sizeof sk, "%s\n%.17g", cid, json_number_value(v));
        h.session = tsagg_hash_id(sk, (size_t)n < sizeof sk ? (size_t)n : sizeof sk - 1);
    }
    if ((v = json_object_get(params, "value")) && json_is_number(v)) {
        h.has_value = 1;
        h.value = json_number_value(v);
    }
    if (collect_begin(r->srv, w, &h) != 0)
        return -1;
    const char *key;
    json_object_foreach(params, key, v) {
        if (!strcmp(key, "page_location") || !strcmp(key, "page_referrer") ||
            !strcmp(key, "value") || !strcmp(key, "items"))
            continue;
        int rc = json_is_string(v)
                     ? collect_extra_str(w, key, strlen(key), json_string_value(v),
                                         json_string_length(v))
                     : collect_extra_f64(w, key, strlen(key), json_number_value(v));
        if (rc)
            return -1;
    }
    return evb_finish(&w->b);
}

void handle_ga4(request *r, int debug)
{
    server *srv = r->srv;
    const char *mid = req_arg(r, "measurement_id"), *secret = req_arg(r, "api_secret");
    site s;
    if (!mid || !secret) {
        req_error(r, 401, "missing measurement_id or api_secret in the query string");
        return;
    }
    if (!sites_by_measurement_id(srv->sites, mid, &s)) {
        metrics_events(srv->metrics, r->endpoint, EV_UNKNOWN_SITE, 1);
        req_error(r, 404, "no site has measurement_id %s", mid);
        return;
    }
    if (!keys_equal(secret, s.api_secret)) {
        req_error(r, 401, "wrong api_secret for %s", mid);
        return;
    }
    json_error_t je;
    json_t *o = json_loadb(r->body, r->body_len, 0, &je);
    messages m = {0};
    m.f = open_memstream(&m.buf, &m.len);
    if (!m.f) {
        json_decref(o);
        req_error(r, 500, "out of memory");
        return;
    }
    fputs("{\"validationMessages\": [", m.f);
    int64_t now = now_us();
    if (!o)
        msg(&m, "", "VALUE_INVALID", "Unable to parse the request body as JSON: %s (line %d "
                                     "column %d).", je.text, je.line, je.column);
    else if (!json_is_object(o))
        msg(&m, "", "VALUE_INVALID", "The request body must be a JSON object.");
    else
        validate(o, now, &m);
    unsigned problems = m.n;
    fputs("]}\n", m.f);
    fclose(m.f);
    if (debug || problems) {
        size_t nev = o ? json_array_size(json_object_get(o, "events")) : 0;
        if (!debug)
            metrics_events(srv->metrics, r->endpoint, EV_INVALID, nev ? nev : 1);
        req_take(r, debug ? 200 : 400, "application/json", m.buf, m.len);
        json_decref(o);
        return;
    }
    free(m.buf);
    worker *w = worker_get(srv);
    if (!w) {
        json_decref(o);
        req_error(r, 500, "out of memory");
        return;
    }
    json_t *evs = json_object_get(o, "events");
    size_t i;
    json_t *e;
    json_array_foreach(evs, i, e) {
        if (add_event(r, w, &s, o, e, i, now) != 0) {
            metrics_events(srv->metrics, r->endpoint, EV_INVALID, json_array_size(evs));
            req_error(r, 400, "events[%zu]: %s", i, w->b.err);
            json_decref(o);
            return;
        }
    }
    char err[256];
    if (worker_append(srv, w, r, err, sizeof err) != 0) {
        metrics_events(srv->metrics, r->endpoint, EV_STORE_ERROR, w->b.n);
        req_error(r, 503, "the store failed: %s", err);
    } else {
        req_canned(r, ANSWER_GA4_OK);
    }
    evb_reset(&w->b);
    json_decref(o);
}
