/*
 * rules.h - the --drop-where FIELD=VALUE arguments of the tools, turned into
 * the library's processing rules (tsagg_rules.h: what a rule may name and
 * how it matches), and the rules written back as text for a summary.
 */
#ifndef TSAGG_CLI_RULES_H
#define TSAGG_CLI_RULES_H

#include <stdio.h>

#include "tsagg.h"

/* Add one "FIELD=VALUE" to *rules (created on first use). 1 on success; 0
 * after printing why on stderr as a usage error,
 * naming the argument. */
int rules_add_arg(const char *prog, tsagg_rules **rules, const char *arg);

/* The rules as "device=bot, event=ping", or "none", on f. */
void rules_print(const tsagg_rules *rules, FILE *f);

#endif
