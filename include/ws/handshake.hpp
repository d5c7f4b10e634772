// WebSocket opening handshake checks over plain header values (RFC 6455 §4.2.1, §4.2.2):
// upgrade validation, Sec-WebSocket-Accept, subprotocol choice (the Origin check is
// http/origin.hpp, shared with every route).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herald::ws {

// RFC 6455 §1.3: appended to the client key before hashing.
inline constexpr std::string_view accept_guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

// Why an upgrade request is refused; status_of() gives the HTTP status.
enum class HandshakeError : std::uint8_t {
    none,
    method_not_allowed,  // 405: not GET (§4.2.1 item 1)
    not_upgrade,         // 426: no "Upgrade: websocket" or no "upgrade" in Connection
    bad_http_version,    // 400: an upgrade attempt over HTTP/1.0
    bad_version,         // 426 with "Sec-WebSocket-Version: 13": any version but 13 (§4.4)
    bad_key,             // 400: Sec-WebSocket-Key absent or not 16 bytes of base64
    repeated_field,      // 400: Sec-WebSocket-Key or Sec-WebSocket-Version sent twice (§11.3)
};

int status_of(HandshakeError e) noexcept;
const char* reason_of(HandshakeError e) noexcept;  // short text for logs and 4xx bodies

// The request facts the checks need; views into the request, used only during the call.
struct UpgradeFields {
    bool is_get = false;
    bool http11 = false;              // HTTP/1.1 or later
    std::string_view upgrade;         // Upgrade field value ("" if absent)
    std::string_view connection;      // Connection field value(s), comma-joined
    std::string_view version;         // Sec-WebSocket-Version
    std::string_view key;             // Sec-WebSocket-Key
    std::size_t version_fields = 1;   // how many Sec-WebSocket-Version fields were sent
    std::size_t key_fields = 1;       // how many Sec-WebSocket-Key fields were sent
};

// Applies §4.2.1 in this order: method, upgrade tokens (case-insensitive, lists allowed),
// HTTP version, repeated key or version fields, Sec-WebSocket-Version, key. A plain GET yields
// not_upgrade (426).
HandshakeError check_upgrade(const UpgradeFields& f) noexcept;

// True if key is base64 (24 characters, "==" padding) that decodes to exactly 16 bytes
// (§4.2.1 item 5). The unused low bits of the last character are not checked.
bool valid_client_key(std::string_view key) noexcept;

// Sec-WebSocket-Accept: base64(SHA-1(client_key + accept_guid)), 28 characters (§4.2.2).
std::string accept_key(std::string_view client_key);

// The first subprotocol the CLIENT offers that the server also lists (exact, case-sensitive
// match); nullopt if none, and then the response carries no Sec-WebSocket-Protocol (§4.2.2).
// offered: Sec-WebSocket-Protocol values, comma lists, several fields joined with ",".
std::optional<std::string> select_protocol(std::string_view offered,
                                           const std::vector<std::string>& server_list);


} // namespace herald::ws
