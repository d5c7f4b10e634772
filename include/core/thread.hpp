// start_thread: a named std::thread that starts with every signal blocked. Signals belong to
// the thread whose EventLoop asked for them (event/signal_source.hpp): on Linux it reads them
// from a signalfd, elsewhere its handler is then the only one that runs; no other thread's
// call is ever interrupted by one. The caller's own mask is unchanged.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <thread>
#include <utility>

#include <pthread.h>
#include <signal.h>

namespace herald {

// name: at most 15 characters (the kernel's limit; longer is cut), shown by top -H, gdb and
// /proc/PID/task/*/comm.
template <class F> std::thread start_thread(std::string name, F&& f) {
    sigset_t all, old;
    ::sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &old);  // the new thread inherits it
    std::thread t([name = std::move(name), f = std::forward<F>(f)]() mutable {
        name.resize(std::min<std::size_t>(name.size(), 15));
#if defined(__APPLE__)
        ::pthread_setname_np(name.c_str());
#else
        ::pthread_setname_np(::pthread_self(), name.c_str());
#endif
        f();
    });
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return t;
}

} // namespace herald
