// WebSocket opening handshake checks (RFC 6455 §4.2.1, §4.2.2). OpenSSL gives the SHA-1 of
// Sec-WebSocket-Accept; its base64 is core's.
#include "ws/handshake.hpp"

#include <openssl/sha.h>

#include <array>

#include "core/ascii.hpp"
#include "core/base64url.hpp"

namespace herald::ws {
namespace {

constexpr std::array<bool, 256> make_base64_alphabet() {
    std::array<bool, 256> t{};
    for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<std::size_t>(c)] = true;
    for (int c = 'a'; c <= 'z'; ++c) t[static_cast<std::size_t>(c)] = true;
    for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = true;
    t['+'] = t['/'] = true;
    return t;
}
constexpr auto base64_alphabet = make_base64_alphabet();

} // namespace

int status_of(HandshakeError e) noexcept {
    switch (e) {
    case HandshakeError::none: return 101;
    case HandshakeError::method_not_allowed: return 405;
    case HandshakeError::not_upgrade: return 426;
    case HandshakeError::bad_http_version: return 400;
    case HandshakeError::bad_version: return 426;
    case HandshakeError::bad_key:
    case HandshakeError::repeated_field: return 400;
    }
    return 400;
}

const char* reason_of(HandshakeError e) noexcept {
    switch (e) {
    case HandshakeError::none: return "ok";
    case HandshakeError::method_not_allowed: return "WebSocket handshake must use GET";
    case HandshakeError::not_upgrade: return "this location only speaks WebSocket";
    case HandshakeError::bad_http_version: return "WebSocket needs HTTP/1.1";
    case HandshakeError::bad_version: return "unsupported Sec-WebSocket-Version";
    case HandshakeError::bad_key: return "invalid Sec-WebSocket-Key";
    case HandshakeError::repeated_field:
        return "Sec-WebSocket-Key or Sec-WebSocket-Version sent more than once";
    }
    return "bad handshake";
}

HandshakeError check_upgrade(const UpgradeFields& f) noexcept {
    if (!f.is_get) return HandshakeError::method_not_allowed;
    // RFC 6455 §4.2.1 items 3-4: "Upgrade: websocket" and a Connection list with "Upgrade",
    // both case-insensitive.
    if (!ascii::has_token(f.upgrade, "websocket") || !ascii::has_token(f.connection, "upgrade"))
        return HandshakeError::not_upgrade;
    if (!f.http11) return HandshakeError::bad_http_version;
    // RFC 6455 §11.3.1, §11.3.5: each of these fields must not appear more than once.
    if (f.version_fields > 1 || f.key_fields > 1) return HandshakeError::repeated_field;
    if (ascii::trim_ows(f.version) != "13") return HandshakeError::bad_version;
    if (!valid_client_key(ascii::trim_ows(f.key))) return HandshakeError::bad_key;
    return HandshakeError::none;
}

bool valid_client_key(std::string_view key) noexcept {
    // 16 bytes are 22 base64 characters plus "==".
    if (key.size() != 24 || key[22] != '=' || key[23] != '=') return false;
    // 22 characters of the alphabet and "==" always decode to 16 bytes (the unused low bits
    // of the 22nd are not checked, as before: OpenSSL's decoder ignored them too).
    for (std::size_t i = 0; i < 22; ++i)
        if (!base64_alphabet[static_cast<unsigned char>(key[i])]) return false;
    return true;
}

std::string accept_key(std::string_view client_key) {
    std::string input;
    input.reserve(client_key.size() + accept_guid.size());
    input.append(client_key).append(accept_guid);
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
    std::string accept;
    accept.reserve(base64_encoded_size(SHA_DIGEST_LENGTH));
    append_base64(accept, {reinterpret_cast<const char*>(digest), SHA_DIGEST_LENGTH});
    return accept;
}

std::optional<std::string> select_protocol(std::string_view offered,
                                           const std::vector<std::string>& server_list) {
    std::optional<std::string> chosen;
    ascii::any_element(offered, [&](std::string_view p) {
        for (const std::string& s : server_list)
            if (s == p) {
                chosen.emplace(s);
                return true;
            }
        return false;
    });
    return chosen;
}

} // namespace herald::ws
