/*
 * dashboard.c - the merchants' dashboard: static files from --dashboard DIR.
 *
 *   GET /                      DIR/index.html (the site picker)
 *   GET /dashboard/MERCHANT    DIR/dashboard.html (one page for every site)
 *   GET /assets/NAME           DIR/NAME
 *   GET /assets/uplot/NAME     DIR/node_modules/uplot/dist/NAME (npm ci)
 *
 * The page asks /api/v1/query with the key it holds; nothing here reads
 * the store or checks a key, so a wrong key gets the page and then the
 * API's 401. Files are read whole per request (they are a few KiB) and
 * answered with an ETag of their size and mtime, "Cache-Control: no-cache"
 * (revalidated on every load: a new install is seen at once, an unchanged
 * file costs a 304), and a Content-Security-Policy that lets the page talk
 * to this server only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server.h"

#define ASSET_MAX (4u * 1024 * 1024)

static const struct {
    const char *ext;
    const char *type;
} content_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
};

static const char *content_type_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof content_types / sizeof content_types[0]; i++)
        if (!strcmp(dot, content_types[i].ext))
            return content_types[i].type;
    return NULL;
}

/* A file name of the dashboard: letters, digits, '.', '-', '_', not
 * starting with '.', so that no request climbs out of the directory. */
static int plain_name(const char *s)
{
    if (!*s || *s == '.' || strlen(s) > 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '-' || *s == '_'))
            return 0;
    return 1;
}

static void serve_file(request *r, const char *path, const char *type)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > ASSET_MAX) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        if (fd < 0 && e != ENOENT)
            server_log("dashboard: %s: %s", path, strerror(e));
        req_error(r, 404, "no such file: %s%s", r->url,
                  fd < 0 && e == ENOENT && !strcmp(type, "text/html; charset=utf-8")
                      ? " (is the dashboard installed? see --dashboard)" : "");
        return;
    }
    snprintf(r->etag, sizeof r->etag, "\"%llx-%llx\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ull +
                 (unsigned long long)st.st_mtim.tv_nsec);
    const char *inm = req_header(r, "If-None-Match");
    if (inm && strstr(inm, r->etag)) {
        close(fd);
        req_reply(r, 304, NULL, NULL, 0);
        return;
    }
    size_t len = (size_t)st.st_size;
    char *buf = malloc(len ? len : 1);
    size_t got = 0;
    while (buf && got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            server_log("dashboard: %s: %s", path, n < 0 ? strerror(errno) : "shorter than stat");
            free(buf);
            close(fd);
            r->etag[0] = '\0';
            req_error(r, 500, "could not read %s", r->url);
            return;
        }
        got += (size_t)n;
    }
    close(fd);
    req_take(r, 200, type, buf, len);
}

/* /dashboard/MERCHANT: digits only, as the sites' merchants are. */
static int merchant_path(const char *s)
{
    size_t n = strspn(s, "0123456789");
    return n > 0 && n <= 20 && s[n] == '\0';
}

void handle_dashboard(request *r)
{
    const char *dir = r->srv->cfg.dashboard_dir;
    const char *url = r->url;
    char path[4096];
    const char *name = NULL, *sub = "";
    if (!strcmp(url, "/")) {
        name = "index.html";
    } else if (!strncmp(url, "/dashboard/", 11)) {
        if (!merchant_path(url + 11)) {
            req_error(r, 404, "no such page: %s (expected /dashboard/MERCHANT)", url);
            return;
        }
        name = "dashboard.html";
    } else if (!strncmp(url, "/assets/uplot/", 14)) {
        name = url + 14;
        sub = "node_modules/uplot/dist/";
    } else if (!strncmp(url, "/assets/", 8)) {
        name = url + 8;
    }
    const char *type = name && plain_name(name) ? content_type_of(name) : NULL;
    if (!type) {
        req_error(r, 404, "no such file: %s", url);
        return;
    }
    if ((size_t)snprintf(path, sizeof path, "%s/%s%s", dir, sub, name) >= sizeof path) {
        req_error(r, 404, "no such file: %s", url);
        return;
    }
    serve_file(r, path, type);
}
