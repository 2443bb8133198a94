/* pack_pool.c — a process-wide pool of decode threads for packed reads (prefix pk_).
 *
 * A read that spans several frames hands all but its first frame to the pool, decodes
 * the first itself, then takes back every job no pool thread has started yet and runs it
 * too, and finally waits for the started ones. So a read never waits behind a busy pool
 * (the caller can always do all the work), and when threads are idle the frames decode
 * in parallel. Fire-and-forget jobs (sequential read-ahead) are the same jobs with a
 * release callback. Threads (one per online CPU, at most PK_POOL_MAX) start on first use
 * and live for the process.
 *
 * Every state change of a job happens under the pool mutex:
 *   QUEUED --(pool thread pops | owner takes back)--> RUNNING --(fn returns)--> DONE */
#include "pack_pool.h"

#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#define PK_POOL_MAX 8

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_work = PTHREAD_COND_INITIALIZER;  /* a job was queued */
static pthread_cond_t pool_done = PTHREAD_COND_INITIALIZER;  /* a job finished */
static pk_job_t *q_head, *q_tail;
static int pool_threads;        /* started threads; -1 when starting failed */
static int pool_busy;           /* jobs being run by pool threads right now */
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

/* fork() keeps only the calling thread: the flashfs daemon forks (fuse_daemonize) after
 * reading file headers, which may already have started the pool. Before a fork, wait
 * until the pool threads are idle and hold the mutex across it; in the child, forget the
 * threads so the next submit starts new ones (queued jobs are kept and run then).
 * The mutex and condition variables are re-initialised in the child. */
static void fork_prepare(void)
{
    pthread_mutex_lock(&pool_mu);
    while (pool_busy > 0 || (q_head && pool_threads > 0))
        pthread_cond_wait(&pool_done, &pool_mu);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&pool_mu);
}

static void fork_child(void)
{
    /* The parent's idle pool threads were waiting on pool_work: a condition variable
     * whose waiters vanished is unusable (signal would wait for them), so start afresh. */
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    pool_mu = mu;
    pool_work = cv;
    pool_done = cv;
    pool_threads = 0;
    pool_busy = 0;
}

static void fork_register(void)
{
    (void)pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static void *pool_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&pool_mu);
    for (;;) {
        while (!q_head)
            pthread_cond_wait(&pool_work, &pool_mu);
        pk_job_t *j = q_head;
        q_head = j->next;
        if (!q_head)
            q_tail = NULL;
        j->state = PK_JOB_RUNNING;
        pool_busy++;
        pthread_mutex_unlock(&pool_mu);
        pk_job_run(j);
        pthread_mutex_lock(&pool_mu);
        pool_busy--;
        pthread_cond_broadcast(&pool_done);
    }
    return NULL;
}

/* Start the threads once (under pool_mu). */
static void pool_start(void)
{
    if (pool_threads != 0)
        return;
    pthread_once(&fork_once, fork_register);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    if (n > PK_POOL_MAX)
        n = PK_POOL_MAX;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    for (long i = 0; i < n; i++) {
        pthread_t t;
        if (pthread_create(&t, &a, pool_main, NULL) != 0)
            break;
        pool_threads++;
    }
    pthread_attr_destroy(&a);
    if (pool_threads == 0)
        pool_threads = -1;
}

void pk_job_run(pk_job_t *j)
{
    j->fn(j);
    void (*release)(pk_job_t *) = j->release;
    pthread_mutex_lock(&pool_mu);
    j->state = PK_JOB_DONE;
    pthread_cond_broadcast(&pool_done);
    pthread_mutex_unlock(&pool_mu);
    if (release)
        release(j); /* fire-and-forget: nobody waits on j any more */
}

int pk_job_submit(pk_job_t *j)
{
    pthread_mutex_lock(&pool_mu);
    pool_start();
    if (pool_threads < 0) {
        pthread_mutex_unlock(&pool_mu);
        return -EAGAIN;
    }
    j->state = PK_JOB_QUEUED;
    j->next = NULL;
    if (q_tail)
        q_tail->next = j;
    else
        q_head = j;
    q_tail = j;
    pthread_cond_signal(&pool_work);
    pthread_mutex_unlock(&pool_mu);
    return 0;
}

int pk_job_take(pk_job_t *j)
{
    int taken = 0;
    pthread_mutex_lock(&pool_mu);
    if (j->state == PK_JOB_QUEUED) {
        pk_job_t **pp = &q_head, *prev = NULL;
        while (*pp && *pp != j) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        if (*pp) {
            *pp = j->next;
            if (q_tail == j)
                q_tail = prev;
        }
        j->state = PK_JOB_RUNNING;
        taken = 1;
    }
    pthread_mutex_unlock(&pool_mu);
    return taken;
}

void pk_job_wait(pk_job_t *j)
{
    pthread_mutex_lock(&pool_mu);
    while (j->state != PK_JOB_DONE)
        pthread_cond_wait(&pool_done, &pool_mu);
    pthread_mutex_unlock(&pool_mu);
}
