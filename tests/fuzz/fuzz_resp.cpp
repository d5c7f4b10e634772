// libFuzzer target: the RESP2/RESP3 reply parser (redis/resp.hpp) fed a stream of replies.
// Properties checked on every input:
//  - no crash, no sanitizer report; consumed <= input; done consumes at least 3 bytes;
//  - every view of a parsed value lies inside the bytes of the call that completed it;
//  - aggregates hold as many elements as they announced (maps an even number), nesting stays
//    within max_nesting_depth;
//  - feeding whole or in three pieces (fuzzer-chosen cuts, each piece a fresh copy at a new
//    address) gives the same replies, status and error; errors are sticky;
//  - the command encoder's output for the first reply's strings reads back as an array of the
//    same bulk strings;
//  - every reply read as a CLUSTER SLOTS answer (redis/cluster.hpp) gives a map whose ranges
//    are sorted, disjoint, within 0..16383 and owned by a master with a port, or nothing; an
//    error reply read as a redirection gives a slot within 0..16383 and a port.
// Input layout: [cut1 u16][cut2 u16] then the reply bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_support.hpp"
#include "redis/cluster.hpp"
#include "redis/resp.hpp"

namespace {

using namespace herald::redis;
using herald::ParseStatus;
using herald::fuzz::Piece;
using herald::fuzz::require;

void describe(const RespValue& v, const Piece& piece, std::size_t depth, std::string& out) {
    require(depth <= max_nesting_depth + 1, "nesting within max_nesting_depth");
    require(piece.holds(v.str) && piece.holds(v.format), "views inside the input");
    out.push_back(static_cast<char>('A' + static_cast<int>(v.type)));
    out.append(std::to_string(v.str.size())).push_back(':');
    out.append(v.str);
    if (v.type == RespType::integer)
        out.append(std::to_string(v.integer));
    if (v.type == RespType::boolean)
        out.push_back(v.boolean ? 't' : 'f');
    if (v.type == RespType::map)
        require(v.elements.size() % 2 == 0, "map has pairs");
    require(v.attributes.size() % 2 == 0, "attributes are pairs");
    if (!v.is_aggregate())
        require(v.elements.empty(), "only aggregates have elements");
    out.push_back('[');
    for (const RespValue& a : v.attributes)
        describe(a, piece, depth + 1, out);
    out.push_back('|');
    for (const RespValue& e : v.elements)
        describe(e, piece, depth + 1, out);
    out.push_back(']');
}

void check_cluster(const RespValue& v) {
    SlotMap map;
    if (parse_cluster_slots(v, "10.0.0.1", map)) {
        for (std::size_t i = 0; i < map.ranges.size(); ++i) {
            const SlotRange& r = map.ranges[i];
            require(r.first <= r.last && r.last < cluster_slots, "ranges within the slots");
            require(i == 0 || map.ranges[i - 1].last < r.first, "ranges sorted and disjoint");
            require(r.master.port != 0 && !r.master.host.empty(), "a master has an address");
            require(map.owner(r.first) != nullptr && *map.owner(r.last) == r.master,
                    "owner() finds the range's master");
        }
        require(map.masters().size() <= max_cluster_masters, "masters bounded");
    } else {
        require(map.ranges.empty(), "a refused map is empty");
    }
    Redirect r;
    if (parse_redirect(v.str, r))
        require(r.kind != RedirectKind::none && r.slot < cluster_slots && r.node.port != 0,
                "a redirection names a slot and a port");
    else
        require(r.kind == RedirectKind::none, "no redirection when refused");
}

struct Outcome {
    ParseStatus status = ParseStatus::need_more;
    RespError error = RespError::none;
    std::size_t consumed = 0;
    std::string log;
};

// Feeds the stream arriving in pieces ending at the cuts, parsing every complete reply.
Outcome feed(std::string_view in, std::size_t cut1, std::size_t cut2) {
    RespParser p;
    Outcome o;
    std::string buffer;
    std::size_t fed = 0;
    for (std::size_t end : {cut1, cut2, in.size()}) {
        buffer.append(in.substr(fed, end - fed));
        fed = end;
        for (;;) {
            Piece bytes(buffer);
            ParseResult r = p.feed(bytes.view());
            require(r.consumed <= bytes.size(), "consumed <= input");
            o.status = r.status;
            o.error = r.error;
            if (r.status == ParseStatus::error) {
                require(r.error != RespError::none, "an error names its reason");
                ParseResult again = p.feed(bytes.view());
                require(again.status == ParseStatus::error && again.error == r.error,
                        "errors are sticky");
                return o;
            }
            if (r.status == ParseStatus::need_more)
                break;
            require(r.consumed >= 3, "a reply is at least 3 bytes");
            describe(p.value(), bytes, 0, o.log);
            check_cluster(p.value());
            o.consumed += r.consumed;
            buffer.erase(0, r.consumed);
        }
    }
    return o;
}

void check_encoder(std::string_view in) {
    std::vector<std::string_view> args;
    for (std::size_t i = 0; i < in.size() && args.size() < 8; i += 7)
        args.push_back(in.substr(i, 7));
    herald::Buffer out;
    encode_command(args, out);
    RespParser p;
    ParseResult r = p.feed(out.view());
    require(r.status == ParseStatus::done && r.consumed == out.size(), "a command parses whole");
    require(p.value().type == RespType::array && p.value().elements.size() == args.size(),
            "a command is an array of its arguments");
    for (std::size_t i = 0; i < args.size(); ++i)
        require(p.value().elements[i].type == RespType::bulk_string &&
                    p.value().elements[i].str == args[i],
                "each argument reads back as a bulk string");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    herald::fuzz::Input input(data, size);
    const std::uint16_t c1 = input.u16(), c2 = input.u16();
    const std::string_view in = input.rest();
    std::size_t cut1 = c1 % (in.size() + 1), cut2 = c2 % (in.size() + 1);
    if (cut1 > cut2)
        std::swap(cut1, cut2);
    const Outcome whole = feed(in, in.size(), in.size());
    const Outcome split = feed(in, cut1, cut2);
    require(whole.status == split.status && whole.error == split.error &&
                whole.consumed == split.consumed && whole.log == split.log,
            "whole and split feeding agree");
    check_encoder(in);
    return 0;
}
