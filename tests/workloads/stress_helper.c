/* The native side of stress_c_threads.py: threads Python did not create, calling into it. */
#include <pthread.h>

typedef long (*callback_t)(int);

typedef struct {
    callback_t callback;
    int first, calls;
    long result;
} job_t;

static void *run(void *arg)
{
    job_t *job = arg;
    for (int i = 0; i < job->calls; i++)
        job->result += job->callback(job->first + i);
    return NULL;
}

long storm(callback_t callback, int nthreads, int calls)
{
    pthread_t threads[256];
    job_t jobs[256];
    int started = 0;
    long total = 0;
    if (nthreads > 256)
        nthreads = 256;
    for (int i = 0; i < nthreads; i++) {
        jobs[i] = (job_t){callback, i * 1000, calls, 0};
        if (pthread_create(&threads[i], NULL, run, &jobs[i]) != 0)
            break;
        started++;
    }
    for (int i = 0; i < started; i++) {
        pthread_join(threads[i], NULL);
        total += jobs[i].result;
    }
    return started == nthreads ? total : -1;
}
