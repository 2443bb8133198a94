/* faultenv.h — mounts with the fault-injection shim preloaded into the daemon (prefix fe_).
 *
 * The shim (tests/faults/faultshim.c, built as $(BUILD)/tests/libffs_faults.so) reads its
 * rules from a file that fe_set_rules() rewrites atomically while the daemon runs, and
 * logs every fault it injects; fe_fired() counts them. Shared by it_faults.c and
 * it_lifecycle.c. */
#ifndef IT_FAULTENV_H
#define IT_FAULTENV_H

#include "harness.h"

typedef struct {
    char dir[512];              /* private temp dir: rules, shim log, gate */
    char rules[600];            /* FFS_FAULT_FILE */
    char flog[600];             /* FFS_FAULT_LOG */
    char gate[600];             /* a gate file for "stall ... gate=" rules */
} fe_t;

/* Create the temp dir with an empty rules file. 0 or -errno. */
int fe_init(fe_t *fe);

/* Replace the rules (text in the shim's syntax) atomically. 0 or -errno. */
int fe_set_rules(fe_t *fe, const char *text);

/* Create (open != 0) or remove the gate file. 0 or -errno. */
int fe_gate(fe_t *fe, int open);

/* Number of injected faults of kind ("eio", "stall", ...) logged so far. */
int fe_fired(const fe_t *fe, const char *kind);

/* Wait (bounded by timeout_ms) until a fault of kind fired; 1 when it did. */
int fe_wait_fired(const fe_t *fe, const char *kind, int timeout_ms);

/* Set the environment so that daemons started from now on preload the shim with fe's
 * rules (on != 0), or stop preloading (on == 0). */
void fe_env(fe_t *fe, int on);

/* it_mount_start (fg != 0) or it_mount_launch on a prepared m, with the shim preloaded. */
int fe_mount_start(fe_t *fe, it_mount_t *m, const char *model, const char *const *args, char *err,
                   size_t errlen);
int fe_mount_launch(fe_t *fe, it_mount_t *m, const char *const *args, char *err, size_t errlen);

/* Remove the temp dir. */
void fe_free(fe_t *fe);

#endif
