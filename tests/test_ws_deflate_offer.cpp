// Unit tests for permessage-deflate negotiation (ws/deflate_offer.hpp, RFC 7692 §7.1): every
// parameter accepted and declined, repeated and unknown parameters, bad values, several offers
// (the first acceptable wins), syntax errors, and every prefix of each case read from the end
// of a guarded page.
#include <criterion/criterion.h>

#include <string>
#include <string_view>

#include "support/feed.hpp"
#include "ws/deflate_offer.hpp"

using herald::ws::deflate_response;
using herald::ws::DeflateParams;
using herald::ws::negotiate_deflate;

namespace {

struct Case {
    const char* name;
    std::string_view offers;
    bool accepted;
    int server_bits; // 0: not echoed
    int client_bits; // 0: not echoed
};

const Case cases[] = {
    {"plain", "permessage-deflate", true, 0, 0},
    {"chromium", "permessage-deflate; client_max_window_bits", true, 0, 0},
    {"websockets 10", "permessage-deflate; client_max_window_bits", true, 0, 0},
    {"both no_context_takeover",
     "permessage-deflate; server_no_context_takeover; client_no_context_takeover", true, 0, 0},
    {"server bits", "permessage-deflate; server_max_window_bits=10", true, 10, 0},
    {"client bits", "permessage-deflate; client_max_window_bits=9", true, 0, 9},
    {"quoted bits", "permessage-deflate; client_max_window_bits=\"12\"", true, 0, 12},
    {"all four",
     "permessage-deflate;server_no_context_takeover;client_no_context_takeover;"
     "server_max_window_bits=15;client_max_window_bits=8",
     true, 15, 8},
    {"other extension first", "x-webkit-deflate-frame, permessage-deflate", true, 0, 0},
    {"empty list elements", " , permessage-deflate ,", true, 0, 0},
    {"tabs and spaces", "permessage-deflate\t;\tserver_max_window_bits = 11", true, 11, 0},
    {"first offer declined, second taken",
     "permessage-deflate; server_max_window_bits=7, permessage-deflate; client_max_window_bits=10",
     true, 0, 10},
    {"absent", "", false, 0, 0},
    {"other extension only", "x-webkit-deflate-frame", false, 0, 0},
    {"unknown parameter", "permessage-deflate; foo", false, 0, 0},
    {"repeated parameter",
     "permessage-deflate; server_no_context_takeover; server_no_context_takeover", false, 0, 0},
    {"repeated bits", "permessage-deflate; client_max_window_bits; client_max_window_bits=9", false,
     0, 0},
    {"value on no_context_takeover", "permessage-deflate; client_no_context_takeover=1", false, 0,
     0},
    {"server bits without value", "permessage-deflate; server_max_window_bits", false, 0, 0},
    {"server bits 7", "permessage-deflate; server_max_window_bits=7", false, 0, 0},
    {"server bits 16", "permessage-deflate; server_max_window_bits=16", false, 0, 0},
    {"client bits 0", "permessage-deflate; client_max_window_bits=0", false, 0, 0},
    {"leading zero", "permessage-deflate; client_max_window_bits=09", false, 0, 0},
    {"not a number", "permessage-deflate; client_max_window_bits=ten", false, 0, 0},
    {"quoted not a number", "permessage-deflate; client_max_window_bits=\"1 2\"", false, 0, 0},
    {"case matters", "Permessage-Deflate", false, 0, 0},
    {"syntax: unterminated quote", "permessage-deflate; client_max_window_bits=\"12", false, 0, 0},
    {"syntax: empty parameter", "permessage-deflate;; server_no_context_takeover", false, 0, 0},
    {"syntax: bad character", "permessage-deflate@", false, 0, 0},
    {"syntax error later in the field", "permessage-deflate, @", false, 0, 0},
    {"syntax: missing value", "permessage-deflate; client_max_window_bits=", false, 0, 0},
};

} // namespace

Test(ws_deflate_offer, cases) {
    herald::test::GuardedBuffer g;
    for (const Case& c : cases) {
        const auto p = negotiate_deflate(g.place(c.offers));
        cr_assert(p.has_value() == c.accepted, "%s", c.name);
        if (!p)
            continue;
        cr_assert_eq(p->server_window_bits_sent, c.server_bits != 0, "%s", c.name);
        cr_assert_eq(p->client_window_bits_sent, c.client_bits != 0, "%s", c.name);
        cr_assert_eq(p->server_max_window_bits, c.server_bits != 0 ? c.server_bits : 15, "%s",
                     c.name);
        cr_assert_eq(p->client_max_window_bits, c.client_bits != 0 ? c.client_bits : 15, "%s",
                     c.name);
    }
}

Test(ws_deflate_offer, every_prefix_is_read_within_its_bytes) {
    // A cut offer is a different offer: it must be judged without reading past its end.
    herald::test::GuardedBuffer g;
    for (const Case& c : cases)
        for (std::size_t cut = 0; cut <= c.offers.size(); ++cut)
            (void)negotiate_deflate(g.place(c.offers.substr(0, cut)));
    cr_assert(!negotiate_deflate(g.place("permessage-deflate; server_max_window_bits=1")));
    cr_assert(negotiate_deflate(g.place("permessage-deflate; server_max_window_bits=12")));
}

Test(ws_deflate_offer, response_always_refuses_context_takeover) {
    DeflateParams p;
    const std::string plain = deflate_response(p);
    cr_assert_str_eq(plain.c_str(),
                     "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    p = *negotiate_deflate("permessage-deflate; server_max_window_bits=10; "
                           "client_max_window_bits=12");
    const std::string bits = deflate_response(p);
    cr_assert_str_eq(bits.c_str(),
                     "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                     "server_max_window_bits=10; client_max_window_bits=12");
    // The response is itself an acceptable offer (the grammar is the same).
    cr_assert(negotiate_deflate(deflate_response(p)).has_value());
}
