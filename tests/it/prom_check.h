/* prom_check.h — validator of the Prometheus text exposition format 0.0.4 (prefix pc_),
 * for the integration tests of .flashfs/metrics. */
#ifndef IT_PROM_CHECK_H
#define IT_PROM_CHECK_H

#include <stddef.h>

/* What pc_validate saw. */
typedef struct {
    int families;               /* metric families (distinct # TYPE lines) */
    int samples;                /* sample lines */
} pc_stats_t;

/* Validate text as Prometheus text exposition:
 *   - lines end with '\n' (the last one too); empty lines are allowed;
 *   - "# HELP name text" and "# TYPE name counter|gauge|histogram|summary|untyped", at
 *     most one of each per family, both BEFORE the family's first sample; other '#'
 *     lines are comments;
 *   - samples "name{label="value",...} value [timestamp]": names match
 *     [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* (no "__" prefix),
 *     label values are quoted with \\ \" \n escapes only, no label twice; the value
 *     parses as a float (NaN, +Inf, -Inf allowed), the optional timestamp as an integer;
 *   - a sample belongs to the family of its name, or for histograms and summaries to the
 *     family of its name without _bucket/_sum/_count; every family has HELP and TYPE; a
 *     family's samples are contiguous; no sample (name + label set) appears twice.
 * 0 when valid, else -1 with "line N: reason" in err. */
int pc_validate(const char *text, pc_stats_t *st, char *err, size_t errlen);

/* Value of the first sample whose name is `name` and whose label text (between the
 * braces, verbatim, "" when none) equals `labels`; 0 found, -1 not found. */
int pc_sample(const char *text, const char *name, const char *labels, double *value);

#endif
