// Router: picks the server block for a listener and the location for a path, from one
// immutable Config snapshot (exact match beats the longest prefix, as in nginx). Built once per
// config load on the main thread; read-only afterwards, shared by the workers.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.hpp"

namespace herald::http {

class Router {
public:
    // What route() found for a request: null server when no server listens on the listener
    // (404), null location when none of the server's locations matches the path (404).
    struct Route {
        const config::ServerConf* server = nullptr;
        const config::LocationConf* location = nullptr;
    };

    // Keeps cfg alive. listeners[i] is the listen key (see listen_key()) of the workers'
    // listener i, numbered as net::Server::listen() numbers them, "" for one a reload closed
    // (every worker adds the same listeners in the same order). Resolves every static root with
    // realpath() (missing roots are kept as written and answer 404).
    Router(std::shared_ptr<const config::Config> cfg, std::vector<std::string> listeners);

    const config::Config& config() const noexcept { return *cfg_; }
    const std::shared_ptr<const config::Config>& config_ptr() const noexcept { return cfg_; }

    // The server for a request that came in on `listener` with this Host (port ignored,
    // server_name compared case-insensitively; the listener's first server is the default),
    // and its location for the normalised path (exact match, then the longest prefix).
    Route route(std::size_t listener, std::string_view host, std::string_view path) const noexcept;
    // The limits that apply before a request is routed (header limits and timeouts): those of
    // the server a request without Host gets on the listener (its default server unless one is
    // named ""), or the http block's for a listener no server of this snapshot listens on.
    const config::Limits& limits(std::size_t listener) const noexcept;
    // Whether connections on `listener` start with a PROXY protocol header: any `listen` for
    // its address says proxy_protocol.
    bool proxy_protocol(std::size_t listener) const noexcept {
        return listener < proxy_protocol_.size() && proxy_protocol_[listener];
    }
    // realpath() of a location's root ("" when it has none).
    const std::string& real_root(const config::LocationConf& loc) const noexcept;

    // The listen key of listener i ("" for a closed one or out of range), and the index of
    // the listener with that key (npos when none): a binary upgrade names listeners by key.
    const std::string& listener_key(std::size_t listener) const noexcept;
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);
    std::size_t listener_of(std::string_view key) const noexcept;

    // "host:port" as configured: the name of a listen address (main binds one socket set per key).
    static std::string listen_key(const config::ListenConf& l);

private:
    struct ServerRoutes {
        const config::ServerConf* server;
        std::unordered_map<std::string_view, const config::LocationConf*> exact;
        std::vector<const config::LocationConf*> prefixes;  // longest first
        std::unique_ptr<config::LocationConf> fallback;     // "location /" from the server root, if needed
    };
    const ServerRoutes* server(std::size_t listener, std::string_view host) const noexcept;
    const config::LocationConf* match(const ServerRoutes& r, std::string_view path) const noexcept;

    std::shared_ptr<const config::Config> cfg_;
    std::vector<ServerRoutes> servers_;
    // By listener index: indexes into servers_ of the servers listening there, default first.
    std::vector<std::vector<std::size_t>> by_listener_;
    std::vector<bool> proxy_protocol_;  // by listener index
    std::vector<std::string> listeners_;  // listen keys by listener index
    std::unordered_map<const config::LocationConf*, std::string> real_roots_;
    std::string empty_;
};

} // namespace herald::http
