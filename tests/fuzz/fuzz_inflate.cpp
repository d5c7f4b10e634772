// libFuzzer target: the DEFLATE decoder (RFC 1951 §3.2, deflate/inflater.hpp) on arbitrary
// bytes. Properties checked on every input:
//  - no crash, no sanitizer report, no read outside the pieces (each an exact heap copy);
//  - the output never passes the limit, and too_large only when the limit was reached;
//  - consumed <= piece size; need_more takes the whole piece; error and too_large are sticky;
//  - feeding whole or in three pieces (fuzzer-chosen cuts) gives the same status and output
//    (up to the point where both stopped: the same prefix);
//  - with a large enough limit, the output of a valid stream is the same whatever the
//    window size as long as no distance passes it.
// Input layout: [limit u16][cut1 u16][cut2 u16][window bits u8] then the DEFLATE bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "deflate/inflater.hpp"
#include "fuzz/fuzz_support.hpp"

namespace {

using herald::deflate::Inflater;
using herald::deflate::InflateResult;
using herald::deflate::InflateStatus;
using herald::fuzz::Piece;
using herald::fuzz::require;

struct Outcome {
    InflateStatus status = InflateStatus::need_more;
    std::size_t consumed = 0;
    std::string out;
};

Outcome run(std::string_view data, std::size_t cut1, std::size_t cut2, std::size_t limit,
            unsigned window_bits) {
    Inflater inf(window_bits);
    Outcome o;
    const std::size_t cuts[] = {cut1, cut2, data.size()};
    std::size_t at = 0;
    for (std::size_t cut : cuts) {
        Piece piece(data.substr(at, cut - at));
        const std::span<const std::uint8_t> in(reinterpret_cast<const std::uint8_t*>(piece.data()),
                                               piece.size());
        const InflateResult r = inf.inflate(in, o.out, limit);
        require(r.consumed <= piece.size(), "consumed within the piece");
        require(o.out.size() <= limit, "output within the limit");
        o.consumed += r.consumed;
        o.status = r.status;
        at = cut;
        if (r.status != InflateStatus::need_more)
            break;
        require(r.consumed == piece.size(), "need_more takes the whole piece");
    }
    if (o.status == InflateStatus::error || o.status == InflateStatus::too_large) {
        std::string more;
        const std::uint8_t zero = 0;
        require(inf.inflate(std::span(&zero, 1), more, limit).status == o.status, "sticky");
    }
    return o;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    herald::fuzz::Input input(data, size);
    const std::size_t limit = input.u16() * std::size_t{4};
    const std::size_t raw1 = input.u16(), raw2 = input.u16();
    const unsigned window_bits = 8 + input.byte() % 8;
    const std::string_view bytes = input.rest();
    const std::size_t cut1 = raw1 % (bytes.size() + 1);
    const std::size_t cut2 = std::max(cut1, raw2 % (bytes.size() + 1));

    const Outcome whole = run(bytes, bytes.size(), bytes.size(), limit, window_bits);
    const Outcome split = run(bytes, cut1, cut2, limit, window_bits);
    require(whole.status == split.status, "whole and split: same status");
    require(whole.out == split.out, "whole and split: same output");
    if (whole.status == InflateStatus::end_of_stream)
        require(whole.consumed == split.consumed, "whole and split: same end");
    if (whole.status == InflateStatus::too_large)
        require(whole.out.size() <= limit, "too_large stays within the limit");

    // A larger window only accepts more: never a different output for what both accept.
    if (window_bits < 15 && whole.status != InflateStatus::error) {
        const Outcome wide = run(bytes, bytes.size(), bytes.size(), limit, 15);
        require(wide.status == whole.status, "wider window: same status");
        require(wide.out == whole.out, "wider window: same output");
    }
    return 0;
}
