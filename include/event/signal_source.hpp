// SignalSource: how the one EventLoop of a process that asked for signals receives them.
// The Makefile links one implementation beside the poller, as it picks the poller:
//  - signals_signalfd.cpp (Linux): the signals are blocked in the thread that asks for them
//    and read from a signalfd(2). Threads started afterwards inherit the mask, so no thread
//    ever runs a handler for them: the kernel keeps a signal pending until the loop reads it.
//  - signals_pipe.cpp (elsewhere, and the kqueue-emulation build): an SA_RESTART handler
//    writes the signal number into a non-blocking self-pipe the loop watches.
// Either way the callbacks run on the loop's thread, from on_ready().
#pragma once

#include <functional>
#include <memory>
#include <system_error>
#include <utility>
#include <vector>

#include "event/event_loop.hpp"

namespace herald::detail {

class SignalSource : public IoHandler {
public:
    // The implementation the Makefile linked, watching its fd on loop. EBUSY when another
    // loop of this process already receives signals.
    static std::unique_ptr<SignalSource> open(EventLoop& loop, std::error_code& ec);
    virtual ~SignalSource() = default;

    // Starts taking signo from the kernel and routes it to fn (a second fn replaces the first).
    std::error_code add(int signo, std::function<void(int)> fn);
    // The source's own watch (EventLoop::watch_count() does not count it).
    virtual bool watching() const noexcept = 0;

protected:
    SignalSource() = default;
    virtual std::error_code start(int signo) = 0;  // once per signo
    void deliver(int signo) noexcept;

private:
    std::vector<std::pair<int, std::function<void(int)>>> handlers_;
};

} // namespace herald::detail
