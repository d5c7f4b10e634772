// Redis Cluster hash slots, slot map replies and redirections (redis/cluster.hpp).
#include "redis/cluster.hpp"

#include <algorithm>
#include <array>

#include "core/ascii.hpp"

namespace herald::redis {
namespace {

constexpr std::array<std::uint16_t, 256> make_crc16_table() {
    std::array<std::uint16_t, 256> t{};
    for (unsigned i = 0; i < 256; ++i) {
        auto c = static_cast<std::uint16_t>(i << 8);
        for (int b = 0; b < 8; ++b)
            c = static_cast<std::uint16_t>((c & 0x8000) ? (c << 1) ^ 0x1021 : c << 1);
        t[i] = c;
    }
    return t;
}
constexpr std::array<std::uint16_t, 256> crc16_table = make_crc16_table();

bool parse_port(std::string_view s, std::uint16_t& port) {
    std::uint64_t v = 0;
    if (!ascii::parse_decimal(s, 65535, v) || v == 0)
        return false;
    port = static_cast<std::uint16_t>(v);
    return true;
}

// One [host, port, ...] node entry of CLUSTER SLOTS.
bool parse_node(const RespValue& v, std::string_view reached_host, NodeAddress& out) {
    if (!v.is_aggregate() || v.elements.size() < 2 || !v.elements[0].is_string() ||
        v.elements[1].type != RespType::integer || v.elements[1].integer < 1 ||
        v.elements[1].integer > 65535)
        return false;
    const std::string_view host = v.elements[0].str;
    out.host.assign(host.empty() || host == "?" ? reached_host : host);
    out.port = static_cast<std::uint16_t>(v.elements[1].integer);
    return true;
}

bool parse_slot(const RespValue& v, std::uint16_t& slot) {
    if (v.type != RespType::integer || v.integer < 0 || v.integer >= cluster_slots)
        return false;
    slot = static_cast<std::uint16_t>(v.integer);
    return true;
}

} // namespace

std::uint16_t crc16(std::string_view bytes) noexcept {
    std::uint16_t crc = 0;
    for (char ch : bytes)
        crc = static_cast<std::uint16_t>(
            (crc << 8) ^ crc16_table[((crc >> 8) ^ static_cast<unsigned char>(ch)) & 0xFF]);
    return crc;
}

std::uint16_t key_slot(std::string_view key) noexcept {
    const std::size_t open = key.find('{');
    if (open != std::string_view::npos) {
        const std::size_t close = key.find('}', open + 1);
        if (close != std::string_view::npos && close > open + 1)
            key = key.substr(open + 1, close - open - 1);
    }
    return crc16(key) & (cluster_slots - 1);
}

std::string NodeAddress::text() const {
    const bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

const NodeAddress* SlotMap::owner(std::uint16_t slot) const noexcept {
    auto it = std::upper_bound(ranges.begin(), ranges.end(), slot,
                               [](std::uint16_t s, const SlotRange& r) { return s < r.first; });
    if (it == ranges.begin())
        return nullptr;
    --it;
    return slot <= it->last ? &it->master : nullptr;
}

std::vector<NodeAddress> SlotMap::masters() const {
    std::vector<NodeAddress> out;
    for (const SlotRange& r : ranges)
        if (std::find(out.begin(), out.end(), r.master) == out.end())
            out.push_back(r.master);
    return out;
}

bool parse_cluster_slots(const RespValue& reply, std::string_view reached_host, SlotMap& out) {
    out.ranges.clear();
    if (reply.type != RespType::array && reply.type != RespType::set)
        return false;
    SlotMap map;
    map.ranges.reserve(reply.elements.size());
    for (const RespValue& e : reply.elements) {
        SlotRange r;
        if (!e.is_aggregate() || e.elements.size() < 3 || !parse_slot(e.elements[0], r.first) ||
            !parse_slot(e.elements[1], r.last) || r.first > r.last ||
            !parse_node(e.elements[2], reached_host, r.master))
            return false;
        map.ranges.push_back(std::move(r));
    }
    std::sort(map.ranges.begin(), map.ranges.end(),
              [](const SlotRange& a, const SlotRange& b) { return a.first < b.first; });
    for (std::size_t i = 1; i < map.ranges.size(); ++i)
        if (map.ranges[i].first <= map.ranges[i - 1].last)
            return false;
    if (map.masters().size() > max_cluster_masters)
        return false;
    out = std::move(map);
    return true;
}

bool parse_redirect(std::string_view error, Redirect& out) {
    out = Redirect{};
    RedirectKind kind = RedirectKind::none;
    if (error.substr(0, 6) == "MOVED ") {
        kind = RedirectKind::moved;
        error.remove_prefix(6);
    } else if (error.substr(0, 4) == "ASK ") {
        kind = RedirectKind::ask;
        error.remove_prefix(4);
    } else {
        return false;
    }
    const std::size_t space = error.find(' ');
    const std::size_t colon = error.rfind(':');
    std::uint64_t slot = 0;
    if (space == std::string_view::npos || colon == std::string_view::npos || colon < space ||
        !ascii::parse_decimal(error.substr(0, space), cluster_slots - 1, slot))
        return false;
    Redirect r;
    r.kind = kind;
    r.slot = static_cast<std::uint16_t>(slot);
    const std::string_view host = error.substr(space + 1, colon - space - 1);
    if (host.find(' ') != std::string_view::npos ||
        !parse_port(error.substr(colon + 1), r.node.port))
        return false;
    r.node.host.assign(host);
    out = std::move(r);
    return true;
}

} // namespace herald::redis
