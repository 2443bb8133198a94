/* eng_hint.h — the engine tells a flashfs mount which layer it reads next (prefix eh_).
 *
 * When the model folder lies on a flashfs mount, the mount root has `.flashfs/hint`
 * (docs/control.md): a line "at GROUP" says the reader is about to read that layer group,
 * so the mount prefetches from there instead of guessing from its READs. flashgen's
 * streaming loader writes one line before it reads each streamed unit. Hints are best
 * effort: a failed write turns them off for the rest of the run, never fails generation. */
#ifndef ENG_HINT_H
#define ENG_HINT_H

typedef struct {
    int fd;                     /* `.flashfs/hint` opened for writing, -1 when none */
    int failed;                 /* a write failed: hints are off */
    unsigned long sent;         /* hints written */
} eh_hint_t;

/* Find the flashfs mount holding dir (dir or one of its parents on the same FUSE file
 * system with `.flashfs/hint`) and open its hint file. 0 (h->fd >= 0), -ENOENT when dir is
 * not on a flashfs mount, other -errno when it is but the file cannot be opened. */
int eh_open(eh_hint_t *h, const char *dir);

/* Write "at GROUP\n" (best effort; no-op when closed or failed). Thread-safe for one writer. */
void eh_at(eh_hint_t *h, const char *group);

/* Close (safe on a closed handle). */
void eh_close(eh_hint_t *h);

#endif
