/* faultenv.c — mounts with the fault-injection shim preloaded (see faultenv.h). */
#include "faultenv.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int fe_init(fe_t *fe)
{
    memset(fe, 0, sizeof *fe);
    int rc = it_tmpdir(fe->dir, sizeof fe->dir);
    if (rc < 0)
        return rc;
    snprintf(fe->rules, sizeof fe->rules, "%s/rules", fe->dir);
    snprintf(fe->flog, sizeof fe->flog, "%s/fired", fe->dir);
    snprintf(fe->gate, sizeof fe->gate, "%s/gate", fe->dir);
    return fe_set_rules(fe, "# no fault\n");
}

int fe_set_rules(fe_t *fe, const char *text)
{
    /* a new file renamed over the old one: the shim never reads half a rules file */
    char tmp[700];
    snprintf(tmp, sizeof tmp, "%s.new", fe->rules);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -errno;
    fputs(text, f);
    if (fclose(f) != 0)
        return -EIO;
    return rename(tmp, fe->rules) == 0 ? 0 : -errno;
}

int fe_gate(fe_t *fe, int open)
{
    if (!open)
        return unlink(fe->gate) == 0 || errno == ENOENT ? 0 : -errno;
    FILE *f = fopen(fe->gate, "w");
    if (!f)
        return -errno;
    fclose(f);
    return 0;
}

int fe_fired(const fe_t *fe, const char *kind)
{
    char *txt;
    size_t len;
    if (it_slurp(fe->flog, &txt, &len) != 0)
        return 0;
    int n = 0;
    size_t kl = strlen(kind);
    for (char *l = txt; l && *l;) {
        if (strncmp(l, kind, kl) == 0 && l[kl] == ' ')
            n++;
        char *nl = strchr(l, '\n');
        l = nl ? nl + 1 : NULL;
    }
    free(txt);
    return n;
}

int fe_wait_fired(const fe_t *fe, const char *kind, int timeout_ms)
{
    uint64_t end = it_now_ms() + (uint64_t)timeout_ms;
    while (fe_fired(fe, kind) == 0) {
        if (it_now_ms() > end)
            return 0;
        it_sleep_ms(10);
    }
    return 1;
}

void fe_env(fe_t *fe, int on)
{
    if (!on) {
        unsetenv("LD_PRELOAD");
        return;
    }
    char shim[PATH_MAX], shim_abs[PATH_MAX];
    it_build_path("tests/libffs_faults.so", shim, sizeof shim);
    if (!realpath(shim, shim_abs))
        snprintf(shim_abs, sizeof shim_abs, "%s", shim);
    /* a daemon built with gcc's ASan must accept a preload ahead of its runtime */
    const char *asan = getenv("ASAN_OPTIONS");
    if (!asan || !strstr(asan, "verify_asan_link_order")) {
        char opts[1024];
        snprintf(opts, sizeof opts, "%s%sverify_asan_link_order=0", asan ? asan : "", asan && *asan ? ":" : "");
        setenv("ASAN_OPTIONS", opts, 1);
    }
    setenv("FFS_FAULT_FILE", fe->rules, 1);
    setenv("FFS_FAULT_LOG", fe->flog, 1);
    setenv("LD_PRELOAD", shim_abs, 1);
}

int fe_mount_start(fe_t *fe, it_mount_t *m, const char *model, const char *const *args, char *err,
                   size_t errlen)
{
    char shim[PATH_MAX];
    it_build_path("tests/libffs_faults.so", shim, sizeof shim);
    if (access(shim, R_OK) != 0) {
        snprintf(err, errlen, "%s missing (make tests)", shim);
        return -ENOENT;
    }
    fe_env(fe, 1);
    int rc = it_mount_start(m, model, args, err, errlen);
    fe_env(fe, 0);
    return rc;
}

int fe_mount_launch(fe_t *fe, it_mount_t *m, const char *const *args, char *err, size_t errlen)
{
    fe_env(fe, 1);
    int rc = it_mount_launch(m, 1, args, err, errlen);
    fe_env(fe, 0);
    return rc;
}

void fe_free(fe_t *fe)
{
    if (fe->dir[0])
        it_rm_rf(fe->dir);
    fe->dir[0] = '\0';
}
