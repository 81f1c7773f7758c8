/* Whether a signal handler that runs on a thread inside oneDNN's sgemm breaks it: one thread
 * multiplies the same matrices over and over and compares each result with the first, another
 * sends it SIGUSR1 every 50 us; the handler only counts. With ALTSTACK=1 the handler runs on an
 * alternate signal stack instead of the interrupted thread's own.
 *
 *   cc -O2 bench/onednn/sgemm_signals.c -o /tmp/sgemm_signals -ldnnl -lpthread
 *   OMP_NUM_THREADS=1 /tmp/sgemm_signals 64 1024 2048 300             # dx = dy W of quick's fc6
 *   OMP_NUM_THREADS=1 ALTSTACK=1 /tmp/sgemm_signals 64 1024 2048 300
 *
 * On an AMD EPYC (Zen 3, AVX2) with Debian's oneDNN 2.6.3 the first crashes in a few hundred
 * products (segmentation fault, or glibc's "corrupted size vs. prev_size"), the second does not:
 * the kernel keeps data below the stack pointer, where the kernel puts a handler's frame. Why
 * the command-line tool never lets a handler run on a thread that computes (CInterrupts.h).
 */
#include <dnnl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t delivered = 0;
static volatile int finished = 0;
static pthread_t multiplier;

static void count(int signal_number) { (void)signal_number; delivered = delivered + 1; }

static void *send_signals(void *unused) {
    (void)unused;
    while (!finished) {
        pthread_kill(multiplier, SIGUSR1);
        usleep(50);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s M N K ROUNDS  (C = A . B, A is M x K)\n", argv[0]);
        return 2;
    }
    int m = atoi(argv[1]), n = atoi(argv[2]), k = atoi(argv[3]), rounds = atoi(argv[4]);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = count;
    action.sa_flags = SA_RESTART;
    if (getenv("ALTSTACK")) {
        stack_t stack = {.ss_sp = malloc(1 << 16), .ss_size = 1 << 16, .ss_flags = 0};
        sigaltstack(&stack, NULL);
        action.sa_flags |= SA_ONSTACK;
    }
    sigaction(SIGUSR1, &action, NULL);

    float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * k * n);
    float *c = malloc(sizeof(float) * m * n), *first = malloc(sizeof(float) * m * n);
    for (long i = 0; i < (long)m * k; i++) a[i] = (float)((i * 7919) % 1000) / 1000 - 0.5f;
    for (long i = 0; i < (long)k * n; i++) b[i] = (float)((i * 104729) % 1000) / 1000 - 0.5f;
    dnnl_sgemm('N', 'N', m, n, k, 1, a, k, b, n, 0, first, n);

    multiplier = pthread_self();
    pthread_t sender;
    pthread_create(&sender, NULL, send_signals, NULL);
    int wrong = 0;
    for (int round = 0; round < rounds; round++) {
        void *other = malloc(100 + round % 5000);  // the small allocations around it in a program
        dnnl_sgemm('N', 'N', m, n, k, 1, a, k, b, n, 0, c, n);
        free(other);
        if (memcmp(c, first, sizeof(float) * m * n) != 0) wrong++;
    }
    finished = 1;
    pthread_join(sender, NULL);
    printf("%d x %d x %d: %d products, %d signals handled inside or between them, %d results wrong\n",
           m, n, k, rounds, (int)delivered, wrong);
    return wrong != 0;
}
