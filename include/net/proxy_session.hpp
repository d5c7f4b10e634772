// ProxySession: the first Session of a connection on a `listen ... proxy_protocol` listener.
// Reads the PROXY protocol header (net/proxy_protocol.hpp), makes the address it carries the
// connection's peer, then hands the connection and the bytes after the header to the next
// Session. A missing, malformed or late header closes the connection, with a log line.
#pragma once

#include <functional>
#include <memory>

#include "event/event_loop.hpp"
#include "net/connection.hpp"
#include "net/proxy_protocol.hpp"

namespace herald::net {

// A header not complete this long after the connection opened closes it.
inline constexpr Clock::duration proxy_header_timeout = std::chrono::seconds(10);

// Owned by its Connection; loop thread only.
class ProxySession final : public Session {
public:
    using Next = std::function<std::unique_ptr<Session>(Connection&)>;
    ProxySession(Connection& c, Next next);

    std::size_t on_data(std::span<char> data) noexcept override;
    void on_shutdown() noexcept override { conn_.close(); }

private:
    ProxyParser parser_;
    Next next_;
    Timer timer_;
};

} // namespace herald::net
