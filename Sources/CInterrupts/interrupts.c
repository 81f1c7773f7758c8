#include "CInterrupts.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t requests_stop = 0;  // set by alexnet_interrupts_install
static volatile sig_atomic_t requested = 0;      // set by the handler
static int ignored_at_start[2];                  // SIGINT, SIGTERM

static void interrupt_signals(sigset_t *set) {
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
}

static void on_signal(int signal_number) {
    if (!requests_stop) {
        // No command asked to stop gracefully: ignore it if the parent had it ignored, else
        // die of it as without a handler (delivered again once this handler returns).
        if (ignored_at_start[signal_number == SIGINT ? 0 : 1]) return;
        signal(signal_number, SIG_DFL);
        raise(signal_number);
        return;
    }
    if (requested) _exit(130);
    requested = 1;
}

static void unblock_in_child(void) {
    sigset_t set;
    interrupt_signals(&set);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

void alexnet_signals_block(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    ignored_at_start[0] = sigaction(SIGINT, NULL, &action) == 0 && action.sa_handler == SIG_IGN;
    ignored_at_start[1] = sigaction(SIGTERM, NULL, &action) == 0 && action.sa_handler == SIG_IGN;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;  // interrupted reads and waits resume instead of failing
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    sigset_t set;
    interrupt_signals(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_atfork(NULL, NULL, unblock_in_child);
}

static void *watch(void *unused) {
    (void)unused;
    sigset_t set;
    interrupt_signals(&set);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    for (;;) pause();
    return NULL;
}

void alexnet_signals_watch(void) {
    pthread_t thread;
    if (pthread_create(&thread, NULL, watch, NULL) == 0) pthread_detach(thread);
}

void alexnet_interrupts_install(void) { requests_stop = 1; }

int alexnet_interrupts_requested(void) { return requested != 0; }
