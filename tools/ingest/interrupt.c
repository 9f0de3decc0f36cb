/* interrupt.c - see interrupt.h. */
#include "interrupt.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <time.h>

/* Set by the handler, which runs only inside ppoll in the main thread. */
static volatile sig_atomic_t taken;

static void on_signal(int sig)
{
    taken = sig;
}

static void stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
}

int interrupt_catch(void)
{
    sigset_t set;
    stop_signals(&set);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
        return -errno;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
        return -errno;
    return 0;
}

int interrupt_wait(int fd, int timeout_ms)
{
    sigset_t open_mask;
    sigprocmask(SIG_SETMASK, NULL, &open_mask);
    sigset_t set;
    stop_signals(&set);
    sigdelset(&open_mask, SIGINT);
    sigdelset(&open_mask, SIGTERM);
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
    for (;;) {
        /* ppoll returns a ready descriptor (a regular file always is)
         * without taking a pending signal: take it here. */
        struct timespec now = {0, 0};
        int sig = sigtimedwait(&set, NULL, &now);
        if (sig > 0)
            taken = sig;
        if (taken)
            return -1;
        int rc = ppoll(&pfd, 1, timeout_ms < 0 ? NULL : &ts, &open_mask);
        if (rc > 0)
            return 1; /* readable, at its end, or failing: read() says which */
        if (rc == 0)
            return 0;
        if (errno != EINTR)
            return 1; /* let read() report it */
    }
}

int interrupt_signal(void)
{
    return taken;
}

void interrupt_reraise(void)
{
    int sig = taken;
    if (!sig) { /* one that came after the last wait, during a compaction */
        sigset_t set;
        stop_signals(&set);
        struct timespec now = {0, 0};
        sig = sigtimedwait(&set, NULL, &now);
        if (sig <= 0)
            return;
    }
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    raise(sig); /* pending while blocked */
    sigprocmask(SIG_UNBLOCK, &set, NULL);
}
