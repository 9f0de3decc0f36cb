/*
 * tsagg-server - an HTTP server that trackers send events to and merchants
 * query: libtsagg embedded as a service (docs/server.md).
 *
 *   tsagg-server STORE [--listen HOST:PORT] [--admin-key-file FILE] [OPTION]...
 *
 * main() reads the options, opens the store for writing, loads the sites,
 * starts the HTTP daemon and the maintenance thread, then waits for SIGTERM
 * or SIGINT: it stops accepting, lets the requests in flight finish, stops
 * maintenance, flushes and closes the store.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "cli.h"
#include "commit.h"
#include "http.h"
#include "maintenance.h"
#include "metrics.h"
#include "offload.h"
#include "server.h"
#include "sessions.h"
#include "sites.h"
#include "worker.h"

static const char prog[] = "tsagg-server";

static const char usage_text[] =
    "Usage: tsagg-server STORE [OPTION]...\n"
    "Serve the store at STORE (created if missing) over HTTP: collection endpoints for\n"
    "GA4, Universal Analytics and Plausible trackers, NDJSON ingest, queries, and an\n"
    "admin API for sites (docs/server.md).\n"
    "\n"
    "  -l, --listen HOST:PORT   address to listen on (default 127.0.0.1:8080; port 0\n"
    "                           picks a free one); prints 'listening on HOST:PORT'\n"
    "      --admin-key-file F   the admin key: the first line of F (else the\n"
    "                           environment variable TSAGG_ADMIN_KEY; 16 bytes at least)\n"
    "      --threads N          HTTP threads (default and maximum: the CPUs)\n"
    "      --max-connections N  open connections at most (default 1024)\n"
    "      --max-per-ip N       open connections per client address (default 128)\n"
    "      --timeout S          close a connection idle for S seconds (default 30)\n"
    "      --max-body BYTES     largest /api/v1/events body (default 8388608)\n"
    "      --trust-proxy        take the client address from X-Forwarded-For and the\n"
    "                           country from CF-IPCountry\n"
    "      --access-log         one line per request on stderr\n"
    "      --compact-events N   compact when N events wait in the log (default 100000)\n"
    "      --compact-age S      ... or when the oldest waited S seconds (default 60)\n"
    "      --retention-days N   drop partitions (and log segments) of events older\n"
    "                           than N days (default: keep everything)\n"
    "      --log-retention-days N  log segments: N days instead (0: keep the log)\n"
    "      --head-memory MIB    memory for the index of events not compacted yet\n"
    "                           (default 256); past it batches to /api/v1/events\n"
    "                           get 503 and Retry-After until maintenance caught up\n"
    "      --maintenance-nice N maintenance's thread N nice levels below the requests'\n"
    "                           (0-19, default 0)\n"
    "      --no-maintenance     no background maintenance (POST /api/v1/maintenance only)\n"
    "      --dashboard DIR      the dashboard's files (default " TSAGG_DASHBOARD_DIR ")\n"
    "  -h, --help               show this help\n"
    "  -V, --version            show the version\n"
    "\n"
    "Exit status: 0 after a clean stop, 2 bad option, 3 the store or the address failed.\n";

enum {
    OPT_ADMIN_KEY_FILE = 256, OPT_THREADS, OPT_MAX_CONN, OPT_MAX_PER_IP, OPT_TIMEOUT,
    OPT_MAX_BODY, OPT_TRUST_PROXY, OPT_ACCESS_LOG, OPT_COMPACT_EVENTS, OPT_COMPACT_AGE,
    OPT_NO_MAINT, OPT_DASHBOARD, OPT_RETENTION, OPT_LOG_RETENTION, OPT_MAINT_NICE, OPT_HEAD_MEMORY,
};

typedef struct args {
    server_config cfg;
    const char *admin_key_file;
    int log_retention_set;
    char admin_key[256];
} args;

static int number_arg(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (!cli_parse_u64(s, out) || *out < lo || *out > hi) {
        cli_usage_error(prog, "%s '%s': expected an integer from %llu to %llu", opt, s,
                        (unsigned long long)lo, (unsigned long long)hi);
        return 0;
    }
    return 1;
}

static int read_admin_key(args *a)
{
    const char *src = "TSAGG_ADMIN_KEY";
    if (a->admin_key_file) {
        FILE *f = fopen(a->admin_key_file, "r");
        if (!f) {
            cli_error(prog, "%s: %s", a->admin_key_file, strerror(errno));
            return -1;
        }
        if (!fgets(a->admin_key, sizeof a->admin_key, f))
            a->admin_key[0] = '\0';
        fclose(f);
        src = a->admin_key_file;
    } else {
        const char *env = getenv("TSAGG_ADMIN_KEY");
        if (!env)
            return 0; /* no admin API */
        snprintf(a->admin_key, sizeof a->admin_key, "%s", env);
    }
    a->admin_key[strcspn(a->admin_key, "\r\n")] = '\0';
    if (strlen(a->admin_key) < 16) {
        cli_error(prog, "%s: the admin key must be 16 bytes at least", src);
        return -1;
    }
    a->cfg.admin_key = a->admin_key;
    return 0;
}

/* -1 when the options are good, else the exit code. */
static int parse_args(int argc, char **argv, args *a)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"admin-key-file", required_argument, NULL, OPT_ADMIN_KEY_FILE},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"max-connections", required_argument, NULL, OPT_MAX_CONN},
        {"max-per-ip", required_argument, NULL, OPT_MAX_PER_IP},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"max-body", required_argument, NULL, OPT_MAX_BODY},
        {"trust-proxy", no_argument, NULL, OPT_TRUST_PROXY},
        {"access-log", no_argument, NULL, OPT_ACCESS_LOG},
        {"compact-events", required_argument, NULL, OPT_COMPACT_EVENTS},
        {"compact-age", required_argument, NULL, OPT_COMPACT_AGE},
        {"maintenance-nice", required_argument, NULL, OPT_MAINT_NICE},
        {"head-memory", required_argument, NULL, OPT_HEAD_MEMORY},
        {"no-maintenance", no_argument, NULL, OPT_NO_MAINT},
        {"retention-days", required_argument, NULL, OPT_RETENTION},
        {"log-retention-days", required_argument, NULL, OPT_LOG_RETENTION},
        {"dashboard", required_argument, NULL, OPT_DASHBOARD},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1)
        cpus = 1;
    server_config *c = &a->cfg;
    c->listen = "127.0.0.1:8080";
    c->threads = (unsigned)cpus;
    c->max_connections = 1024;
    c->max_per_ip = 128;
    c->timeout_s = 30;
    c->max_body = 8u << 20;
    c->compact_events = 100000;
    c->compact_age_s = 60;
    c->dashboard_dir = TSAGG_DASHBOARD_DIR;
    c->maintenance = 1;
    c->head_memory_mib = 256;
    uint64_t v;
    int opt;
    while ((opt = getopt_long(argc, argv, "l:hV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'l': c->listen = optarg; break;
        case OPT_ADMIN_KEY_FILE: a->admin_key_file = optarg; break;
        case OPT_THREADS:
            /* MHD's pool: one epoll loop per thread; more than the CPUs
             * only adds switching. */
            if (!number_arg("--threads", optarg, 1, (uint64_t)cpus, &v))
                return CLI_EXIT_USAGE;
            c->threads = (unsigned)v;
            break;
        case OPT_MAX_CONN:
            if (!number_arg("--max-connections", optarg, 1, 65536, &v))
                return CLI_EXIT_USAGE;
            c->max_connections = (unsigned)v;
            break;
        case OPT_MAX_PER_IP:
            if (!number_arg("--max-per-ip", optarg, 1, 65536, &v))
                return CLI_EXIT_USAGE;
            c->max_per_ip = (unsigned)v;
            break;
        case OPT_TIMEOUT:
            if (!number_arg("--timeout", optarg, 1, 3600, &v))
                return CLI_EXIT_USAGE;
            c->timeout_s = (unsigned)v;
            break;
        case OPT_MAX_BODY:
            if (!number_arg("--max-body", optarg, 1024, 1u << 30, &v))
                return CLI_EXIT_USAGE;
            c->max_body = (size_t)v;
            break;
        case OPT_TRUST_PROXY: c->trust_proxy = 1; break;
        case OPT_ACCESS_LOG: c->access_log = 1; break;
        case OPT_COMPACT_EVENTS:
            if (!number_arg("--compact-events", optarg, 1, UINT64_MAX, &v))
                return CLI_EXIT_USAGE;
            c->compact_events = v;
            break;
        case OPT_COMPACT_AGE:
            if (!number_arg("--compact-age", optarg, 1, 86400, &v))
                return CLI_EXIT_USAGE;
            c->compact_age_s = (unsigned)v;
            break;
        case OPT_MAINT_NICE:
            if (!number_arg("--maintenance-nice", optarg, 0, 19, &v))
                return CLI_EXIT_USAGE;
            c->maintenance_nice = (int)v;
            break;
        case OPT_HEAD_MEMORY:
            if (!number_arg("--head-memory", optarg, 1, 1u << 20, &v))
                return CLI_EXIT_USAGE;
            c->head_memory_mib = v;
            break;
        case OPT_NO_MAINT: c->maintenance = 0; break;
        case OPT_RETENTION:
            if (!number_arg("--retention-days", optarg, 1, 3660000, &v))
                return CLI_EXIT_USAGE;
            c->retention_days = (unsigned)v;
            break;
        case OPT_LOG_RETENTION:
            if (!number_arg("--log-retention-days", optarg, 0, 3660000, &v))
                return CLI_EXIT_USAGE;
            c->log_retention_days = (unsigned)v;
            a->log_retention_set = 1;
            break;
        case OPT_DASHBOARD: c->dashboard_dir = optarg; break;
        case 'h': fputs(usage_text, stdout); return CLI_EXIT_OK;
        case 'V': return cli_print_version(prog);
        default: fprintf(stderr, "Try '%s --help'.\n", prog); return CLI_EXIT_USAGE;
        }
    }
    if (optind != argc - 1)
        return cli_usage_error(prog, optind == argc ? "missing STORE" : "more than one STORE");
    c->store_path = argv[optind];
    if (!a->log_retention_set)
        c->log_retention_days = c->retention_days;
    if (read_admin_key(a) != 0)
        return CLI_EXIT_USAGE;
    return -1;
}

int main(int argc, char **argv)
{
    static args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;

    /* Signals are taken by sigwait() below: block them before any thread
     * starts so that every thread inherits the mask. */
    /* A shell starts background jobs with SIGINT ignored: take it back. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    static server srv;
    srv.cfg = a.cfg;
    pthread_mutex_init(&srv.sessions_lock, NULL);
    pthread_mutex_init(&srv.salt_lock, NULL);
    srv.visitor_salt_day = -1;

    /* Accepted means durable, but no HTTP thread waits for the disk:
     * appends return at once (sync none: the writer thread itself makes
     * them durable only every 500 ms), and the committer flushes whenever
     * a request waits, answering all it covered with one fsync (commit.h). */
    tsagg_options opts;
    tsagg_options_init(&opts);
    opts.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    opts.sync_mode = TSAGG_SYNC_NONE;
    opts.head_max_bytes = srv.cfg.head_memory_mib << 20;
    /* Compaction, merges, archiving and retention: the library's thread. */
    tsagg_maintain_options mo;
    maintenance_options(&srv.cfg, &mo);
    if (srv.cfg.maintenance)
        opts.maintenance = &mo;
    if (cli_open_store(prog, srv.cfg.store_path, &opts, &srv.store) != 0)
        return CLI_EXIT_FAILURE;

    char err[512];
    srv.sites = sites_open(srv.cfg.store_path, err, sizeof err);
    srv.metrics = metrics_create();
    srv.sessions = sessions_create();
    srv.fields = fieldmap_create(tsagg_store_schema(srv.store));
    if (!srv.sites || !srv.metrics || !srv.sessions || !srv.fields) {
        cli_error(prog, "%s", srv.sites ? "out of memory" : err);
        tsagg_store_close(srv.store);
        return CLI_EXIT_FAILURE;
    }
    srv.maint = maintenance_start(&srv);
    srv.commit = committer_start(&srv);
    srv.offload = offload_start(&srv, srv.cfg.threads, "offload", http_run_offloaded);
    struct MHD_Daemon *daemon = NULL;
    char bound[128];
    if (!srv.maint || !srv.commit || !srv.offload ||
        http_start(&srv, &daemon, bound, sizeof bound) != 0) {
        offload_stop(srv.offload);
        offload_free(srv.offload);
        committer_free(srv.commit);
        maintenance_stop(srv.maint);
        tsagg_store_close(srv.store);
        return CLI_EXIT_FAILURE;
    }
    printf("listening on %s\n", bound);
    fflush(stdout);
    server_log("serving %s on %s (%u threads, log writer %s, group commit)", srv.cfg.store_path,
               bound, srv.cfg.threads, tsagg_io_backend_name(srv.store));

    int sig = 0;
    sigwait(&stop_signals, &sig);
    server_log("%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    /* In this order: the offload threads finish what they run (it may park
     * with the committer), the committer answers what is parked, and only
     * then does the daemon stop, with no connection left suspended. */
    http_quiesce(&srv, daemon, 10000);
    offload_stop(srv.offload);
    committer_stop(srv.commit);
    http_close(&srv, daemon);
    offload_free(srv.offload);
    committer_free(srv.commit);
    maintenance_stop(srv.maint);
    rc = tsagg_flush(srv.store);
    uint64_t durable = tsagg_durable_seq(srv.store);
    int crc = tsagg_store_close(srv.store);
    if (rc == 0)
        rc = crc;
    sessions_free(srv.sessions);
    fieldmap_free(srv.fields);
    sites_free(srv.sites);
    metrics_free(srv.metrics);
    if (rc != 0) {
        cli_error(prog, "closing the store: %s", tsagg_strerror(rc));
        return CLI_EXIT_FAILURE;
    }
    server_log("stopped; durable up to seq %llu", (unsigned long long)durable);
    return CLI_EXIT_OK;
}
