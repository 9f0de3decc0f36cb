/*
 * args.h - tsagg-ingest's command line (args.c): the options, the store
 * and the inputs with their formats, all checked before anything is
 * written. docs/tsagg-ingest.md is the manual.
 */
#ifndef INGEST_ARGS_H
#define INGEST_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include "loader.h"

typedef struct ingest_args {
    const char *store;
    loader_options lo;       /* ts_unit, merchant, max_errors, rejects, verbose
                                and store_path, set here; the rest by main */
    loader_input *inputs;    /* every input's format settled; owned */
    size_t ninputs;
    int have_merchant;       /* --merchant given */
    const char *schema_path; /* NULL: the default schema */
    uint32_t sync_mode;      /* TSAGG_SYNC_* */
    int compact, quiet;
    uint64_t budget;         /* bytes; 0: the library's default */
    int64_t every_us;        /* --compact-every; 0: none */
} ingest_args;

/* Fill a from the command line: -1 to go on, else the exit code (after
 * --help, --version, a usage error, or a --rejects file that cannot be
 * written). Free a with ingest_args_free whichever it returns. */
int ingest_parse_args(int argc, char **argv, ingest_args *a);

void ingest_args_free(ingest_args *a);

#endif
