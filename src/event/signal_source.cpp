// SignalSource: the callbacks both implementations share (signals_*.cpp take the signals).
#include "event/signal_source.hpp"

namespace herald::detail {

std::error_code SignalSource::add(int signo, std::function<void(int)> fn) {
    for (auto& h : handlers_) {
        if (h.first == signo) {
            h.second = std::move(fn);
            return {};
        }
    }
    if (auto ec = start(signo)) return ec;
    handlers_.emplace_back(signo, std::move(fn));
    return {};
}

// By index, on a copy: a callback may add another signal and grow the vector.
void SignalSource::deliver(int signo) noexcept {
    for (std::size_t i = 0; i < handlers_.size(); ++i) {
        if (handlers_[i].first != signo) continue;
        std::function<void(int)> fn = handlers_[i].second;
        fn(signo);
        return;
    }
}

} // namespace herald::detail
