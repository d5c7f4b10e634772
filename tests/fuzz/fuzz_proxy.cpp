// libFuzzer target: the PROXY protocol v1/v2 parser (include/net/proxy_protocol.hpp).
// Properties, for any bytes:
//  - whole = fed in three pieces (status, consumed, version, has_address, source address);
//  - done consumes at most the input, at most 107 bytes for v1 and proxy_v2_max_bytes for
//    v2; an error has a reason; feeding again after done or error gives the same result.
// Input layout: [cut1 u16][cut2 u16][header bytes].
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "fuzz/fuzz_support.hpp"
#include "net/proxy_protocol.hpp"

namespace {

using namespace herald::net;
using herald::fuzz::require;

ProxyResult feed_in_pieces(ProxyParser& p, std::string_view in, std::size_t cut1,
                           std::size_t cut2) {
    ProxyResult r;
    for (std::size_t cut : {cut1, cut2, in.size()}) {
        herald::fuzz::Piece piece(in.substr(0, cut));
        r = p.feed(piece.view());
        if (r.status != ProxyStatus::need_more)
            return r;
    }
    return r;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    herald::fuzz::Input input(data, size);
    const std::size_t a = input.u16(), b = input.u16();
    const std::string_view in = input.rest();
    const std::size_t cut1 = in.empty() ? 0 : a % (in.size() + 1);
    const std::size_t cut2 = in.empty() ? 0 : cut1 + b % (in.size() - cut1 + 1);

    ProxyParser whole;
    herald::fuzz::Piece piece(in);
    const ProxyResult w = whole.feed(piece.view());
    ProxyParser split;
    const ProxyResult s = feed_in_pieces(split, in, cut1, cut2);
    require(w.status == s.status, "whole and split agree on the status");
    if (w.status == ProxyStatus::error)
        require(w.error[0] != '\0', "an error has a reason");
    if (w.status != ProxyStatus::done)
        return 0;
    require(w.consumed == s.consumed && w.consumed <= in.size(), "consumed agrees, in range");
    const ProxyHeader& hw = whole.header();
    const ProxyHeader& hs = split.header();
    require(hw.version == hs.version && hw.has_address == hs.has_address, "same header");
    require(hw.version == 1 ? w.consumed <= proxy_v1_max_bytes : w.consumed <= proxy_v2_max_bytes,
            "header within its limit");
    if (hw.has_address)
        require(hw.source.length == hs.source.length &&
                    std::memcmp(&hw.source.storage, &hs.source.storage, hw.source.length) == 0,
                "same source address");
    const ProxyResult again = whole.feed(piece.view());
    require(again.status == w.status && again.consumed == w.consumed, "result is sticky");
    return 0;
}
