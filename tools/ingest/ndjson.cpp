/*
 * ndjson.cpp - see ndjson.h.
 *
 * simdjson's on-demand API parses only what is asked for, in input order,
 * so each field is classified once (fieldmap_find) and converted straight
 * into the event. Strings without escapes are taken from the line itself:
 * the common case copies nothing. Lines of the most common shape take a
 * faster path first (fast_line, below), which gives up on anything else.
 */
#include <simdjson.h>

#include <cstdint>
#include <cstring>
#include <new>

/* The fast path scans 16 bytes at a time with SSE2 where the target has
 * it (every x86-64), else 8 at a time in a 64-bit word; NDJSON_PORTABLE
 * forces the second, which tests/fuzz builds too, to test it. */
#if defined(__SSE2__) && !defined(NDJSON_PORTABLE)
#define NDJSON_SSE2 1
#include <emmintrin.h>
#else
#define NDJSON_SSE2 0
#endif

#include "ndjson.h"

using namespace simdjson;

static_assert(NDJSON_PADDING >= SIMDJSON_PADDING, "NDJSON_PADDING below what simdjson reads");

/* Keys a line's fields are remembered under, by position (fast_line). */
#define FAST_KEYS 32
/* Bytes of a remembered key's text: the key, its closing quote, a colon. */
#define KEY_TEXT 16

/* The key at one position of the last line: lines of one source list the
 * same keys in the same order, so the next line's bytes there are most
 * likely the same text, which then needs neither a scan nor a lookup. */
struct key_at {
    const field_info *f; /* its declared field, NULL if undeclared */
    char text[KEY_TEXT]; /* KEY": (printable ASCII, checked when it was read) */
    unsigned n;          /* bytes of text; 0 when the key did not fit */
};

struct ndjson_parser {
    ondemand::parser parser;
    dom::parser dom; /* checks the objects and arrays kept as text */
    key_at keys[FAST_KEYS];
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

/* ---- the common line, without simdjson ----------------------------------- */

/*
 * Most lines are one flat object of ASCII strings without escapes and of
 * numbers without exponents: the fast path below takes those with one pass
 * over the bytes and the same field handling (fieldmap_find, evb_*).
 * Anything else (an escape, a byte outside printable ASCII in a string, an
 * exponent, a fraction of more than 15 digits, true, false, an object or
 * array value, a wrong type, a field
 * given twice, an event evb_finish refuses, any syntax error) makes it
 * give the line up, untouched in meaning: simdjson then parses it from
 * the start (evb_begin forgets what the fast path built), and its checks
 * and messages are the ones reported.
 */

inline bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

#if !NDJSON_SSE2
/* Bytes of w (eight, little-endian) a fast string stops at: a quote, a
 * backslash, a control byte, DEL or any byte above. The lowest flag is
 * exact (a borrow only flags bytes above a true one), which is all the
 * caller uses. */
inline uint64_t stop_bytes(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    auto zero = [&](uint64_t v) { return (v - ones) & ~v & highs; };
    return zero(w ^ (ones * '"')) | zero(w ^ (ones * '\\')) | zero(w ^ (ones * 0x7f)) |
           ((w - ones * 0x20) & ~w & highs) | (w & highs);
}
#endif

/* Where the first byte at or after q that a fast string stops at lies (a
 * quote, a backslash, a control byte, DEL or any byte above), or a place
 * at or past end when there is none before end. */
inline const char *string_stop(const char *q, const char *end)
{
#if NDJSON_SSE2
    /* The 16 bytes at q < end are readable: NDJSON_PADDING follows end. */
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'),
                  space = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7f);
    for (; q < end; q += 16) {
        __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i *>(q));
        /* Signed: bytes from 0x80 up compare below the space too. */
        __m128i stop = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote),
                                                 _mm_cmpeq_epi8(v, backslash)),
                                    _mm_or_si128(_mm_cmplt_epi8(v, space),
                                                 _mm_cmpeq_epi8(v, del)));
        unsigned m = (unsigned)_mm_movemask_epi8(stop);
        if (m)
            return q + __builtin_ctz(m);
    }
    return q;
#else
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (end - q >= 8) { /* eight bytes at a time to the first stop */
        uint64_t w;
        std::memcpy(&w, q, 8);
        uint64_t m = stop_bytes(w);
        if (m)
            return q + (__builtin_ctzll(m) >> 3);
        q += 8;
    }
#endif
    while (q < end && (unsigned char)(*q - 0x20) < 0x5f && *q != '"' && *q != '\\')
        q++;
    return q;
#endif
}

/* A string at *p (past its opening quote) of printable ASCII without
 * escapes: its bytes, *p past the closing quote. */
inline bool fast_string(const char **p, const char *end, const char **s, size_t *len)
{
    const char *q = string_stop(*p, end);
    if (q >= end || *q != '"')
        return false;
    *s = *p;
    *len = (size_t)(q - *p);
    *p = q + 1;
    return true;
}

/* A number by the JSON grammar without an exponent: an integer, or a
 * fraction (digits '.' digits). Not -0, which simdjson reads as a double. */
struct fast_num {
    const char *text; /* with its sign */
    size_t len;
    uint64_t magnitude; /* of all its digits, when at most 19 (no overflow) */
    size_t digits;      /* before and after the point */
    size_t fraction;    /* digits after the point; 0: an integer */
    bool neg;
};

inline bool fast_number(const char **p, const char *end, fast_num *n)
{
    const char *q = *p;
    n->neg = q < end && *q == '-';
    q += n->neg;
    const char *digits = q;
    uint64_t v = 0;
    for (unsigned d; q < end && (d = (unsigned char)*q - '0') <= 9; q++)
        v = v * 10 + d; /* wraps past 19 digits: then not used */
    if (q == digits || (*digits == '0' && q - digits > 1))
        return false;
    n->digits = (size_t)(q - digits);
    n->fraction = 0;
    if (q < end && *q == '.') {
        const char *point = q++;
        for (unsigned d; q < end && (d = (unsigned char)*q - '0') <= 9; q++)
            v = v * 10 + d;
        n->fraction = (size_t)(q - point - 1);
        if (n->fraction == 0)
            return false;
        n->digits += n->fraction;
    } else if (n->neg && *digits == '0') {
        return false;
    }
    if (q < end && (*q == 'e' || *q == 'E'))
        return false;
    n->text = *p;
    n->len = (size_t)(q - *p);
    n->magnitude = v;
    *p = q;
    return true;
}

/* A fraction's value as simdjson reads it (correctly rounded), where one
 * division gives that: digits exact in a double, a power of ten exact too. */
inline bool fraction_f64(const fast_num &n, double *out)
{
#if defined(__FLT_EVAL_METHOD__) && __FLT_EVAL_METHOD__ == 0
    static const double pow10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    if (n.digits > 15)
        return false;
    double v = (double)n.magnitude / pow10[n.fraction];
    *out = n.neg ? -v : v;
    return true;
#else
    (void)n;
    (void)out;
    return false; /* excess precision would round twice */
#endif
}

/* Its value as an unsigned integer (parse_u64_text's answer). */
inline bool int_u64(const fast_num &n, uint64_t *out)
{
    if (n.neg || n.fraction)
        return false;
    if (n.digits <= 19) {
        *out = n.magnitude;
        return true;
    }
    return parse_u64_text(n.text, n.len, out);
}

/* Its value as a signed integer (parse_i64_text's answer). */
inline bool int_i64(const fast_num &n, int64_t *out)
{
    if (n.fraction)
        return false;
    if (n.digits <= 18) { /* below 10^18: fits either way */
        *out = n.neg ? -(int64_t)n.magnitude : (int64_t)n.magnitude;
        return true;
    }
    return parse_i64_text(n.text, n.len, out);
}

/* The key at *p (past its opening quote) when the line has the text the
 * key at that position of the last line had: its bytes, its field, *p past
 * the colon. */
inline bool known_key(const key_at *k, const char **p, const char *end, const char **key,
                      size_t *klen, const field_info **f)
{
    const char *q = *p;
    if (k->n == 0 || (size_t)(end - q) < k->n)
        return false;
#if NDJSON_SSE2
    /* The 16 bytes at q < end are readable: NDJSON_PADDING follows end. */
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i *>(q));
    __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i *>(k->text));
    unsigned same = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, t));
    unsigned want = (1u << k->n) - 1;
    if ((same & want) != want)
        return false;
#else
    if (std::memcmp(q, k->text, k->n) != 0)
        return false;
#endif
    *key = q;
    *klen = k->n - 2;
    *f = k->f;
    *p = q + k->n;
    return true;
}

/* The declared field of a key read by fast_string (NULL: undeclared),
 * remembered with the key's text for the next line. */
inline const field_info *fast_field(ndjson_parser *np, unsigned pos, evbuild *b, const char *key,
                                    size_t klen)
{
    const field_info *f = fieldmap_find(b->fields, key, klen);
    if (pos < FAST_KEYS) {
        key_at *k = &np->keys[pos];
        k->f = f;
        k->n = 0;
        if (klen + 2 <= KEY_TEXT) {
            std::memcpy(k->text, key, klen);
            k->text[klen] = '"';
            k->text[klen + 1] = ':';
            k->n = (unsigned)klen + 2;
        }
    }
    return f;
}

/* One field's value, as set_known / add_other take it. */
bool fast_value(const field_info *f, evbuild *b, const char *key, size_t klen, const char **p,
                const char *end)
{
    const char *s;
    size_t len;
    if (**p == 'n') { /* null means absent */
        if (end - *p < 4 || std::memcmp(*p, "null", 4) != 0)
            return false;
        *p += 4;
        return true;
    }
    if (**p == '"') {
        ++*p;
        if (!fast_string(p, end, &s, &len))
            return false;
        if (!f) {
            b->others++;
            return evb_add_str(b, key, klen, s, len) == 0;
        }
        if (evb_mark(b, f))
            return false;
        tsagg_event *ev = b->cur;
        switch (f->kind) {
        case FIELD_TS:
            return evb_set_ts_text(b, f, s, len) == 0;
        case FIELD_EVENT:
            return evb_set_event(b, f, s, len) == 0;
        case FIELD_USER:
            ev->user = tsagg_hash_id(s, len);
            return true;
        case FIELD_SESSION:
            ev->session = tsagg_hash_id(s, len);
            return true;
        case FIELD_DIMENSION:
            return evb_add_str(b, f->name, f->len, s, len) == 0;
        case FIELD_MERCHANT:
        case FIELD_ID:
        case FIELD_MEASURE:
            return false; /* a wrong type: the general path says so */
        default:
            return true;
        }
    }
    fast_num n;
    if (!fast_number(p, end, &n))
        return false;
    int64_t i;
    uint64_t u;
    double x;
    if (n.fraction) { /* a double: for a measure or an undeclared field */
        if (!fraction_f64(n, &x) || (f && f->kind != FIELD_MEASURE))
            return false;
        if (!f) {
            b->others++;
            return evb_add_f64(b, key, klen, x) == 0;
        }
        return evb_mark(b, f) == 0 && evb_add_f64(b, f->name, f->len, x) == 0;
    }
    if (!f) {
        b->others++;
        return int_i64(n, &i) && evb_add_int(b, key, klen, i) == 0;
    }
    if (evb_mark(b, f))
        return false;
    tsagg_event *ev = b->cur;
    switch (f->kind) {
    case FIELD_TS:
        return int_i64(n, &i) && evb_set_ts_int(b, f, i) == 0;
    case FIELD_MERCHANT:
        return int_u64(n, &ev->merchant);
    case FIELD_USER:
    case FIELD_SESSION:
        if (!int_u64(n, &u))
            return false;
        (f->kind == FIELD_USER ? ev->user : ev->session) = u;
        return true;
    case FIELD_ID:
        if (!int_u64(n, &ev->id))
            return false;
        ev->flags |= TSAGG_EVENT_HAS_ID;
        return true;
    case FIELD_MEASURE:
        return int_i64(n, &i) && evb_add_int(b, f->name, f->len, i) == 0;
    case FIELD_EVENT:
    case FIELD_DIMENSION:
        return false;
    default:
        return true;
    }
}

/* The line as one flat object of the common kind, into a new event of b:
 * true when taken whole (evb_finish accepted it), false to give it up. */
bool fast_line(ndjson_parser *np, const char *line, size_t len, evbuild *b)
{
    const char *p = line, *end = line + len;
    unsigned pos = 0;
    evb_begin(b);
    while (p < end && is_ws(*p))
        p++;
    if (p == end || *p++ != '{')
        return false;
    while (p < end && is_ws(*p))
        p++;
    if (p < end && *p == '}') {
        p++;
    } else {
        for (;;) {
            const char *key;
            size_t klen;
            const field_info *f;
            if (p == end || *p++ != '"')
                return false;
            if (pos >= FAST_KEYS || !known_key(&np->keys[pos], &p, end, &key, &klen, &f)) {
                if (!fast_string(&p, end, &key, &klen))
                    return false;
                while (p < end && is_ws(*p))
                    p++;
                if (p == end || *p++ != ':')
                    return false;
                f = fast_field(np, pos, b, key, klen);
            }
            pos++;
            while (p < end && is_ws(*p))
                p++;
            if (p == end || !fast_value(f, b, key, klen, &p, end))
                return false;
            while (p < end && is_ws(*p))
                p++;
            if (p == end)
                return false;
            char c = *p++;
            if (c == '}')
                break;
            if (c != ',')
                return false;
            while (p < end && is_ws(*p))
                p++;
        }
    }
    while (p < end && is_ws(*p))
        p++;
    return p == end && evb_finish_printable(b) == 0;
}

} // namespace

extern "C" int ndjson_parse(ndjson_parser *p, const char *line, size_t len, evbuild *b)
{
    if (fast_line(p, line, len, b))
        return 0;
    return ndjson_parse_general(p, line, len, b);
}

extern "C" int ndjson_parse_general(ndjson_parser *p, const char *line, size_t len, evbuild *b)
{
    int rc = parse_line(p, line, len, b);
    if (rc != 0)
        explain_trailing(p, line, len, b);
    return rc;
}
