/* pack_pool.h — process-wide decode threads of the packed reader (prefix pk_job_).
 * Internal to fs/pack_*.c; see fs/pack_pool.c for the protocol. */
#ifndef PACK_POOL_H
#define PACK_POOL_H

enum { PK_JOB_DONE = 0, PK_JOB_QUEUED = 1, PK_JOB_RUNNING = 2 };

typedef struct pk_job {
    struct pk_job *next;            /* queue link (pool-owned while queued) */
    int state;                      /* PK_JOB_*, changed under the pool mutex */
    void (*fn)(struct pk_job *);    /* the work */
    void (*release)(struct pk_job *); /* fire-and-forget: called after fn, may free the job */
} pk_job_t;

/* Queue j (fn set; release NULL for a job the caller waits on). 0, or -EAGAIN when no
 * pool thread could be started (run it yourself then). */
int pk_job_submit(pk_job_t *j);

/* Take back a queued job that no thread has started: 1 if taken (the caller must now
 * pk_job_run it), 0 if it is running or done already. */
int pk_job_take(pk_job_t *j);

/* Run a taken job in the calling thread (marks it done, calls release). */
void pk_job_run(pk_job_t *j);

/* Wait until j is done. */
void pk_job_wait(pk_job_t *j);

#endif
