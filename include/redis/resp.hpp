// RESP (REdis Serialization Protocol) replies, RESP2 and RESP3, and the command encoder.
// Spec: redis.io/docs/reference/protocol-spec (RESP2) and github.com/redis/redis-specifications
// protocol/RESP3.md. Pure: no sockets, no logging; depends on core only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>
#include <vector>

#include "core/buffer.hpp"
#include "core/parse_status.hpp"

namespace herald::redis {

// What made a reply malformed (or too big). Reported, never thrown.
enum class RespError : std::uint8_t {
    none,
    bad_type,        // first byte is not a known type marker (or a RESP3 streamed form)
    bad_line,        // CR not followed by LF, or a bare LF, inside a line
    bad_integer,     // not [-]digits, or out of the 64-bit range
    bad_length,      // length / count below -1, or -1 where null is not allowed
    bad_terminator,  // a bulk payload not followed by CRLF
    bad_double,      // not a RESP3 double
    bad_boolean,     // not "t" or "f"
    bad_null,        // "_" followed by anything before CRLF
    bad_verbatim,    // verbatim string shorter than "xxx:" or without the colon
    line_too_long,   // past max_line_length
    too_big,         // bulk past max_bulk_length, or the reply past max_reply_bytes
    too_many_values, // the reply holds more than max_reply_values values
    too_deep,        // aggregates nested deeper than max_nesting_depth
};

const char* to_string(RespError e) noexcept;

// Limits. Redis itself caps a bulk string at 512 MiB (proto-max-bulk-len); herald's messages
// are far smaller, so the parser refuses anything that would make a worker hold more.
inline constexpr std::size_t max_line_length = 64 * 1024;         // simple string, error, numbers
inline constexpr std::size_t max_bulk_length = 64 * 1024 * 1024;  // one bulk string
inline constexpr std::size_t max_reply_bytes = 256 * 1024 * 1024; // one whole reply
inline constexpr std::size_t max_reply_values = 1024 * 1024;      // values in one reply
inline constexpr std::size_t max_nesting_depth = 32;              // aggregates inside aggregates

enum class RespType : std::uint8_t {
    simple_string, // +
    error,         // -
    integer,       // :
    bulk_string,   // $
    array,         // *
    null,          // _ (RESP3), and RESP2's $-1 and *-1
    boolean,       // #
    double_number, // ,
    big_number,    // ( (text kept, digits only with an optional sign)
    bulk_error,    // !
    verbatim,      // = (format in `format`, text in `str`)
    map,           // % (elements: key, value, key, value, ...)
    set,           // ~
    push,          // >
};

// One parsed value. Views (str, format) point into the bytes passed to RespParser::feed()
// and are valid until those bytes are consumed or moved. Attributes (RESP3 `|`) are parsed
// and attached to the value they precede, as key, value, key, value, ...
struct RespValue {
    RespType type = RespType::null;
    std::string_view str;              // strings, errors, big numbers, the double's text
    std::string_view format;           // verbatim only: "txt", "mkd"
    std::int64_t integer = 0;          // integer
    double number = 0;                 // double_number
    bool boolean = false;              // boolean
    std::vector<RespValue> elements;   // array, map, set, push
    std::vector<RespValue> attributes; // from a preceding `|` attribute

    bool is_error() const noexcept {
        return type == RespType::error || type == RespType::bulk_error;
    }
    bool is_string() const noexcept { // simple, bulk or verbatim
        return type == RespType::simple_string || type == RespType::bulk_string ||
               type == RespType::verbatim;
    }
    bool is_aggregate() const noexcept {
        return type == RespType::array || type == RespType::map || type == RespType::set ||
               type == RespType::push;
    }
};

struct ParseResult {
    ParseStatus status = ParseStatus::need_more;
    std::size_t consumed = 0; // bytes of the reply, from the first byte (when done)
    RespError error = RespError::none;
};

// Incremental parser of one reply at a time. The caller passes the unconsumed bytes from the
// first byte of the reply each time (more of them each call); the parser resumes at the offset
// it stopped at, keeping offsets, not views, until the reply is complete. Work is per line and
// per value, never per payload byte. After done, value() holds the reply (views into the bytes
// of that last feed() call); the next feed() starts a new reply. After error, feed() keeps
// returning the same error (the stream cannot be resynchronised; drop the connection).
// Owns its offset stack; not thread-safe.
class RespParser {
public:
    ParseResult feed(std::string_view in);
    // The reply of the last feed() that returned done. Valid until the next feed() or
    // reset(), and while the bytes passed to that feed() stay where they are.
    const RespValue& value() const noexcept { return value_; }
    void reset() noexcept;

private:
    // A value being read, by offsets. For aggregates `count` is the number of child values
    // still to read (a map's pairs count twice); an attribute is followed by one more value.
    struct Node {
        RespType type;
        bool attribute;
        std::uint32_t offset, length; // text; verbatim: after "xxx:"
        std::int64_t integer;         // integer value, or the element count of an aggregate
        double number;
        bool boolean;
    };
    struct Open {
        std::uint32_t node;     // index in nodes_
        std::int64_t remaining; // children still to read
    };
    enum class State : std::uint8_t { type, line, bulk };

    ParseResult fail(RespError e) noexcept;
    RespError on_line(std::string_view in, std::size_t line_end);
    RespError add_value(const Node& n);
    RespError open_aggregate(RespType type, bool attribute, std::int64_t count);
    void close_finished() noexcept;
    std::size_t build(std::string_view in, std::size_t at, RespValue& out) const;

    State state_ = State::type;
    char marker_ = 0;       // type byte of the value being read
    std::size_t start_ = 0; // offset of the value being read (its type byte)
    std::size_t pos_ = 0;   // next byte to look at
    std::int64_t bulk_length_ = 0;
    bool complete_ = false; // the whole reply has been read
    bool done_ = false;     // value_ holds it; next feed() starts over
    RespError error_ = RespError::none;
    std::vector<Node> nodes_; // pre-order
    std::vector<Open> open_;  // aggregates still being filled, innermost last
    RespValue value_;
};

// Appends a command as RESP clients send it: an array of bulk strings.
void encode_command(std::span<const std::string_view> args, Buffer& out);
inline void encode_command(std::initializer_list<std::string_view> args, Buffer& out) {
    encode_command(std::span<const std::string_view>(args.begin(), args.size()), out);
}

} // namespace herald::redis
