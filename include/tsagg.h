/*
 * tsagg.h - libtsagg, a storage and query engine for per-merchant event
 * time series. Include this one header; it includes the others:
 *
 *   tsagg_errors.h   return codes and tsagg_strerror()
 *   tsagg_io.h       the pluggable I/O table
 *   tsagg_store.h    schemas, events, opening and closing a store
 *   tsagg_log.h      the raw event log: append, durability, read, archive
 *   tsagg_compact.h  compaction into partitions of months, days and hours, merges
 *   tsagg_maintain.h maintenance: compaction when due, merges, retention, archiving
 *   tsagg_query.h    time-series queries
 *   tsagg_rules.h    processing rules kept in the store
 *   tsagg_version.h  compile-time version (tsagg_version() at run time)
 */
#ifndef TSAGG_H
#define TSAGG_H

#include "tsagg_compact.h"
#include "tsagg_errors.h"
#include "tsagg_io.h"
#include "tsagg_log.h"
#include "tsagg_maintain.h"
#include "tsagg_query.h"
#include "tsagg_rules.h"
#include "tsagg_store.h"
#include "tsagg_verify.h"
#include "tsagg_version.h"

#endif
