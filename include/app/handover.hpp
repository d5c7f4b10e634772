// The records an upgrading herald and the new process it started exchange over their Unix
// socket: a small, versioned, length-prefixed format, pure (no sockets), so a newer binary can
// read an older one's records and refuse cleanly what it cannot read. File descriptors travel
// beside the records as SCM_RIGHTS (net/socket.hpp: send_with_fds), never inside them.
//
// Wire form (big-endian):  u16 version | u16 type | u32 body_length | body
//   listener (1)  u16 key_length | key | u16 fd_count   the listen key ("127.0.0.1:8080") of
//                 fd_count listening sockets sent with this record; a key may come in several
//                 records (at most max_handover_fds sockets each), to be appended in order
//   pid_file (2)  u16 path_length | path | u16 fd_count  the locked pid file (0 or 1 fd)
//   end (3)       u32 pid                                 the old process has sent everything
//   ready (4)     u32 pid                                 the new process serves (new -> old)
// Version 2 adds the memory broker's channels (written as version 2; the records above stay
// version 1, so an older binary reads them and refuses only what it cannot take):
//   channel (5)   u16 name_length | name | u64 epoch | u64 last_id | u32 count
//                 a channel's life and newest id; `count` message records follow
//   message (6)   u64 id | i64 published_at_ms | u16 type_length | type | u16 event_length |
//                 event | u32 data_length | data       one buffered message, oldest first
// Version 3 adds live connections, sent after the new process's `ready`, each with its socket
// (one fd), then a second `end`:
//   connection (7) u8 kind | str16 listen_key | addr peer | addr socket_peer | str32 input |
//                  str16 host | str16 path | str16 client | str16 remote | u8 flags |
//                  str16 origin | u8 strategy | str16 channels | str16 position | u8 format |
//                  str16 sub | u64 expires_at | str16 callback | u8 client_bits |
//                  u8 server_bits | str16 claim_channels | str16 claim_publish
//                  (net::LiveState; addr = u8 length | sockaddr bytes, flags: 1 http10,
//                  2 keep_alive, 4 may_publish, 8 deflate, 16 has_claims, 32 multiplex)
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/parse_status.hpp"
#include "net/live_state.hpp"

namespace herald::app {

// The newest version this binary writes; it reads every version from 1 to this one.
inline constexpr std::uint16_t handover_version = 3;
inline constexpr std::size_t handover_header_size = 8;
inline constexpr std::size_t max_handover_body = 4096;  // a listen key or a path, with lengths
inline constexpr std::size_t max_handover_fds = 128;    // per record (Linux takes 253 at most)
// A connection record: its unconsumed input (at most max_handover_input) and short fields.
inline constexpr std::size_t max_handover_input = 128 * 1024;
inline constexpr std::size_t max_handover_connection = max_handover_input + 8 * 65536;
// A message record's body: a message of up to 1 GiB with its fields. Larger messages are not
// handed over (the channel then starts its handed buffer after the last of them).
inline constexpr std::size_t max_handover_message = (std::size_t{1} << 30) + 4096;
// The variable that names the new process's end of the socket (as nginx's NGINX variable).
inline constexpr const char* handover_env = "HERALD_UPGRADE_FD";

enum class RecordType : std::uint16_t {
    listener = 1, pid_file = 2, end = 3, ready = 4, channel = 5, message = 6, connection = 7
};

struct Record {
    RecordType type = RecordType::end;
    std::string name;         // listener: listen key; pid_file: path; channel: its name
    std::uint32_t value = 0;  // listener, pid_file: fds sent with it; end, ready: a pid;
                              // channel: the message records that follow
    std::uint64_t epoch = 0;  // channel
    std::uint64_t id = 0;     // channel: last_id; message: its id
    std::int64_t time_ms = 0; // message: published at, ms since 1970
    std::string content_type{}, event{}, data{};  // message
    net::LiveState conn{};    // connection
};

// Whether a connection's state fits a record: its input within max_handover_input, every
// other string within 65535 bytes.
bool fits_connection_record(const net::LiveState& c) noexcept;

enum class RecordError : std::uint8_t { none, version, type, length, body };
const char* to_string(RecordError e) noexcept;

// Whether a message with these fields fits one message record: its body within
// max_handover_message, its type and event each at most 65535 bytes.
bool fits_message_record(std::string_view content_type, std::string_view event,
                         std::size_t data_size) noexcept;

// The record's bytes. name must fit max_handover_body and a message fits_message_record()
// (asserted); value must fit u16 for the records that carry fds.
std::string encode_record(const Record& r);

struct RecordResult {
    ParseStatus status;
    std::size_t consumed;  // done: the record's size; else 0
    RecordError error;
};
// Decodes the record at the start of `in` (the unconsumed bytes from the first byte of the
// record each time): done (out filled), need_more, or error (unknown version or type, a type
// written with a version older than its own, a body longer than max_handover_body
// (max_handover_message for a message), or a body whose fields do not fill it exactly). Never reads
// past `in`; `out` is written only when done.
RecordResult decode_record(std::string_view in, Record& out);

} // namespace herald::app
