/* io_backend.c - the log writer's write+sync path: io_uring or pwrite. */
#include <errno.h>
#include <string.h>

#include "fileio.h"
#include "io_backend.h"
#include "tsagg_errors.h"
#include "tsagg_store.h"

#ifdef TSAGG_HAVE_URING
/* Set up a small ring and check it knows the two operations we link. */
static int uring_setup(struct io_uring *ring)
{
    int rc = io_uring_queue_init(8, ring, 0);
    if (rc < 0)
        return rc;
    struct io_uring_probe *probe = io_uring_get_probe_ring(ring);
    int ok = probe && io_uring_opcode_supported(probe, IORING_OP_WRITE) &&
             io_uring_opcode_supported(probe, IORING_OP_FSYNC);
    if (probe)
        io_uring_free_probe(probe);
    if (!ok) {
        io_uring_queue_exit(ring);
        return -ENOSYS;
    }
    return 0;
}

static int uring_write(struct io_uring *ring, int fd, const uint8_t *p, size_t len, uint64_t off,
                       int sync)
{
    for (;;) {
        unsigned nsqe = 0;
        if (len > 0) {
            struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
            io_uring_prep_write(sqe, fd, p, (unsigned)(len > (1u << 30) ? (1u << 30) : len), off);
            sqe->user_data = 1;
            if (sync)
                sqe->flags |= IOSQE_IO_LINK;
            nsqe++;
        }
        if (sync) {
            struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
            io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
            sqe->user_data = 2;
            nsqe++;
        }
        if (nsqe == 0)
            return 0;
        /* A signal caught by the host (without SA_RESTART) interrupts the
         * wait, not the operations: they stay queued or in flight on our
         * buffer, so wait again rather than fail (a writer's failure is
         * sticky). Submitting again passes on only what the kernel has not
         * taken yet, and waits for completions already in the ring too. */
        int rc;
        do
            rc = io_uring_submit_and_wait(ring, nsqe);
        while (rc == -EINTR);
        if (rc < 0)
            return rc;
        int err = 0, retry = 0;
        for (unsigned i = 0; i < nsqe; i++) {
            struct io_uring_cqe *cqe;
            do
                rc = io_uring_wait_cqe(ring, &cqe);
            while (rc == -EINTR);
            if (rc < 0)
                return rc;
            int res = cqe->res;
            uint64_t what = cqe->user_data;
            io_uring_cqe_seen(ring, cqe);
            if (what == 1) {
                if (res < 0) {
                    err = err ? err : res;
                } else if (res == 0) {
                    err = err ? err : -EIO;
                } else {
                    p += res;
                    len -= (size_t)res;
                    off += (uint64_t)res;
                    retry = len > 0; /* a short write cancels the linked fsync */
                }
            } else if (res < 0 && !(res == -ECANCELED && (retry || err))) {
                err = err ? err : res;
            }
        }
        if (err)
            return err;
        if (!retry)
            return 0;
    }
}
#endif

int tsagg__wio_init(tsagg__wio *w, const tsagg_io *io, unsigned requested)
{
    memset(w, 0, sizeof *w);
    w->io = io;
    if (requested == TSAGG_IO_PWRITE)
        return 0;
#ifdef TSAGG_HAVE_URING
    /* The ring bypasses the table's pwrite/fsync; only take it on AUTO when
     * the table is the operating system's. */
    if (requested == TSAGG_IO_AUTO && io != tsagg_io_default())
        return 0;
    if (uring_setup(&w->ring) == 0) {
        w->uring = 1;
        return 0;
    }
#endif
    return requested == TSAGG_IO_URING ? TSAGG_ENOURING : 0;
}

void tsagg__wio_fini(tsagg__wio *w)
{
#ifdef TSAGG_HAVE_URING
    if (w->uring)
        io_uring_queue_exit(&w->ring);
#endif
    w->uring = 0;
}

int tsagg__wio_write(tsagg__wio *w, int fd, const void *buf, size_t len, uint64_t off, int sync)
{
#ifdef TSAGG_HAVE_URING
    if (w->uring)
        return uring_write(&w->ring, fd, buf, len, off, sync);
#endif
    int rc = len ? tsagg__write_all(w->io, fd, buf, len, off) : 0;
    if (rc == 0 && sync)
        rc = w->io->fsync(w->io->ctx, fd);
    return rc;
}
