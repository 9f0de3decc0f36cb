/* sites.c - see sites.h. */
#include "sites.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include "jsonout.h"

#define SITES_FILE "server-sites.json"
#define SITES_VERSION 1

struct sites {
    pthread_rwlock_t lock;
    site *v;
    size_t n, cap;
    char *path, *tmp_path;
    int dirfd;
};

int keys_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la && i < lb; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static int copy_field(json_t *o, const char *name, char *dst, size_t cap)
{
    const char *v = json_string_value(json_object_get(o, name));
    if (!v || strlen(v) >= cap)
        return -1;
    strcpy(dst, v);
    return 0;
}

static int load(sites *s, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_load_file(s->path, 0, &je);
    if (!root) {
        if (access(s->path, F_OK) != 0 && errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s:%d: %s", s->path, je.line, je.text);
        return -1;
    }
    json_t *ver = json_object_get(root, "version"), *arr = json_object_get(root, "sites");
    if (!json_is_integer(ver) || json_integer_value(ver) != SITES_VERSION || !json_is_array(arr)) {
        snprintf(err, errlen, "%s: expected {\"version\": %d, \"sites\": [...]}", s->path,
                 SITES_VERSION);
        json_decref(root);
        return -1;
    }
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o) {
        site x = {0};
        json_t *m = json_object_get(o, "merchant");
        if (!json_is_integer(m) || json_integer_value(m) < 0 ||
            copy_field(o, "domain", x.domain, sizeof x.domain) ||
            copy_field(o, "timezone", x.timezone, sizeof x.timezone) ||
            copy_field(o, "query_key", x.query_key, sizeof x.query_key) ||
            copy_field(o, "ingest_key", x.ingest_key, sizeof x.ingest_key) ||
            copy_field(o, "measurement_id", x.measurement_id, sizeof x.measurement_id) ||
            copy_field(o, "api_secret", x.api_secret, sizeof x.api_secret) ||
            copy_field(o, "ua_tid", x.ua_tid, sizeof x.ua_tid)) {
            snprintf(err, errlen, "%s: site %zu: a field is missing or of the wrong type", s->path,
                     i + 1);
            json_decref(root);
            return -1;
        }
        x.merchant = (uint64_t)json_integer_value(m);
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 16;
            site *nv = realloc(s->v, cap * sizeof *nv);
            if (!nv) {
                json_decref(root);
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            s->v = nv;
            s->cap = cap;
        }
        s->v[s->n++] = x;
    }
    json_decref(root);
    return 0;
}

sites *sites_open(const char *store_dir, char *err, size_t errlen)
{
    sites *s = calloc(1, sizeof *s);
    if (!s || asprintf(&s->path, "%s/%s", store_dir, SITES_FILE) < 0 ||
        asprintf(&s->tmp_path, "%s/%s.tmp", store_dir, SITES_FILE) < 0) {
        snprintf(err, errlen, "out of memory");
        if (s) {
            free(s->path);
            free(s);
        }
        return NULL;
    }
    pthread_rwlock_init(&s->lock, NULL);
    s->dirfd = open(store_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0) {
        snprintf(err, errlen, "%s: %s", store_dir, strerror(errno));
        sites_free(s);
        return NULL;
    }
    if (load(s, err, errlen) != 0) {
        sites_free(s);
        return NULL;
    }
    return s;
}

void sites_free(sites *s)
{
    if (!s)
        return;
    if (s->dirfd >= 0)
        close(s->dirfd);
    pthread_rwlock_destroy(&s->lock);
    free(s->v);
    free(s->path);
    free(s->tmp_path);
    free(s);
}

void site_write_json(const site *x, FILE *f)
{
    fprintf(f, "{\"merchant\": %llu, \"domain\": ", (unsigned long long)x->merchant);
    json_put_str(f, x->domain, strlen(x->domain));
    fputs(", \"timezone\": ", f);
    json_put_str(f, x->timezone, strlen(x->timezone));
    /* The credentials are generated from a fixed alphabet: no escaping. */
    fprintf(f, ", \"query_key\": \"%s\", \"ingest_key\": \"%s\", \"measurement_id\": \"%s\", "
               "\"api_secret\": \"%s\", \"ua_tid\": \"%s\"}",
            x->query_key, x->ingest_key, x->measurement_id, x->api_secret, x->ua_tid);
}

static void write_array(sites *s, size_t skip, FILE *f)
{
    fputc('[', f);
    int first = 1;
    for (size_t i = 0; i < s->n; i++) {
        if (i == skip)
            continue;
        fputs(first ? "\n  " : ",\n  ", f);
        site_write_json(&s->v[i], f);
        first = 0;
    }
    fputs(first ? "]" : "\n]", f);
}

void sites_write_json(sites *s, FILE *f)
{
    pthread_rwlock_rdlock(&s->lock);
    write_array(s, (size_t)-1, f);
    pthread_rwlock_unlock(&s->lock);
}

/* Write every site but index skip to the file: temporary file, fsync,
 * rename, directory fsync. Called with the write lock. */
static int save(sites *s, size_t skip)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return -ENOMEM;
    fprintf(m, "{\"version\": %d, \"sites\": ", SITES_VERSION);
    write_array(s, skip, m);
    fputs("}\n", m);
    if (fclose(m) != 0) {
        free(buf);
        return -ENOMEM;
    }
    int rc = 0;
    int fd = open(s->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
    } else {
        size_t off = 0;
        while (off < len) {
            ssize_t w = write(fd, buf + off, len - off);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                rc = -errno;
                break;
            }
            off += (size_t)w;
        }
        if (rc == 0 && fsync(fd) != 0)
            rc = -errno;
        close(fd);
        if (rc == 0 && rename(s->tmp_path, s->path) != 0)
            rc = -errno;
        if (rc == 0 && fsync(s->dirfd) != 0)
            rc = -errno;
        if (rc != 0)
            unlink(s->tmp_path);
    }
    free(buf);
    return rc;
}

/* n characters of alphabet from the kernel's random source. */
static int random_text(char *dst, size_t n, const char *alphabet)
{
    unsigned char raw[64];
    size_t k = strlen(alphabet);
    if (n > sizeof raw)
        return -EINVAL;
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(raw + got, n - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        got += (size_t)r;
    }
    /* 256 % k bias is below 2^-2 of one symbol's share for these
     * alphabets (16, 36, 64): rejecting the top values removes it. */
    for (size_t i = 0; i < n; i++) {
        while (raw[i] >= 256 - 256 % k) {
            if (getrandom(&raw[i], 1, 0) != 1)
                return -EIO;
        }
        dst[i] = alphabet[raw[i] % k];
    }
    dst[n] = '\0';
    return 0;
}

static const char hex[] = "0123456789abcdef";
static const char upper36[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
static const char url64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int sites_add(sites *s, site *x)
{
    int rc;
    /* 128 bits for the bearer keys, GA's shapes for the GA4 ones. */
    memcpy(x->query_key, "qk_", 3);
    memcpy(x->ingest_key, "ik_", 3);
    memcpy(x->measurement_id, "G-", 2);
    if ((rc = random_text(x->query_key + 3, 32, hex)) ||
        (rc = random_text(x->ingest_key + 3, 32, hex)) ||
        (rc = random_text(x->measurement_id + 2, 10, upper36)) ||
        (rc = random_text(x->api_secret, 22, url64)))
        return rc;
    snprintf(x->ua_tid, sizeof x->ua_tid, "UA-%llu-1", (unsigned long long)x->merchant);

    pthread_rwlock_wrlock(&s->lock);
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].merchant == x->merchant || strcasecmp(s->v[i].domain, x->domain) == 0) {
            pthread_rwlock_unlock(&s->lock);
            return -EEXIST;
        }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        site *nv = realloc(s->v, cap * sizeof *nv);
        if (!nv) {
            pthread_rwlock_unlock(&s->lock);
            return -ENOMEM;
        }
        s->v = nv;
        s->cap = cap;
    }
    s->v[s->n++] = *x;
    rc = save(s, (size_t)-1);
    if (rc != 0)
        s->n--;
    pthread_rwlock_unlock(&s->lock);
    return rc;
}

int sites_remove(sites *s, uint64_t merchant)
{
    pthread_rwlock_wrlock(&s->lock);
    size_t i = 0;
    while (i < s->n && s->v[i].merchant != merchant)
        i++;
    if (i == s->n) {
        pthread_rwlock_unlock(&s->lock);
        return -ENOENT;
    }
    int rc = save(s, i);
    if (rc == 0)
        s->v[i] = s->v[--s->n];
    pthread_rwlock_unlock(&s->lock);
    return rc;
}

/* The first site for which match() holds, copied into *out. */
static int find(sites *s, int (*match)(const site *, const void *, size_t), const void *arg,
                size_t len, site *out)
{
    pthread_rwlock_rdlock(&s->lock);
    int found = 0;
    for (size_t i = 0; i < s->n && !found; i++)
        if (match(&s->v[i], arg, len)) {
            if (out)
                *out = s->v[i];
            found = 1;
        }
    pthread_rwlock_unlock(&s->lock);
    return found;
}

static int match_merchant(const site *x, const void *arg, size_t len)
{
    return x->merchant == *(const uint64_t *)arg;
}

static int match_query_key(const site *x, const void *arg, size_t len)
{
    return keys_equal(x->query_key, arg);
}

static int match_ingest_key(const site *x, const void *arg, size_t len)
{
    return keys_equal(x->ingest_key, arg);
}

static int match_mid(const site *x, const void *arg, size_t len)
{
    return strcmp(x->measurement_id, arg) == 0;
}

static int match_tid(const site *x, const void *arg, size_t len)
{
    return strcmp(x->ua_tid, arg) == 0;
}

static int match_domain(const site *x, const void *arg, size_t len)
{
    return strlen(x->domain) == len && strncasecmp(x->domain, arg, len) == 0;
}

int sites_by_merchant(sites *s, uint64_t merchant, site *out)
{
    return find(s, match_merchant, &merchant, 0, out);
}

int sites_by_key(sites *s, enum site_key which, const char *key, site *out)
{
    return find(s, which == KEY_QUERY ? match_query_key : match_ingest_key, key, 0, out);
}

int sites_by_measurement_id(sites *s, const char *mid, site *out)
{
    return find(s, match_mid, mid, 0, out);
}

int sites_by_ua_tid(sites *s, const char *tid, site *out)
{
    return find(s, match_tid, tid, 0, out);
}

int sites_by_domain(sites *s, const char *domain, size_t len, site *out)
{
    return find(s, match_domain, domain, len, out);
}
