// herald: the PROXY protocol header at the start of a connection, then the real protocol.
#include "net/proxy_session.hpp"

#include "core/log.hpp"

namespace herald::net {

ProxySession::ProxySession(Connection& c, Next next) : Session(c), next_(std::move(next)) {
    timer_ = c.loop().add_timer(proxy_header_timeout, [this] {
        HERALD_INFO("no PROXY protocol header from %s within %lld s, closing fd=%d",
                    conn_.peer().to_string().c_str(),
                    static_cast<long long>(
                        std::chrono::duration_cast<std::chrono::seconds>(proxy_header_timeout)
                            .count()),
                    conn_.fd());
        conn_.close();
    });
}

std::size_t ProxySession::on_data(std::span<char> data) noexcept {
    const ProxyResult r = parser_.feed({data.data(), data.size()});
    if (r.status == ProxyStatus::need_more)
        return 0;
    timer_.cancel();
    if (r.status == ProxyStatus::error) {
        HERALD_INFO("bad PROXY protocol header from %s: %s, closing fd=%d",
                    conn_.peer().to_string().c_str(), r.error, conn_.fd());
        conn_.close();
        return data.size();
    }
    if (parser_.header().has_address)
        conn_.set_peer(parser_.header().source);
    Connection& c = conn_;
    c.replace_session(next_(c)); // destroys this session after dispatch, not now
    return r.consumed;
}

} // namespace herald::net
