/* kqueue(2) for Linux, test-only: the subset of FreeBSD's <sys/event.h> that
 * herald's kqueue backend and the emulation's own tests use, implemented over epoll in
 * tests/compat/kqueue_emul.cpp. Never linked into ./herald. Names, values and the struct
 * layout follow FreeBSD 12+ (sys/sys/event.h); semantics follow FreeBSD's kqueue(2):
 *   - one knote per (ident, filter): EVFILT_READ and EVFILT_WRITE are separate;
 *   - level-triggered unless EV_CLEAR; EV_ONESHOT deletes after delivery; EV_DISPATCH
 *     disables after delivery; EV_DISABLE suppresses, EV_ENABLE re-evaluates;
 *   - data = bytes readable (FIONREAD; accept queue length for TCP listeners) or space
 *     writable (SO_SNDBUF - SIOCOUTQ for sockets, pipe size - queued bytes for pipes);
 *   - EV_EOF on the read filter when the peer shut down its writing side, on the write
 *     filter when the connection can no longer send (peer closed / reset, pipe reader gone);
 *   - the changelist is applied before waiting; a failed change (or any with EV_RECEIPT)
 *     is returned as an EV_ERROR entry with data = errno when the eventlist has room, and
 *     kevent() then returns without waiting; with no room it fails with that errno.
 * Known limits: close(2) of a watched fd is not seen (its knotes linger until EV_DELETE,
 * as herald always does before closing); no EVFILT_TIMER/SIGNAL/VNODE/PROC; no NOTE_LOWAT. */
#ifndef HERALD_COMPAT_SYS_EVENT_H
#define HERALD_COMPAT_SYS_EVENT_H

/* Treated as the system header it stands in for: like the real one, it declares a function
 * named after a struct, which -Wshadow flags in C++ outside system headers. */
#pragma GCC system_header

#include <stdint.h>
#include <time.h>

#define EVFILT_READ (-1)
#define EVFILT_WRITE (-2)
#define EVFILT_USER (-11)

/* actions */
#define EV_ADD 0x0001
#define EV_DELETE 0x0002
#define EV_ENABLE 0x0004
#define EV_DISABLE 0x0008
/* flags */
#define EV_ONESHOT 0x0010
#define EV_CLEAR 0x0020
#define EV_RECEIPT 0x0040
#define EV_DISPATCH 0x0080
#define EV_SYSFLAGS 0xF000
/* returned values */
#define EV_EOF 0x8000
#define EV_ERROR 0x4000

/* EVFILT_USER fflags */
#define NOTE_FFNOP 0x00000000
#define NOTE_FFAND 0x40000000
#define NOTE_FFOR 0x80000000
#define NOTE_FFCOPY 0xc0000000
#define NOTE_FFCTRLMASK 0xc0000000
#define NOTE_FFLAGSMASK 0x00ffffff
#define NOTE_TRIGGER 0x01000000

struct kevent {
    uintptr_t ident;     /* identifier for this event */
    short filter;        /* filter for event */
    unsigned short flags; /* action flags for kqueue */
    unsigned int fflags; /* filter flag value */
    int64_t data;        /* filter data value */
    void* udata;         /* opaque user data identifier */
    uint64_t ext[4];     /* extensions */
};

/* Statement form (not FreeBSD's compound literal) so it compiles as pedantic C++. */
#define EV_SET(kevp_, a, b, c, d, e, f)                                                    \
    do {                                                                                   \
        struct kevent* ev_set_p_ = (kevp_);                                                \
        ev_set_p_->ident = (a);                                                            \
        ev_set_p_->filter = (b);                                                           \
        ev_set_p_->flags = (c);                                                            \
        ev_set_p_->fflags = (d);                                                           \
        ev_set_p_->data = (e);                                                             \
        ev_set_p_->udata = (f);                                                            \
        ev_set_p_->ext[0] = ev_set_p_->ext[1] = ev_set_p_->ext[2] = ev_set_p_->ext[3] = 0; \
    } while (0)

#ifdef __cplusplus
extern "C" {
#endif

int kqueue(void);
int kevent(int kq, const struct kevent* changelist, int nchanges, struct kevent* eventlist,
           int nevents, const struct timespec* timeout);

#ifdef __cplusplus
}
#endif

#endif
