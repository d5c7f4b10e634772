// UniqueFd: close on reset.
#include "core/unique_fd.hpp"

#include <unistd.h>

namespace herald {

void UniqueFd::reset(int fd) noexcept {
    if (fd_ >= 0) ::close(fd_); // close(2) errors are not actionable here (fd is gone either way)
    fd_ = fd;
}

} // namespace herald
