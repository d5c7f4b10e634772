// WebSocket opening handshake checks (RFC 6455 §4.2.1, §4.2.2). The only OpenSSL use in
// herald: SHA-1 and base64 for Sec-WebSocket-Accept and key validation.
#include "ws/handshake.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <array>

#include "core/ascii.hpp"

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
    for (std::size_t i = 0; i < 22; ++i)
        if (!base64_alphabet[static_cast<unsigned char>(key[i])]) return false;
    // EVP_DecodeBlock counts the padding as decoded zero bytes: 24 characters give 18.
    unsigned char out[18];
    int n = EVP_DecodeBlock(out, reinterpret_cast<const unsigned char*>(key.data()), 24);
    return n == 18;
}

std::string accept_key(std::string_view client_key) {
    std::string input;
    input.reserve(client_key.size() + accept_guid.size());
    input.append(client_key).append(accept_guid);
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
    unsigned char out[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];  // + NUL written by OpenSSL
    int n = EVP_EncodeBlock(out, digest, SHA_DIGEST_LENGTH);
    return std::string(reinterpret_cast<const char*>(out), static_cast<std::size_t>(n));
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
