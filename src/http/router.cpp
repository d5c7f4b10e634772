// Router: exact locations in a hash map, prefixes sorted longest first.
#include "http/router.hpp"

#include <algorithm>
#include <climits>
#include <cstdlib>

#include "http/request.hpp"

namespace herald::http {

std::string Router::listen_key(const config::ListenConf& l) {
    return l.host + ":" + std::to_string(l.port);
}

Router::Router(std::shared_ptr<const config::Config> cfg, std::vector<std::string> listeners)
    : cfg_(std::move(cfg)) {
    servers_.reserve(cfg_->servers.size());
    for (const config::ServerConf& srv : cfg_->servers) {
        ServerRoutes r;
        r.server = &srv;
        bool has_root_prefix = false;
        for (const config::LocationConf& loc : srv.locations) {
            if (loc.match == config::LocationConf::Match::exact) {
                r.exact.emplace(loc.path, &loc);
            } else {
                r.prefixes.push_back(&loc);
                if (loc.path == "/") has_root_prefix = true;
            }
        }
        if (!has_root_prefix && !srv.root.empty()) {
            r.fallback = std::make_unique<config::LocationConf>();
            r.fallback->path = "/";
            r.fallback->root = srv.root;
            r.fallback->index = srv.index.empty() ? std::vector<std::string>{"index.html"} : srv.index;
            r.fallback->limits = srv.limits;
            r.prefixes.push_back(r.fallback.get());
        }
        std::stable_sort(r.prefixes.begin(), r.prefixes.end(),
                         [](const config::LocationConf* a, const config::LocationConf* b) {
                             return a->path.size() > b->path.size();
                         });
        for (const config::LocationConf* loc : r.prefixes) {
            if (loc->root.empty()) continue;
            char buf[PATH_MAX];
            real_roots_[loc] = ::realpath(loc->root.c_str(), buf) ? std::string(buf) : loc->root;
        }
        for (auto& [path, loc] : r.exact) {
            if (loc->root.empty()) continue;
            char buf[PATH_MAX];
            real_roots_[loc] = ::realpath(loc->root.c_str(), buf) ? std::string(buf) : loc->root;
        }
        servers_.push_back(std::move(r));
    }
    by_listener_.resize(listeners.size());
    proxy_protocol_.assign(listeners.size(), false);
    for (std::size_t i = 0; i < servers_.size(); ++i)
        for (const config::ListenConf& l : servers_[i].server->listens) {
            std::string key = listen_key(l);
            for (std::size_t li = 0; li < listeners.size(); ++li) {
                if (listeners[li] != key) continue;
                std::vector<std::size_t>& on = by_listener_[li];
                // A server with two listens on the same key is listed once.
                if (on.empty() || on.back() != i) on.push_back(i);
                if (l.proxy_protocol) proxy_protocol_[li] = true;
            }
        }
    listeners_ = std::move(listeners);
}

std::size_t Router::listener_of(std::string_view key) const noexcept {
    for (std::size_t i = 0; i < listeners_.size(); ++i)
        if (!key.empty() && listeners_[i] == key) return i;
    return npos;
}

const std::string& Router::listener_key(std::size_t listener) const noexcept {
    return listener < listeners_.size() ? listeners_[listener] : empty_;
}

const Router::ServerRoutes* Router::server(std::size_t listener,
                                           std::string_view host) const noexcept {
    if (listener >= by_listener_.size() || by_listener_[listener].empty()) return nullptr;
    const std::vector<std::size_t>& on = by_listener_[listener];
    // Host without port, compared case-insensitively with server_name; first server is default.
    std::string_view h = host.substr(0, host.rfind(':') == std::string_view::npos ||
                                                host.find(']') != std::string_view::npos
                                            ? host.size()
                                            : host.rfind(':'));
    for (std::size_t i : on)
        for (const std::string& name : servers_[i].server->server_names)
            if (ascii::iequals(name, h)) return &servers_[i];
    return &servers_[on.front()];
}

Router::Route Router::route(std::size_t listener, std::string_view host,
                            std::string_view path) const noexcept {
    const ServerRoutes* r = server(listener, host);
    if (!r) return {};
    return {r->server, match(*r, path)};
}

const config::Limits& Router::limits(std::size_t listener) const noexcept {
    const ServerRoutes* r = server(listener, {});
    return r ? r->server->limits : cfg_->http_limits;
}

const config::LocationConf* Router::match(const ServerRoutes& r, std::string_view path) const noexcept {
    if (auto it = r.exact.find(path); it != r.exact.end()) return it->second;
    for (const config::LocationConf* loc : r.prefixes)
        if (path.substr(0, loc->path.size()) == loc->path) return loc;
    return nullptr;
}

const std::string& Router::real_root(const config::LocationConf& loc) const noexcept {
    auto it = real_roots_.find(&loc);
    return it == real_roots_.end() ? empty_ : it->second;
}

} // namespace herald::http
