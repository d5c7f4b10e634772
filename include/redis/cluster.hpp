// Redis Cluster, the pure parts: the key -> hash slot function (CRC16/XMODEM modulo 16384 with
// {hash tags}), the slot map from a CLUSTER SLOTS reply, and -MOVED / -ASK redirections.
// Spec: redis.io/docs/reference/cluster-spec ("Keys distribution model", "Redirection and
// resharding"). Pure: no sockets, no logging.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "redis/resp.hpp"

namespace herald::redis {

inline constexpr std::uint16_t cluster_slots = 16384;
// Masters of one slot map herald keeps links to; a bigger map is refused as malformed.
inline constexpr std::size_t max_cluster_masters = 1000;

// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), the checksum Redis Cluster uses.
std::uint16_t crc16(std::string_view bytes) noexcept;

// The key's hash slot: CRC16 of the key, or of the text between the first "{" and the next
// "}" when that text is not empty (a hash tag), modulo 16384.
std::uint16_t key_slot(std::string_view key) noexcept;

// A node as the cluster names it. host may be "" in a redirection or slot map ("the address
// you reached me at", Redis 7 with an unknown endpoint); the caller fills it in.
struct NodeAddress {
    std::string host;
    std::uint16_t port = 0;
    bool operator==(const NodeAddress&) const = default;
    std::string text() const; // "host:port" ("[host]:port" for IPv6)
};

struct SlotRange {
    std::uint16_t first = 0, last = 0; // inclusive
    NodeAddress master;
};

// Which master serves each slot. Slots no range covers have no owner (a cluster being set up
// or down): commands for them wait for the next map.
struct SlotMap {
    std::vector<SlotRange> ranges; // sorted by first, not overlapping
    // The master of slot, or null.
    const NodeAddress* owner(std::uint16_t slot) const noexcept;
    // Each master once, in the order of its first range.
    std::vector<NodeAddress> masters() const;
};

// Reads a CLUSTER SLOTS reply (RESP2 or RESP3): an array of [first, last, [host, port, id,
// ...], replica, ...]. An empty host or "?" is replaced by `reached_host`. False (out left
// empty) if the shape is wrong: slots outside 0..16383, first > last, ranges that overlap, a
// port outside 1..65535, more than max_cluster_masters masters.
[[nodiscard]] bool parse_cluster_slots(const RespValue& reply, std::string_view reached_host,
                                       SlotMap& out);

enum class RedirectKind : std::uint8_t { none, moved, ask };
struct Redirect {
    RedirectKind kind = RedirectKind::none;
    std::uint16_t slot = 0;
    NodeAddress node; // host "" when Redis left it out (":6380"): the node replying
};

// Reads "MOVED <slot> <host>:<port>" or "ASK <slot> <host>:<port>" (an error reply's text;
// IPv6 hosts are written without brackets, so the port follows the last colon). False for
// anything else, including a malformed redirection.
[[nodiscard]] bool parse_redirect(std::string_view error, Redirect& out);

} // namespace herald::redis
