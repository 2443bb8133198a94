/* prom_check.c — Prometheus text exposition validator (see prom_check.h).
 *
 * Grammar of a sample line (text format 0.0.4):
 *   metric_name [ "{" label_name "=" '"' label_value '"' { "," ... } [ "," ] "}" ] value [ timestamp ]
 * separated by blanks. Families are tracked by name in a small table. */
#include "prom_check.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PC_MAX_FAMILIES 512
#define PC_MAX_NAME 256
#define PC_MAX_SEEN 8192

typedef struct {
    char name[PC_MAX_NAME];
    char type[16];
    int help, typed, has_samples, closed; /* closed: another family's samples came after ours */
} fam_t;

typedef struct {
    fam_t fam[PC_MAX_FAMILIES];
    int n;
    char **seen; /* "name{labels}" of every sample, normalised */
    int n_seen;
    int current; /* family of the previous sample, -1 */
} pc_t;

static int bad(char *err, size_t errlen, int line, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int bad(char *err, size_t errlen, int line, const char *fmt, ...)
{
    int n = snprintf(err, errlen, "line %d: ", line);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < errlen)
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static int is_name_start(int c) { return isalpha(c) || c == '_' || c == ':'; }
static int is_name_char(int c) { return isalnum(c) || c == '_' || c == ':'; }

/* Length of a metric name at s (0 when none). */
static size_t metric_name_len(const char *s)
{
    if (!is_name_start((unsigned char)s[0]))
        return 0;
    size_t n = 1;
    while (is_name_char((unsigned char)s[n]))
        n++;
    return n;
}

static int find_fam(pc_t *p, const char *name, size_t len)
{
    for (int i = 0; i < p->n; i++)
        if (strlen(p->fam[i].name) == len && !strncmp(p->fam[i].name, name, len))
            return i;
    return -1;
}

static int add_fam(pc_t *p, const char *name, size_t len)
{
    int i = find_fam(p, name, len);
    if (i >= 0 || p->n == PC_MAX_FAMILIES || len >= PC_MAX_NAME)
        return i;
    fam_t *f = &p->fam[p->n];
    memset(f, 0, sizeof *f);
    memcpy(f->name, name, len);
    return p->n++;
}

/* A float as Prometheus writes them: Go's ParseFloat forms plus NaN / +Inf / -Inf. */
static int parse_value(const char *s, size_t len)
{
    char buf[64];
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = 0;
    if (!strcmp(buf, "NaN") || !strcmp(buf, "+Inf") || !strcmp(buf, "-Inf") || !strcmp(buf, "Inf"))
        return 0;
    for (size_t i = 0; i < len; i++) /* strtod would also take "nan", "infinity", hex */
        if (!isdigit((unsigned char)buf[i]) && !strchr("+-.eE", buf[i]))
            return -1;
    char *end;
    strtod(buf, &end);
    return *end == 0 ? 0 : -1;
}

/* Parse "{...}" at s; normalised "k=v," pairs go to norm. Returns chars consumed or -1. */
static long parse_labels(const char *s, char *norm, size_t normlen, char *why, size_t whylen)
{
    const char *p = s + 1;
    char names[32][PC_MAX_NAME];
    int nl = 0;
    size_t w = 0;
    norm[0] = 0;
    for (;;) {
        if (*p == '}')
            return (long)(p + 1 - s);
        if (!isalpha((unsigned char)*p) && *p != '_') {
            snprintf(why, whylen, "bad label name at '%.20s'", p);
            return -1;
        }
        const char *n0 = p;
        while (isalnum((unsigned char)*p) || *p == '_')
            p++;
        size_t ln = (size_t)(p - n0);
        if (ln >= 2 && n0[0] == '_' && n0[1] == '_') {
            snprintf(why, whylen, "reserved label name %.*s", (int)ln, n0);
            return -1;
        }
        if (ln >= PC_MAX_NAME || nl == 32) {
            snprintf(why, whylen, "label name too long or too many labels");
            return -1;
        }
        for (int i = 0; i < nl; i++)
            if (strlen(names[i]) == ln && !strncmp(names[i], n0, ln)) {
                snprintf(why, whylen, "label %.*s given twice", (int)ln, n0);
                return -1;
            }
        memcpy(names[nl], n0, ln);
        names[nl++][ln] = 0;
        if (p[0] != '=' || p[1] != '"') {
            snprintf(why, whylen, "expected =\" after label %.*s", (int)ln, n0);
            return -1;
        }
        p += 2;
        const char *v0 = p;
        while (*p && *p != '"' && *p != '\n') {
            if (*p == '\\') {
                if (p[1] != '\\' && p[1] != '"' && p[1] != 'n') {
                    snprintf(why, whylen, "bad escape \\%c in label value", p[1] ? p[1] : '0');
                    return -1;
                }
                p++;
            }
            p++;
        }
        if (*p != '"') {
            snprintf(why, whylen, "unterminated label value");
            return -1;
        }
        w += (size_t)snprintf(norm + w, w < normlen ? normlen - w : 0, "%.*s=%.*s,", (int)ln, n0, (int)(p - v0), v0);
        p++;
        if (*p == ',')
            p++;
        else if (*p != '}') {
            snprintf(why, whylen, "expected , or } after a label");
            return -1;
        }
    }
}

/* "# HELP name ..." / "# TYPE name type"; other comments are ignored. */
static int comment_line(pc_t *p, const char *l, size_t len, int ln, char *err, size_t errlen)
{
    int help = len > 7 && !strncmp(l, "# HELP ", 7), type = len > 7 && !strncmp(l, "# TYPE ", 7);
    if (!help && !type)
        return 0;
    const char *n = l + 7;
    size_t nlen = metric_name_len(n);
    if (nlen == 0)
        return bad(err, errlen, ln, "bad metric name in %.6s", l);
    int f = add_fam(p, n, nlen);
    if (f < 0)
        return bad(err, errlen, ln, "too many families");
    fam_t *fm = &p->fam[f];
    if (fm->has_samples)
        return bad(err, errlen, ln, "%s for %s after its samples", help ? "HELP" : "TYPE", fm->name);
    if (help) {
        if (fm->help++)
            return bad(err, errlen, ln, "second HELP for %s", fm->name);
        if (n[nlen] != ' ' && n[nlen] != '\n' && n[nlen] != 0)
            return bad(err, errlen, ln, "HELP name not followed by a blank");
        return 0;
    }
    if (fm->typed++)
        return bad(err, errlen, ln, "second TYPE for %s", fm->name);
    const char *t = n + nlen;
    if (*t != ' ')
        return bad(err, errlen, ln, "TYPE without a type");
    t++;
    size_t tl = (size_t)(l + len - t);
    static const char *const types[] = { "counter", "gauge", "histogram", "summary", "untyped" };
    for (size_t i = 0; i < 5; i++)
        if (strlen(types[i]) == tl && !strncmp(types[i], t, tl)) {
            snprintf(fm->type, sizeof fm->type, "%s", types[i]);
            return 0;
        }
    return bad(err, errlen, ln, "unknown type '%.*s'", (int)tl, t);
}

/* Family index of a sample name (histogram/summary suffixes), -1 when none is declared. */
static int family_of(pc_t *p, const char *name, size_t len)
{
    int f = find_fam(p, name, len);
    if (f >= 0)
        return f;
    static const char *const suf[] = { "_bucket", "_sum", "_count" };
    for (size_t i = 0; i < 3; i++) {
        size_t sl = strlen(suf[i]);
        if (len > sl && !strncmp(name + len - sl, suf[i], sl)) {
            f = find_fam(p, name, len - sl);
            if (f >= 0 && (!strcmp(p->fam[f].type, "histogram") || !strcmp(p->fam[f].type, "summary")))
                return f;
        }
    }
    return -1;
}

static int sample_line(pc_t *p, const char *l, size_t len, int ln, char *err, size_t errlen)
{
    size_t nlen = metric_name_len(l);
    if (nlen == 0)
        return bad(err, errlen, ln, "bad metric name at '%.30s'", l);
    char norm[2048] = "", why[128] = "";
    const char *q = l + nlen;
    if (*q == '{') {
        long used = parse_labels(q, norm, sizeof norm, why, sizeof why);
        if (used < 0)
            return bad(err, errlen, ln, "%s", why);
        q += used;
    }
    if (*q != ' ' && *q != '\t')
        return bad(err, errlen, ln, "no blank before the value");
    while (*q == ' ' || *q == '\t')
        q++;
    const char *v = q;
    while (q < l + len && *q != ' ' && *q != '\t')
        q++;
    if (parse_value(v, (size_t)(q - v)))
        return bad(err, errlen, ln, "value '%.*s' is not a float", (int)(q - v), v);
    while (*q == ' ' || *q == '\t')
        q++;
    if (q < l + len) { /* timestamp: an integer (ms) */
        const char *t = q;
        if (*q == '-')
            q++;
        while (q < l + len && isdigit((unsigned char)*q))
            q++;
        if (q != l + len || q == t)
            return bad(err, errlen, ln, "trailing garbage '%.*s'", (int)(l + len - t), t);
    }
    int f = family_of(p, l, nlen);
    if (f < 0)
        return bad(err, errlen, ln, "sample %.*s before any # TYPE of its family", (int)nlen, l);
    fam_t *fm = &p->fam[f];
    if (!fm->help || !fm->typed)
        return bad(err, errlen, ln, "family %s lacks # %s before its samples", fm->name, fm->help ? "TYPE" : "HELP");
    if (fm->closed)
        return bad(err, errlen, ln, "samples of %s are not contiguous", fm->name);
    if (p->current >= 0 && p->current != f)
        p->fam[p->current].closed = 1;
    p->current = f;
    fm->has_samples = 1;
    char key[2400];
    snprintf(key, sizeof key, "%.*s{%s}", (int)nlen, l, norm);
    for (int i = 0; i < p->n_seen; i++)
        if (!strcmp(p->seen[i], key))
            return bad(err, errlen, ln, "duplicate sample %s", key);
    if (p->n_seen < PC_MAX_SEEN && (p->seen[p->n_seen] = strdup(key)))
        p->n_seen++;
    return 0;
}

int pc_validate(const char *text, pc_stats_t *st, char *err, size_t errlen)
{
    pc_t *p = calloc(1, sizeof *p);
    if (!p)
        return bad(err, errlen, 0, "out of memory");
    p->seen = calloc(PC_MAX_SEEN, sizeof *p->seen);
    p->current = -1;
    int rc = p->seen ? 0 : bad(err, errlen, 0, "out of memory");
    int ln = 0, samples = 0;
    const char *s = text;
    if (!rc && *s && s[strlen(s) - 1] != '\n')
        rc = bad(err, errlen, 0, "the text does not end with a newline");
    while (!rc && *s) {
        ln++;
        const char *e = strchr(s, '\n');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == 0) {
        } else if (s[0] == '#') {
            rc = comment_line(p, s, len, ln, err, errlen);
        } else {
            rc = sample_line(p, s, len, ln, err, errlen);
            samples++;
        }
        s += len + (e ? 1 : 0);
    }
    for (int i = 0; !rc && i < p->n; i++)
        if (!p->fam[i].help || !p->fam[i].typed)
            rc = bad(err, errlen, ln, "family %s lacks # %s", p->fam[i].name, p->fam[i].help ? "TYPE" : "HELP");
    if (st) {
        st->families = p->n;
        st->samples = samples;
    }
    for (int i = 0; p->seen && i < p->n_seen; i++)
        free(p->seen[i]);
    free(p->seen);
    free(p);
    return rc;
}

int pc_sample(const char *text, const char *name, const char *labels, double *value)
{
    size_t nl = strlen(name), ll = strlen(labels);
    for (const char *s = text; *s;) {
        const char *e = strchr(s, '\n');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len > nl && !strncmp(s, name, nl)) {
            const char *q = s + nl;
            int ok = 0;
            if (ll == 0 && *q == ' ')
                ok = 1;
            else if (ll && *q == '{' && !strncmp(q + 1, labels, ll) && q[1 + ll] == '}') {
                q += ll + 2;
                ok = *q == ' ';
            }
            if (ok) {
                *value = strtod(q + 1, NULL);
                return 0;
            }
        }
        s += len + (e ? 1 : 0);
    }
    return -1;
}
