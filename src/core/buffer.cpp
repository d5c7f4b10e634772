// Buffer growth policy: compact first, then double (min 4 KiB).
#include "core/buffer.hpp"

#include <algorithm>

namespace herald {

void Buffer::reserve(std::size_t n) {
    if (cap_ - end_ >= n) return;
    std::size_t len = size();
    if (begin_ > 0 && cap_ - len >= n) {
        std::memmove(mem_.get(), data(), len);
        begin_ = 0;
        end_ = len;
        return;
    }
    std::size_t want = std::max<std::size_t>({4096, cap_ * 2, len + n});
    auto mem = std::make_unique_for_overwrite<char[]>(want);
    if (len) std::memcpy(mem.get(), data(), len);
    mem_ = std::move(mem);
    cap_ = want;
    begin_ = 0;
    end_ = len;
}

} // namespace herald
