/* Test library for tests/test_native.py, built by the suite with
 * `cc -shared -fPIC -g -O0 -pthread` and loaded with ctypes by the profiled
 * scenario, i.e. after tracking started.
 *
 * Lines the tests look up carry a `// @name` marker comment. -O0 keeps every
 * function a real frame and each call on its own line. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Blocks kept until exit, so that they are leaks. */
static void *kept_by_thread;
static void *kept_by_caller;

struct thread_job {
    size_t size;
    long tid; /* the thread's gettid(), for the test to compare */
};

/* The routine of a thread that only C code knows about: Python never sees
 * this thread, so it has no Python thread state and no Python frame. */
static void *mstest_thread_routine(void *arg) {
    struct thread_job *job = arg;
    job->tid = (long)syscall(SYS_gettid);
    void *p = malloc(job->size); // @thread_malloc
    if (p != NULL)
        memset(p, 0xab, job->size); /* touch it, as a real program would */
    kept_by_thread = p;
    return NULL;
}

/* Starts one thread that mallocs `size` bytes and keeps them, and joins it.
 * Returns the thread's native id (gettid), or -1 on failure. */
long mstest_alloc_in_c_thread(size_t size) {
    struct thread_job job = {size, -1};
    pthread_t thread;
    if (pthread_create(&thread, NULL, mstest_thread_routine, &job) != 0)
        return -1;
    if (pthread_join(thread, NULL) != 0)
        return -1;
    return kept_by_thread != NULL ? job.tid : -1;
}

/* Mallocs `size` bytes in the calling thread and keeps them. Returns 0 on
 * success. */
int mstest_alloc_here(size_t size) {
    void *p = malloc(size); // @caller_malloc
    if (p == NULL)
        return -1;
    memset(p, 0xcd, size);
    kept_by_caller = p;
    return 0;
}
