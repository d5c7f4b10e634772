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
    // Keeps cfg alive. Resolves every static root with realpath() (missing roots are kept as
    // written and answer 404).
    explicit Router(std::shared_ptr<const config::Config> cfg);

    const config::Config& config() const noexcept { return *cfg_; }
    const std::shared_ptr<const config::Config>& config_ptr() const noexcept { return cfg_; }

    // The server for a listen key ("host:port" as configured, see listen_key()) and Host.
    const config::ServerConf* server_for(std::string_view listen_key, std::string_view host) const noexcept;
    // The location for a normalised path, or nullptr when nothing matches.
    const config::LocationConf* match(const config::ServerConf& srv, std::string_view path) const noexcept;
    // realpath() of a location's root ("" when it has none).
    const std::string& real_root(const config::LocationConf& loc) const noexcept;

    static std::string listen_key(const config::ListenConf& l);

private:
    struct ServerRoutes {
        const config::ServerConf* server;
        std::unordered_map<std::string_view, const config::LocationConf*> exact;
        std::vector<const config::LocationConf*> prefixes;  // longest first
        std::unique_ptr<config::LocationConf> fallback;     // "location /" from the server root, if needed
    };
    std::shared_ptr<const config::Config> cfg_;
    std::vector<ServerRoutes> servers_;
    // listen key -> server indexes; a handful of entries, scanned without allocating.
    std::vector<std::pair<std::string, std::vector<std::size_t>>> by_listen_;
    std::unordered_map<const config::LocationConf*, std::string> real_roots_;
    std::string empty_;
};

} // namespace herald::http
