// wsload: target URLs (ws://, http://, raw://) resolved once at startup to an IPv4 address.
// Part of the single-TU wsload build.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace wsload {

struct Url {
    std::string scheme;    // "ws", "http" or "raw"
    std::string host;      // as written, used for the Host header
    std::uint16_t port = 80;
    std::string target;    // path and query, "/" at least
    sockaddr_in addr{};
};

// Parses SCHEME://HOST[:PORT][/TARGET]. Throws std::runtime_error on anything else (TLS schemes
// included: wsload speaks plain TCP only). Resolves HOST with getaddrinfo (blocking; startup only).
inline Url parse_url(const std::string& text) {
    Url u;
    const auto sep = text.find("://");
    if (sep == std::string::npos) throw std::runtime_error("bad url (want scheme://host:port/path): " + text);
    u.scheme = text.substr(0, sep);
    if (u.scheme != "ws" && u.scheme != "http" && u.scheme != "raw")
        throw std::runtime_error("unsupported scheme (ws, http, raw): " + u.scheme);
    std::string rest = text.substr(sep + 3);
    const auto slash = rest.find('/');
    std::string authority = rest.substr(0, slash);
    u.target = slash == std::string::npos ? "/" : rest.substr(slash);
    const auto colon = authority.rfind(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos) {
        const long p = std::strtol(authority.c_str() + colon + 1, nullptr, 10);
        if (p <= 0 || p > 65535) throw std::runtime_error("bad port in " + text);
        u.port = static_cast<std::uint16_t>(p);
    } else if (u.scheme == "raw") {
        throw std::runtime_error("raw:// needs a port");
    }
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (getaddrinfo(u.host.c_str(), nullptr, &hints, &res) != 0 || res == nullptr)
        throw std::runtime_error("cannot resolve " + u.host);
    std::memcpy(&u.addr, res->ai_addr, sizeof u.addr);
    freeaddrinfo(res);
    u.addr.sin_port = htons(u.port);
    return u;
}

inline std::string host_header(const Url& u) { return u.host + ":" + std::to_string(u.port); }

} // namespace wsload
