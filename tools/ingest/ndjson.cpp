/*
 * ndjson.cpp - see ndjson.h.
 *
 * simdjson's on-demand API parses only what is asked for, in input order,
 * so each field is classified once (fieldmap_find) and converted straight
 * into the event. Strings without escapes are taken from the line itself:
 * the common case copies nothing.
 */
#include <simdjson.h>

#include <cstring>
#include <new>

#include "ndjson.h"

using namespace simdjson;

static_assert(NDJSON_PADDING >= SIMDJSON_PADDING, "NDJSON_PADDING below what simdjson reads");

struct ndjson_parser {
    ondemand::parser parser;
    dom::parser dom; /* checks the objects and arrays kept as text */
};

extern "C" ndjson_parser *ndjson_parser_create(void)
{
    return new (std::nothrow) ndjson_parser();
}

extern "C" void ndjson_parser_free(ndjson_parser *p)
{
    delete p;
}

namespace {

const char *json_error_text(error_code e)
{
    switch (e) {
    case TAPE_ERROR: return "bad structure (a missing comma, colon, quote or brace)";
    case UNCLOSED_STRING: return "unclosed string";
    case UTF8_ERROR: return "invalid UTF-8";
    case INCOMPLETE_ARRAY_OR_OBJECT: return "unclosed object or array";
    case NUMBER_ERROR: return "bad number";
    case STRING_ERROR: return "bad escape in a string";
    case UNESCAPED_CHARS: return "unescaped control character in a string";
    case EMPTY: return "empty line";
    case T_ATOM_ERROR:
    case F_ATOM_ERROR:
    case N_ATOM_ERROR: return "bad literal (not true, false or null)";
    case DEPTH_ERROR: return "nested too deeply";
    case TRAILING_CONTENT: return "more text after the object";
    default: return error_message(e);
    }
}

int bad_json(evbuild *b, error_code e)
{
    return evb_failf(b, "invalid JSON: %s", json_error_text(e));
}

/* Without the blanks that may follow a value. */
std::string_view trim_blanks(std::string_view t)
{
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t' || t.back() == '\r'))
        t.remove_suffix(1);
    return t;
}

/* The text of a scalar. */
std::string_view token_text(ondemand::value &v)
{
    return trim_blanks(v.raw_json_token());
}

/* Copy an unescaped string into the event's buffer: simdjson's copy lives
 * only until the next line is parsed. */
int keep(evbuild *b, std::string_view u, const char **s, size_t *len)
{
    char *copy = evb_alloc(b, u.size() + 1);
    if (!copy)
        return evb_failf(b, "out of memory");
    std::memcpy(copy, u.data(), u.size());
    *s = copy;
    *len = u.size();
    return 0;
}

/*
 * A string value: borrowed from the line unless it holds escapes. Either
 * way the value is consumed: a value left unread is skipped later without
 * checking what follows it, which let `"k":"v":1}}` through as `"k":"v"`.
 */
int get_str(ondemand::value &v, evbuild *b, const char **s, size_t *len)
{
    std::string_view t = token_text(v);
    error_code e;
    if (t.size() >= 2 && !std::memchr(t.data() + 1, '\\', t.size() - 2)) {
        ondemand::raw_json_string unused;
        if ((e = v.get_raw_json_string().get(unused)))
            return bad_json(b, e);
        *s = t.data() + 1;
        *len = t.size() - 2;
        return 0;
    }
    std::string_view u;
    e = v.get_string().get(u);
    if (e)
        return bad_json(b, e);
    return keep(b, u, s, len);
}

int wrong_type(evbuild *b, const char *key, size_t klen, const char *expected,
               ondemand::value &v, ondemand::json_type t)
{
    if (t == ondemand::json_type::object)
        return evb_fail(b, key, klen, expected, "an object", 9);
    if (t == ondemand::json_type::array)
        return evb_fail(b, key, klen, expected, "an array", 8);
    std::string_view tok = token_text(v);
    return evb_fail(b, key, klen, expected, tok.data(), tok.size());
}

/* Unsigned integer of a number value: 0 on success. */
int get_unsigned(ondemand::value &v, uint64_t *out)
{
    ondemand::number n;
    if (v.get_number().get(n))
        return -1;
    if (n.is_uint64()) {
        *out = n.get_uint64();
        return 0;
    }
    if (n.is_int64() && n.get_int64() >= 0) {
        *out = (uint64_t)n.get_int64();
        return 0;
    }
    return -1;
}

/* A number as an attribute: integers stay integers where int64 holds them. */
int add_number(evbuild *b, const char *key, size_t klen, ondemand::value &v)
{
    ondemand::number n;
    error_code e = v.get_number().get(n);
    if (e)
        return bad_json(b, e);
    if (n.is_int64())
        return evb_add_int(b, key, klen, n.get_int64());
    return evb_add_f64(b, key, klen, n.is_uint64() ? (double)n.get_uint64() : n.get_double());
}

/* An undeclared field, kept as received: objects and arrays as their JSON
 * text, true and false as those words. The on-demand parser skips what it
 * is not asked for without checking it, so the text of an object or array
 * is parsed once more, whole (it lies inside the padded line). */
int add_other(ndjson_parser *p, evbuild *b, const char *key, size_t klen, ondemand::value &v,
              ondemand::json_type t)
{
    const char *s;
    size_t len;
    bool flag;
    std::string_view raw;
    error_code e = SUCCESS;
    switch (t) {
    case ondemand::json_type::string:
        if (get_str(v, b, &s, &len))
            return -1;
        return evb_add_str(b, key, klen, s, len);
    case ondemand::json_type::number:
        return add_number(b, key, klen, v);
    case ondemand::json_type::boolean:
        if ((e = v.get_bool().get(flag)))
            return bad_json(b, e == INCORRECT_TYPE ? T_ATOM_ERROR : e);
        return flag ? evb_add_str(b, key, klen, "true", 4) : evb_add_str(b, key, klen, "false", 5);
    case ondemand::json_type::object: {
        ondemand::object o;
        if (!(e = v.get_object().get(o)))
            e = o.raw_json().get(raw);
        break;
    }
    case ondemand::json_type::array: {
        ondemand::array a;
        if (!(e = v.get_array().get(a)))
            e = a.raw_json().get(raw);
        break;
    }
    default:
        return 0;
    }
    if (!e) {
        raw = trim_blanks(raw);
        dom::element checked;
        e = p->dom.parse(raw.data(), raw.size(), false).get(checked);
    }
    if (e)
        return bad_json(b, e);
    return evb_add_str(b, key, klen, raw.data(), raw.size());
}

int set_known(evbuild *b, const field_info *f, ondemand::value &v, ondemand::json_type t)
{
    using jt = ondemand::json_type;
    const char *s;
    size_t len;
    uint64_t u;
    tsagg_event *ev = b->cur;
    switch (f->kind) {
    case FIELD_TS:
        if (t == jt::string) {
            if (get_str(v, b, &s, &len))
                return -1;
            return evb_set_ts_text(b, f, s, len);
        }
        if (t == jt::number) {
            int64_t i;
            if (!v.get_int64().get(i))
                return evb_set_ts_int(b, f, i);
        }
        return wrong_type(b, f->name, f->len, "RFC 3339 time or integer", v, t);
    case FIELD_MERCHANT:
        if (t == jt::number && get_unsigned(v, &ev->merchant) == 0)
            return 0;
        return wrong_type(b, f->name, f->len, "unsigned integer", v, t);
    case FIELD_EVENT:
        if (t != jt::string)
            return wrong_type(b, f->name, f->len, "string", v, t);
        if (get_str(v, b, &s, &len))
            return -1;
        return evb_set_event(b, f, s, len);
    case FIELD_USER:
    case FIELD_SESSION:
        if (t == jt::string) {
            if (get_str(v, b, &s, &len))
                return -1;
            u = tsagg_hash_id(s, len);
        } else if (t != jt::number || get_unsigned(v, &u) != 0) {
            return wrong_type(b, f->name, f->len, "string or unsigned integer", v, t);
        }
        (f->kind == FIELD_USER ? ev->user : ev->session) = u;
        return 0;
    case FIELD_ID:
        if (t != jt::number || get_unsigned(v, &ev->id) != 0)
            return wrong_type(b, f->name, f->len, "unsigned integer", v, t);
        ev->flags |= TSAGG_EVENT_HAS_ID;
        return 0;
    case FIELD_DIMENSION:
        if (t != jt::string)
            return wrong_type(b, f->name, f->len, "string", v, t);
        if (get_str(v, b, &s, &len))
            return -1;
        return evb_add_str(b, f->name, f->len, s, len);
    case FIELD_MEASURE:
        if (t != jt::number)
            return wrong_type(b, f->name, f->len, "number", v, t);
        return add_number(b, f->name, f->len, v);
    default:
        return 0;
    }
}

/* The key of a field: from the line unless it holds escapes. */
int get_key(ondemand::field &fld, const char *end, evbuild *b, const char **key, size_t *klen)
{
    const char *k = fld.key().raw();
    const char *q = static_cast<const char *>(std::memchr(k, '"', (size_t)(end - k)));
    if (q && !std::memchr(k, '\\', (size_t)(q - k))) {
        *key = k;
        *klen = (size_t)(q - k);
        return 0;
    }
    std::string_view u;
    error_code e = fld.unescaped_key().get(u);
    if (e)
        return bad_json(b, e);
    return keep(b, u, key, klen);
}

/*
 * Where the object the line begins with ends (past its closing brace), by
 * its brackets and strings alone; 0 when the line ends first. Used only to
 * explain an error: simdjson reports text after a complete object as an
 * unclosed object or string when that text holds brackets or quotes.
 */
size_t object_end(const char *s, size_t len)
{
    size_t i = 0, depth = 0;
    while (i < len && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (i == len || s[i] != '{')
        return 0;
    for (; i < len; i++) {
        char c = s[i];
        if (c == '"') {
            for (i++; i < len && s[i] != '"'; i++)
                i += s[i] == '\\';
        } else if (c == '{' || c == '[') {
            depth++;
        } else if ((c == '}' || c == ']') && --depth == 0) {
            return i + 1;
        }
    }
    return 0;
}

/* A JSON error on a line that is a valid object followed by more text is
 * about that text. */
void explain_trailing(ndjson_parser *p, const char *line, size_t len, evbuild *b)
{
    size_t end = object_end(line, len);
    if (end == 0 || std::strncmp(b->err, "invalid JSON: ", 14) != 0)
        return;
    if (trim_blanks(std::string_view(line + end, len - end)).empty())
        return;
    dom::element checked;
    if (!p->dom.parse(line, end, false).get(checked))
        bad_json(b, TRAILING_CONTENT);
}

int parse_line(ndjson_parser *p, const char *line, size_t len, evbuild *b)
{
    evb_begin(b);
    ondemand::document doc;
    error_code e = p->parser.iterate(padded_string_view(line, len, len + SIMDJSON_PADDING)).get(doc);
    if (e)
        return bad_json(b, e);
    ondemand::object obj;
    e = doc.get_object().get(obj);
    if (e == INCORRECT_TYPE)
        return evb_failf(b, "invalid JSON: expected an object {...}");
    if (e)
        return bad_json(b, e);
    for (auto result : obj) {
        ondemand::field fld;
        if ((e = std::move(result).get(fld)))
            return bad_json(b, e);
        const char *key = nullptr;
        size_t klen = 0;
        if (get_key(fld, line + len, b, &key, &klen))
            return -1;
        ondemand::value v = fld.value();
        ondemand::json_type t;
        if ((e = v.type().get(t)))
            return bad_json(b, e);
        if (t == ondemand::json_type::null) { /* null means absent */
            bool null;
            if ((e = v.is_null().get(null)) || !null)
                return bad_json(b, N_ATOM_ERROR);
            continue;
        }
        const field_info *f = fieldmap_find(b->fields, key, klen);
        if (!f) {
            b->others++;
            if (add_other(p, b, key, klen, v, t))
                return -1;
        } else if (evb_mark(b, f) || set_known(b, f, v, t)) {
            return -1;
        }
    }
    /* Past the object, only the end of the line may follow. */
    const char *rest;
    if (!doc.current_location().get(rest))
        return bad_json(b, TRAILING_CONTENT);
    return evb_finish(b);
}

} // namespace

extern "C" int ndjson_parse(ndjson_parser *p, const char *line, size_t len, evbuild *b)
{
    int rc = parse_line(p, line, len, b);
    if (rc != 0)
        explain_trailing(p, line, len, b);
    return rc;
}
