// start_thread: a std::thread that starts with every signal blocked. Signals belong to the
// thread whose EventLoop asked for them (event/signal_source.hpp): on Linux it reads them from
// a signalfd, elsewhere its handler is then the only one that runs; no other thread's call is
// ever interrupted by one. The caller's own mask is unchanged.
#pragma once

#include <thread>
#include <utility>

#include <pthread.h>
#include <signal.h>

namespace herald {

template <class F> std::thread start_thread(F&& f) {
    sigset_t all, old;
    ::sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &old);  // the new thread inherits it
    std::thread t(std::forward<F>(f));
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return t;
}

} // namespace herald
