// The process-wide steady clock.
#include "core/clock.hpp"

namespace herald {

Clock& Clock::system() noexcept {
    static Clock clock;
    return clock;
}

} // namespace herald
