/* hf_cache.c — the Hugging Face hub cache layout (see hf_cache.h). */
#include "hf_cache.h"
#include "fu_util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define REPO_PREFIX "models--"

/* Start and length of path component k counted from the end (0 = last) of a canonical
 * absolute path; 0 when there are fewer components. */
static size_t component(const char *p, size_t end, int k, size_t *start)
{
    for (;;) {
        if (end == 0)
            return 0;
        size_t s = end;
        while (s > 0 && p[s - 1] != '/')
            s--;
        if (s == 0)
            return 0;           /* not absolute */
        if (k-- == 0) {
            *start = s;
            return end - s;
        }
        end = s - 1;
    }
}

size_t hfc_snapshot_repo_len(const char *real)
{
    size_t n = strlen(real), s0, s1, s2;
    size_t l0 = component(real, n, 0, &s0);
    size_t l1 = component(real, n, 1, &s1);
    size_t l2 = component(real, n, 2, &s2);
    if (!l0 || l1 != 9 || strncmp(real + s1, "snapshots", 9) || l2 <= strlen(REPO_PREFIX) ||
        strncmp(real + s2, REPO_PREFIX, strlen(REPO_PREFIX)))
        return 0;
    if (!strncmp(real + s0, ".", l0) || !strncmp(real + s0, "..", l0))
        return 0;
    return s2 + l2;
}

int hfc_hub_dir(char *out, size_t outlen)
{
    const char *v;
    int n;
    if ((v = getenv("HF_HUB_CACHE")) && v[0])
        n = snprintf(out, outlen, "%s", v);
    else if ((v = getenv("HUGGINGFACE_HUB_CACHE")) && v[0])
        n = snprintf(out, outlen, "%s", v);
    else if ((v = getenv("HF_HOME")) && v[0])
        n = snprintf(out, outlen, "%s/hub", v);
    else if ((v = getenv("XDG_CACHE_HOME")) && v[0])
        n = snprintf(out, outlen, "%s/huggingface/hub", v);
    else if ((v = getenv("HOME")) && v[0])
        n = snprintf(out, outlen, "%s/.cache/huggingface/hub", v);
    else
        return -ENOENT;
    return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* 1 when the directory real (canonical) looks like a cache repository. */
static int is_repo(const char *real)
{
    const char *base = strrchr(real, '/');
    base = base ? base + 1 : real;
    if (strncmp(base, REPO_PREFIX, strlen(REPO_PREFIX)) || !base[strlen(REPO_PREFIX)])
        return 0;
    char p[PATH_MAX + 16];
    snprintf(p, sizeof p, "%s/snapshots", real);
    return is_dir(p);
}

/* A revision or repository-id part: one safe path component. */
static int safe_component(const char *s, size_t n)
{
    if (n == 0 || n > 255 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '/' || s[i] == '\0' || (unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

/* The snapshot of repository repo (canonical) named by refs/main into *out. */
static int repo_snapshot(const char *repo, const char *shown, char **out, char *err, size_t errlen)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/refs/main", repo);
    char *rev = NULL;
    size_t len = 0;
    int rc = fu_read_file(p, 256, &rev, &len);
    if (rc < 0)
        return fu_err(err, errlen, -ENOENT,
                      "model directory '%s' is a Hugging Face cache repository without a readable refs/main (%s): "
                      "give one of its snapshots/REV directories", shown, strerror(-rc));
    while (len && (rev[len - 1] == '\n' || rev[len - 1] == '\r' || rev[len - 1] == ' ' || rev[len - 1] == '\t'))
        rev[--len] = '\0';
    if (!safe_component(rev, len) || strlen(rev) != len) {
        free(rev);
        return fu_err(err, errlen, -ENOENT, "model directory '%s': refs/main does not name a revision", shown);
    }
    int n = snprintf(p, sizeof p, "%s/snapshots/%s", repo, rev);
    if (n < 0 || (size_t)n >= sizeof p || !is_dir(p)) {
        rc = fu_err(err, errlen, -ENOENT, "model directory '%s': refs/main names revision %s, which has no snapshot "
                    "(snapshots/%s is missing)", shown, rev, rev);
        free(rev);
        return rc;
    }
    free(rev);
    *out = strdup(p);
    return *out ? 0 : -ENOMEM;
}

/* 1 when arg has the form ORG/NAME of a repository id. */
static int is_repo_id(const char *arg)
{
    const char *slash = strchr(arg, '/');
    if (!slash || strchr(slash + 1, '/'))
        return 0;
    size_t lo = (size_t)(slash - arg), ln = strlen(slash + 1);
    if (!safe_component(arg, lo) || !safe_component(slash + 1, ln))
        return 0;
    for (const char *c = arg; *c; c++)
        if (!(*c == '/' || *c == '-' || *c == '_' || *c == '.' || (*c >= '0' && *c <= '9') ||
              (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')))
            return 0;
    return 1;
}

int hfc_resolve(const char *arg, char **out, char *note, size_t notelen, char *err, size_t errlen)
{
    *out = NULL;
    if (note && notelen)
        note[0] = '\0';
    struct stat st;
    char real[PATH_MAX];
    if (stat(arg, &st) == 0) {
        if (S_ISDIR(st.st_mode) && realpath(arg, real) && is_repo(real)) {
            int rc = repo_snapshot(real, arg, out, err, errlen);
            if (rc == 0 && note)
                snprintf(note, notelen, "%s is a Hugging Face cache repository: mounting its refs/main snapshot %s",
                         arg, *out);
            return rc;
        }
        *out = strdup(arg);
        return *out ? 0 : -ENOMEM;
    }
    if (!is_repo_id(arg)) {
        *out = strdup(arg);
        return *out ? 0 : -ENOMEM;
    }
    char hub[PATH_MAX], repo[PATH_MAX + 300];
    int rc = hfc_hub_dir(hub, sizeof hub);
    if (rc < 0)
        return fu_err(err, errlen, -ENOENT, "model directory '%s' does not exist (and no Hugging Face cache "
                      "directory is known: set HF_HOME)", arg);
    const char *slash = strchr(arg, '/');
    snprintf(repo, sizeof repo, "%s/" REPO_PREFIX "%.*s--%s", hub, (int)(slash - arg), arg, slash + 1);
    if (!realpath(repo, real) || !is_repo(real))
        return fu_err(err, errlen, -ENOENT, "model directory '%s' does not exist, nor does the Hugging Face cache "
                      "repository %s", arg, repo);
    rc = repo_snapshot(real, repo, out, err, errlen);
    if (rc == 0 && note)
        snprintf(note, notelen, "%s: the Hugging Face cache snapshot %s", arg, *out);
    return rc;
}
