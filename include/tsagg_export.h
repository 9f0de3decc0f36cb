/* tsagg_export.h - symbol visibility for the public API. */
#ifndef TSAGG_EXPORT_H
#define TSAGG_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define TSAGG_API __attribute__((visibility("default")))
#else
#define TSAGG_API
#endif

#endif
