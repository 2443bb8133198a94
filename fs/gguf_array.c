/* gguf_array.c — reading GGUF array values (token lists, merges, token types) and finding the
 * GGUF model an -m argument names (see gguf.h). */
#include "gguf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGA_MAX_STR (1u << 20)         /* longest array string accepted */

void gg_strings_free(char **s, uint64_t n)
{
    if (!s)
        return;
    for (uint64_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

int gg_read_strings(int fd, const gg_file_t *f, const gg_kv_t *kv, char ***out, char *err, size_t errlen)
{
    *out = NULL;
    if (kv->type != GG_T_ARRAY || kv->arr_type != GG_T_STRING)
        return fu_err(err, errlen, -EINVAL, "%s is not an array of strings", kv->key);
    /* every string takes at least 8 bytes of the file */
    if (kv->arr_len > f->file_size / 8)
        return fu_err(err, errlen, -EINVAL, "%s: %llu elements do not fit the file", kv->key,
                      (unsigned long long)kv->arr_len);
    char **s = calloc(kv->arr_len ? kv->arr_len : 1, sizeof *s);
    if (!s)
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    uint64_t off = kv->value_offset;
    for (uint64_t i = 0; i < kv->arr_len; i++) {
        unsigned char lb[8];
        int rc = fu_pread_full(fd, lb, 8, off);
        uint64_t len = 0;
        for (int b = 7; b >= 0; b--)
            len = len << 8 | lb[b];
        if (!rc && (len > GGA_MAX_STR || off + 8 + len > f->file_size))
            rc = -EINVAL;
        if (!rc && !(s[i] = malloc(len + 1)))
            rc = -ENOMEM;
        if (!rc)
            rc = fu_pread_full(fd, s[i], len, off + 8);
        if (rc) {
            gg_strings_free(s, kv->arr_len);
            return fu_err(err, errlen, rc, "%s: element %llu: %s", kv->key, (unsigned long long)i,
                          rc == -EINVAL ? "bad string length" : strerror(-rc));
        }
        s[i][len] = 0;
        off += 8 + len;
    }
    *out = s;
    return 0;
}

int gg_read_i32s(int fd, const gg_file_t *f, const gg_kv_t *kv, int32_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (kv->type != GG_T_ARRAY || (kv->arr_type != GG_T_INT32 && kv->arr_type != GG_T_UINT32))
        return fu_err(err, errlen, -EINVAL, "%s is not an array of 32-bit integers", kv->key);
    if (kv->arr_len > f->file_size / 4 || kv->value_offset + kv->arr_len * 4 > f->file_size)
        return fu_err(err, errlen, -EINVAL, "%s: %llu elements do not fit the file", kv->key,
                      (unsigned long long)kv->arr_len);
    int32_t *v = malloc(kv->arr_len ? kv->arr_len * 4 : 4);
    if (!v)
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    int rc = fu_pread_full(fd, v, kv->arr_len * 4, kv->value_offset);
    if (rc) {
        free(v);
        return fu_err(err, errlen, rc, "%s: %s", kv->key, strerror(-rc));
    }
    *out = v;   /* little-endian host (the project targets x86-64) */
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

int gg_model_path(const char *arg, char *path, size_t n)
{
    struct stat st;
    if (stat(arg, &st) < 0)
        return 0;
    if (S_ISREG(st.st_mode)) {
        if (!ends_with(arg, ".gguf"))
            return 0;
        return (size_t)snprintf(path, n, "%s", arg) < n ? 1 : 0;
    }
    if (!S_ISDIR(st.st_mode))
        return 0;
    char cfg[4096];
    if ((size_t)snprintf(cfg, sizeof cfg, "%s/config.json", arg) >= sizeof cfg || access(cfg, F_OK) == 0)
        return 0;
    DIR *d = opendir(arg);
    if (!d)
        return 0;
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (ends_with(e->d_name, ".gguf") && e->d_name[0] != '.') {
            if (!found && (size_t)snprintf(path, n, "%s/%s", arg, e->d_name) >= n) {
                closedir(d);
                return 0;
            }
            found++;
        }
    closedir(d);
    return found > 1 ? 2 : found;
}
