#include "CInterrupts.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

// Shared between the handler's thread and the others: lock-free atomics (async-signal-safe).
static int requests_stop = 0;    // set by alexnet_interrupts_install
static int requested = 0;        // set by the handler
static int ignored_at_start[2];  // SIGINT, SIGTERM; written before any other thread exists

static void interrupt_signals(sigset_t *set) {
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
}

static void on_signal(int signal_number) {
    if (!__atomic_load_n(&requests_stop, __ATOMIC_SEQ_CST)) {
        // No command asked to stop gracefully: ignore it if the parent had it ignored, else
        // die of it as without a handler (delivered again once this handler returns).
        if (ignored_at_start[signal_number == SIGINT ? 0 : 1]) return;
        signal(signal_number, SIG_DFL);
        raise(signal_number);
        return;
    }
    if (__atomic_exchange_n(&requested, 1, __ATOMIC_SEQ_CST)) _exit(130);
}

static void unblock_in_child(void) {
    sigset_t set;
    interrupt_signals(&set);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

void alexnet_signals_block(void) {
    sigset_t set;
    interrupt_signals(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_atfork(NULL, NULL, unblock_in_child);
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
    if (pthread_create(&thread, NULL, watch, NULL) == 0) {
        pthread_detach(thread);
        return;
    }
    // Without the thread every thread would block them and Ctrl-C would be lost: take them
    // here instead, as before, at the risk the header describes.
    fputs("warning: no thread for Ctrl-C; handling it on the main thread\n", stderr);
    sigset_t set;
    interrupt_signals(&set);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

void alexnet_interrupts_install(void) { __atomic_store_n(&requests_stop, 1, __ATOMIC_SEQ_CST); }

int alexnet_interrupts_requested(void) { return __atomic_load_n(&requested, __ATOMIC_SEQ_CST); }
