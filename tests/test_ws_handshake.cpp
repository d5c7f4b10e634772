// Unit tests for the WebSocket opening handshake helpers (ws/handshake.hpp): RFC 6455 §4.2
// accept key, client key validation, upgrade checks and their statuses, subprotocol choice.
#include <criterion/criterion.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ws/handshake.hpp"

using namespace herald::ws;

namespace {

struct KeyCase {
    const char* key;
    bool valid;
};

struct UpgradeCase {
    const char* name;
    UpgradeFields fields;
    HandshakeError want;
    int status;
};

struct ProtocolCase {
    const char* name;
    std::string_view offered;
    std::vector<std::string> server;
    std::optional<std::string> want;
};

} // namespace

Test(ws_handshake, accept_key_rfc_sample) {
    // RFC 6455 §1.3 and §4.2.2 item 5. (The "...zzhZxOo+xOo=" sometimes quoted is a typo: the
    // RFC, MDN and `openssl sha1 | base64` all give "...zzhZRbK+xOo=".)
    cr_assert(accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    // The example exchange on Wikipedia's "WebSocket" page.
    cr_assert(accept_key("x3JJHMbDL1EzLkh9GBhXDw==") == "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
    cr_assert_eq(accept_key("AAAAAAAAAAAAAAAAAAAAAA==").size(), 28u);
}

Test(ws_handshake, client_key_must_decode_to_16_bytes) {
    static const KeyCase cases[] = {
        {"dGhlIHNhbXBsZSBub25jZQ==", true},
        {"AAAAAAAAAAAAAAAAAAAAAA==", true},
        {"+/+/+/+/+/+/+/+/+/+/+w==", true},
        {"", false},
        {"dGhlIHNhbXBsZSBub25jZQ=", false},     // 23 characters
        {"dGhlIHNhbXBsZSBub25jZQ", false},      // unpadded
        {"dGhlIHNhbXBsZSBub25jZQ===", false},   // 25 characters
        {"AAAAAAAAAAAAAAAAAAAAAAA=", false},    // 17 bytes
        {"AAAAAAAAAAAAAAAAAAAA", false},        // 15 bytes
        {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", false},  // 31 bytes
        {"=AAAAAAAAAAAAAAAAAAAAA==", false},    // padding first
        {"AAAAAAAAAAA=AAAAAAAAAA==", false},    // padding inside
        {"dGhlIHNhbXBsZSBub25jZQ*=", false},
        {"dGhlIHNhbXBsZSBub25j ZQ==", false},
        {"dGhlIHNhbXBsZSBub25jZ-==", false},    // base64url is not base64
        {"dGhlIHNhbXBsZSBub25jZ\x80==", false},
    };
    for (const KeyCase& c : cases)
        cr_assert_eq(valid_client_key(c.key), c.valid, "key \"%s\"", c.key);
}

Test(ws_handshake, check_upgrade_table) {
    const std::string_view key = "dGhlIHNhbXBsZSBub25jZQ==";
    auto f = [&](bool get, bool h11, std::string_view up, std::string_view conn,
                 std::string_view ver, std::string_view k) {
        UpgradeFields u;
        u.is_get = get;
        u.http11 = h11;
        u.upgrade = up;
        u.connection = conn;
        u.version = ver;
        u.key = k;
        return u;
    };
    auto repeated = [&](std::size_t versions, std::size_t keys) {
        UpgradeFields u = f(true, true, "websocket", "Upgrade", "13", key);
        u.version_fields = versions;
        u.key_fields = keys;
        return u;
    };
    const UpgradeCase cases[] = {
        {"ok", f(true, true, "websocket", "Upgrade", "13", key), HandshakeError::none, 101},
        {"case_insensitive", f(true, true, "WebSocket", "keep-alive, UPGRADE", "13", key),
         HandshakeError::none, 101},
        {"upgrade_list", f(true, true, "h2c, websocket", "upgrade", "13", key),
         HandshakeError::none, 101},
        {"ows_around_values", f(true, true, " websocket ", "Upgrade", " 13 ", key),
         HandshakeError::none, 101},
        {"post", f(false, true, "websocket", "Upgrade", "13", key),
         HandshakeError::method_not_allowed, 405},
        {"plain_get", f(true, true, "", "", "", ""), HandshakeError::not_upgrade, 426},
        {"no_connection_token", f(true, true, "websocket", "keep-alive", "13", key),
         HandshakeError::not_upgrade, 426},
        {"connection_token_substring", f(true, true, "websocket", "upgrades", "13", key),
         HandshakeError::not_upgrade, 426},
        {"other_upgrade", f(true, true, "h2c", "Upgrade", "13", key), HandshakeError::not_upgrade,
         426},
        {"http10", f(true, false, "websocket", "Upgrade", "13", key),
         HandshakeError::bad_http_version, 400},
        {"version_8", f(true, true, "websocket", "Upgrade", "8", key), HandshakeError::bad_version,
         426},
        {"version_missing", f(true, true, "websocket", "Upgrade", "", key),
         HandshakeError::bad_version, 426},
        {"version_13_list", f(true, true, "websocket", "Upgrade", "13, 8", key),
         HandshakeError::bad_version, 426},
        {"key_missing", f(true, true, "websocket", "Upgrade", "13", ""), HandshakeError::bad_key,
         400},
        {"key_short", f(true, true, "websocket", "Upgrade", "13", "AAAA"), HandshakeError::bad_key,
         400},
        // RFC 6455 §11.3.1, §11.3.5: a second Sec-WebSocket-Key or -Version is a bad request.
        {"key_twice", repeated(1, 2), HandshakeError::repeated_field, 400},
        {"version_twice", repeated(2, 1), HandshakeError::repeated_field, 400},
        {"both_twice", repeated(2, 2), HandshakeError::repeated_field, 400},
    };
    for (const UpgradeCase& c : cases) {
        HandshakeError e = check_upgrade(c.fields);
        cr_assert(e == c.want, "%s: got %d (%s)", c.name, static_cast<int>(e), reason_of(e));
        cr_assert_eq(status_of(e), c.status, "%s", c.name);
    }
}

Test(ws_handshake, select_protocol_takes_first_client_offer_the_server_lists) {
    const ProtocolCase cases[] = {
        {"client_order_wins", "chat, superchat", {"superchat", "chat"}, "chat"},
        {"second_offer", "v1.foo, chat", {"chat"}, "chat"},
        {"joined_fields", "a,b,  c", {"c", "b"}, "b"},
        {"tabs_and_empty_items", "\t,, x ,\t", {"x"}, "x"},
        {"none_matching", "chat", {"superchat"}, std::nullopt},
        {"case_sensitive", "Chat", {"chat"}, std::nullopt},
        {"no_offer", "", {"chat"}, std::nullopt},
        {"server_lists_none", "chat", {}, std::nullopt},
        {"no_prefix_match", "chatty", {"chat"}, std::nullopt},
    };
    for (const ProtocolCase& c : cases) {
        std::optional<std::string> got = select_protocol(c.offered, c.server);
        cr_assert(got == c.want, "%s: got %s", c.name, got ? got->c_str() : "(none)");
    }
}
