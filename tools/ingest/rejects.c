/* rejects.c - see rejects.h. */
#include "rejects.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define STORE_DEPTH_MAX 8 /* the store's tree is two levels deep; links are not followed */

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Whether the tree under the directory fd holds the file *target (a name
 * for it in rel); fd is closed. */
static int tree_holds(int fd, const struct stat *target, int depth, char *rel, size_t cap)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return 0;
    }
    int found = 0;
    size_t at = strlen(rel);
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        struct stat sb;
        if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        snprintf(rel + at, cap - at, "/%s", e->d_name);
        if (same_file(&sb, target)) {
            found = 1;
        } else if (S_ISDIR(sb.st_mode) && depth < STORE_DEPTH_MAX) {
            int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            found = sub >= 0 && tree_holds(sub, target, depth + 1, rel, cap);
        }
        if (!found)
            rel[at] = '\0';
    }
    closedir(d);
    return found;
}

/* The directory path names a file in ("." for a bare name). */
static void parent_of(const char *path, char *dir, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, cap, ".");
    else if (slash == path)
        snprintf(dir, cap, "/");
    else
        snprintf(dir, cap, "%.*s", (int)(slash - path), path);
}

/* Whether the directory dir is the directory *store or lies below it. */
static int dir_inside(const char *dir, const struct stat *store)
{
    char real[PATH_MAX];
    if (!realpath(dir, real))
        return 0;
    for (;;) {
        struct stat sb;
        if (stat(real, &sb) == 0 && same_file(&sb, store))
            return 1;
        char *slash = strrchr(real, '/');
        if (!slash || slash == real) {
            if (real[1] == '\0')
                return 0; /* "/" itself was compared */
            real[1] = '\0';
        } else {
            *slash = '\0';
        }
    }
}

/*
 * The checks shared by rejects_check and rejects_open. target is the file
 * at path when it exists (NULL when not), dir the directory it is in.
 */
static int conflicts(const char *path, const struct stat *target, const char *dir,
                     const loader_input *inputs, size_t n, const char *store_path, char *why,
                     size_t cap)
{
    /* Only a regular file loses its content: a terminal or a pipe given as
     * both (--rejects /dev/stderr, standard input on the same terminal) is fine. */
    for (size_t i = 0; target && S_ISREG(target->st_mode) && i < n; i++) {
        struct stat sb;
        int is_stdin = strcmp(inputs[i].path, "-") == 0;
        if ((is_stdin ? fstat(STDIN_FILENO, &sb) : stat(inputs[i].path, &sb)) == 0 &&
            same_file(&sb, target)) {
            snprintf(why, cap, "--rejects %s is the input %s: it would be overwritten", path,
                     is_stdin ? "on standard input" : inputs[i].path);
            return CLI_EXIT_USAGE;
        }
    }
    struct stat store;
    if (stat(store_path, &store) != 0 || !S_ISDIR(store.st_mode))
        return 0; /* a store yet to be created holds nothing */
    if (dir_inside(dir, &store)) {
        snprintf(why, cap, "--rejects %s lies inside the store %s", path, store_path);
        return CLI_EXIT_USAGE;
    }
    char rel[PATH_MAX] = "";
    int fd = open(store_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (target && fd >= 0 && tree_holds(fd, target, 0, rel, sizeof rel)) {
        snprintf(why, cap, "--rejects %s is the file %s%s of the store", path, store_path, rel);
        return CLI_EXIT_USAGE;
    }
    return 0;
}

int rejects_check(const char *path, const loader_input *inputs, size_t n,
                  const char *store_path, char *why, size_t cap)
{
    char dir[PATH_MAX];
    struct stat sb, target;
    parent_of(path, dir, sizeof dir);
    int err = stat(dir, &sb) != 0 ? errno : !S_ISDIR(sb.st_mode) ? ENOTDIR
              : access(dir, W_OK) != 0 ? errno : 0;
    if (err) {
        snprintf(why, cap, "%s: %s", path, strerror(err));
        return CLI_EXIT_FAILURE;
    }
    int exists = stat(path, &target) == 0;
    if (exists && S_ISDIR(target.st_mode)) {
        snprintf(why, cap, "%s: %s", path, strerror(EISDIR));
        return CLI_EXIT_FAILURE;
    }
    return conflicts(path, exists ? &target : NULL, dir, inputs, n, store_path, why, cap);
}

FILE *rejects_open(const char *path, const loader_input *inputs, size_t n,
                   const char *store_path, char *why, size_t cap)
{
    /* Not O_TRUNC: the file is checked before anything in it is lost, and
     * removed again when it was created here and is refused. */
    int created = 1;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno == EEXIST) {
        created = 0;
        fd = open(path, O_WRONLY | O_CLOEXEC);
    }
    struct stat target;
    if (fd < 0 || fstat(fd, &target) != 0) {
        snprintf(why, cap, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    char dir[PATH_MAX];
    parent_of(path, dir, sizeof dir);
    if (conflicts(path, &target, dir, inputs, n, store_path, why, cap) != 0) {
        if (created)
            unlink(path);
        close(fd);
        return NULL;
    }
    FILE *f = NULL;
    if ((S_ISREG(target.st_mode) && ftruncate(fd, 0) != 0) || !(f = fdopen(fd, "w"))) {
        snprintf(why, cap, "%s: %s", path, strerror(errno));
        close(fd);
    }
    return f;
}
