// The upgrade's record codec: encode and decode of the versioned, length-prefixed records.
#include "app/handover.hpp"

#include <cassert>
#include <cstring>

namespace herald::app {
namespace {

void put16(std::string& out, std::uint32_t v) {
    out.push_back(static_cast<char>((v >> 8) & 0xff));
    out.push_back(static_cast<char>(v & 0xff));
}

void put32(std::string& out, std::uint32_t v) {
    put16(out, v >> 16);
    put16(out, v & 0xffff);
}

void put64(std::string& out, std::uint64_t v) {
    put32(out, static_cast<std::uint32_t>(v >> 32));
    put32(out, static_cast<std::uint32_t>(v & 0xffffffff));
}

void put_string16(std::string& out, std::string_view s) {
    put16(out, static_cast<std::uint32_t>(s.size()));
    out += s;
}

std::uint32_t get16(std::string_view s, std::size_t at) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(s[at])) << 8 |
           static_cast<unsigned char>(s[at + 1]);
}

std::uint32_t get32(std::string_view s, std::size_t at) {
    return get16(s, at) << 16 | get16(s, at + 2);
}

std::uint64_t get64(std::string_view s, std::size_t at) {
    return std::uint64_t{get32(s, at)} << 32 | get32(s, at + 4);
}

bool carries_name(RecordType t) { return t == RecordType::listener || t == RecordType::pid_file; }

// The first version that has the type: what it is written with, and the oldest it is read in.
std::uint32_t version_of(RecordType t) {
    if (t == RecordType::connection) return 3;
    return t == RecordType::channel || t == RecordType::message ? 2 : 1;
}

// A message body's fixed fields: id, time, the two u16 lengths and the u32 data length.
constexpr std::size_t message_fixed = 8 + 8 + 2 + 2 + 4;

std::size_t body_limit(RecordType t) {
    if (t == RecordType::connection) return max_handover_connection;
    return t == RecordType::message ? max_handover_message : max_handover_body;
}

void put_address(std::string& out, const net::Address& a) {
    const auto n = static_cast<std::size_t>(a.length);
    out.push_back(static_cast<char>(n));
    out.append(reinterpret_cast<const char*>(&a.storage), n);
}

enum ConnFlags : std::uint8_t {
    http10 = 1, keep_alive = 2, may_publish = 4, deflate = 8, has_claims = 16, multiplex = 32
};

void encode_connection(std::string& body, const net::LiveState& c) {
    body.push_back(static_cast<char>(c.kind));
    put_string16(body, c.listen_key);
    put_address(body, c.peer);
    put_address(body, c.socket_peer);
    put32(body, static_cast<std::uint32_t>(c.input.size()));
    body += c.input;
    for (const std::string* s : {&c.host, &c.path, &c.client, &c.remote}) put_string16(body, *s);
    body.push_back(static_cast<char>((c.http10 ? http10 : 0) | (c.keep_alive ? keep_alive : 0) |
                                     (c.may_publish ? may_publish : 0) | (c.deflate ? deflate : 0) |
                                     (c.has_claims ? has_claims : 0) |
                                     (c.multiplex ? multiplex : 0)));
    put_string16(body, c.origin);
    body.push_back(static_cast<char>(c.strategy));
    put_string16(body, c.channels);
    put_string16(body, c.position);
    body.push_back(static_cast<char>(c.format));
    put_string16(body, c.sub);
    put64(body, static_cast<std::uint64_t>(c.expires_at));
    put_string16(body, c.callback);
    body.push_back(static_cast<char>(c.deflate_client_bits));
    body.push_back(static_cast<char>(c.deflate_server_bits));
    put_string16(body, c.claim_channels);
    put_string16(body, c.claim_publish);
}

// Reads the fields of a body in order; any read past the end makes ok() false.
class BodyReader {
public:
    explicit BodyReader(std::string_view b) : b_(b) {}
    std::uint64_t u64() { return take(8) ? get64(b_, at_ - 8) : 0; }
    std::uint32_t u32() { return take(4) ? get32(b_, at_ - 4) : 0; }
    std::string_view str16() {
        const std::size_t n = take(2) ? get16(b_, at_ - 2) : 0;
        return take(n) ? b_.substr(at_ - n, n) : std::string_view();
    }
    std::uint8_t u8() { return take(1) ? static_cast<std::uint8_t>(b_[at_ - 1]) : 0; }
    bool address(net::Address& a) {
        const std::size_t n = u8();
        if (n > sizeof a.storage || !take(n)) return ok_ = false;
        a = net::Address{};
        std::memcpy(&a.storage, b_.data() + at_ - n, n);
        a.length = static_cast<socklen_t>(n);
        return true;
    }
    std::string_view str32() {
        const std::size_t n = take(4) ? get32(b_, at_ - 4) : 0;
        return take(n) ? b_.substr(at_ - n, n) : std::string_view();
    }
    bool done() const noexcept { return ok_ && at_ == b_.size(); }

private:
    bool take(std::size_t n) {
        if (!ok_ || b_.size() - at_ < n) return ok_ = false;
        at_ += n;
        return true;
    }
    std::string_view b_;
    std::size_t at_ = 0;
    bool ok_ = true;
};

// The body of a record whose header was valid: false if its fields do not fill it exactly.
bool decode_connection(std::string_view body, net::LiveState& c) {
    BodyReader r(body);
    const std::uint8_t kind = r.u8();
    if (kind < static_cast<std::uint8_t>(net::LiveState::Kind::idle) ||
        kind > static_cast<std::uint8_t>(net::LiveState::Kind::websocket))
        return false;
    c.kind = static_cast<net::LiveState::Kind>(kind);
    c.listen_key.assign(r.str16());
    if (!r.address(c.peer) || !r.address(c.socket_peer)) return false;
    c.input.assign(r.str32());
    if (c.input.size() > max_handover_input) return false;
    for (std::string* s : {&c.host, &c.path, &c.client, &c.remote}) s->assign(r.str16());
    const std::uint8_t flags = r.u8();
    // Only the flags this version defines: a record must encode back to its own bytes.
    if (flags & ~(http10 | keep_alive | may_publish | deflate | has_claims | multiplex))
        return false;
    c.http10 = flags & http10;
    c.keep_alive = flags & keep_alive;
    c.may_publish = flags & may_publish;
    c.deflate = flags & deflate;
    c.has_claims = flags & has_claims;
    c.multiplex = flags & multiplex;
    c.origin.assign(r.str16());
    c.strategy = r.u8();
    c.channels.assign(r.str16());
    c.position.assign(r.str16());
    c.format = r.u8();
    c.sub.assign(r.str16());
    c.expires_at = static_cast<std::int64_t>(r.u64());
    c.callback.assign(r.str16());
    c.deflate_client_bits = r.u8();
    c.deflate_server_bits = r.u8();
    c.claim_channels.assign(r.str16());
    c.claim_publish.assign(r.str16());
    return r.done() && (!c.deflate || (c.deflate_client_bits >= 8 && c.deflate_client_bits <= 15 &&
                                       c.deflate_server_bits >= 8 && c.deflate_server_bits <= 15));
}

bool decode_body(RecordType type, std::string_view body, Record& out) {
    if (type == RecordType::connection) return decode_connection(body, out.conn);
    if (type == RecordType::channel) {
        BodyReader r(body);
        out.name.assign(r.str16());
        out.epoch = r.u64();
        out.id = r.u64();
        out.value = r.u32();
        return r.done();
    }
    if (type == RecordType::message) {
        BodyReader r(body);
        out.id = r.u64();
        out.time_ms = static_cast<std::int64_t>(r.u64());
        out.content_type.assign(r.str16());
        out.event.assign(r.str16());
        out.data.assign(r.str32());
        return r.done();
    }
    if (!carries_name(type)) {
        if (body.size() != 4) return false;
        out.name.clear();
        out.value = get32(body, 0);
        return true;
    }
    if (body.size() < 4) return false;
    const std::size_t n = get16(body, 0);
    if (body.size() != 2 + n + 2) return false;
    out.name.assign(body.substr(2, n));
    out.value = get16(body, 2 + n);
    return true;
}

} // namespace

bool fits_message_record(std::string_view content_type, std::string_view event,
                         std::size_t data_size) noexcept {
    return content_type.size() <= 0xffff && event.size() <= 0xffff &&
           data_size <= max_handover_message &&
           message_fixed + content_type.size() + event.size() + data_size <= max_handover_message;
}

bool fits_connection_record(const net::LiveState& c) noexcept {
    if (c.input.size() > max_handover_input) return false;
    for (const std::string* s : {&c.listen_key, &c.host, &c.path, &c.client, &c.remote, &c.origin,
                                 &c.channels, &c.position, &c.sub, &c.callback,
                                 &c.claim_channels, &c.claim_publish})
        if (s->size() > 0xffff) return false;
    return true;
}

const char* to_string(RecordError e) noexcept {
    switch (e) {
    case RecordError::none: return "no error";
    case RecordError::version: return "unsupported record version";
    case RecordError::type: return "unknown record type";
    case RecordError::length: return "record too long";
    case RecordError::body: return "malformed record body";
    }
    return "?";
}

std::string encode_record(const Record& r) {
    std::string body;
    if (r.type == RecordType::connection) {
        assert(fits_connection_record(r.conn));
        encode_connection(body, r.conn);
    } else if (r.type == RecordType::channel) {
        assert(r.name.size() + 22 <= max_handover_body);
        put_string16(body, r.name);
        put64(body, r.epoch);
        put64(body, r.id);
        put32(body, r.value);
    } else if (r.type == RecordType::message) {
        assert(fits_message_record(r.content_type, r.event, r.data.size()));
        body.reserve(message_fixed + r.content_type.size() + r.event.size() + r.data.size());
        put64(body, r.id);
        put64(body, static_cast<std::uint64_t>(r.time_ms));
        put_string16(body, r.content_type);
        put_string16(body, r.event);
        put32(body, static_cast<std::uint32_t>(r.data.size()));
        body += r.data;
    } else if (carries_name(r.type)) {
        assert(r.name.size() + 4 <= max_handover_body && r.value <= 0xffff);
        put16(body, static_cast<std::uint32_t>(r.name.size()));
        body += r.name;
        put16(body, r.value);
    } else {
        put32(body, r.value);
    }
    std::string out;
    out.reserve(handover_header_size + body.size());
    put16(out, version_of(r.type));
    put16(out, static_cast<std::uint32_t>(r.type));
    put32(out, static_cast<std::uint32_t>(body.size()));
    return out + body;
}

RecordResult decode_record(std::string_view in, Record& out) {
    // Each header field is checked as soon as its bytes are there, so a stream of another
    // version is refused at its first record without waiting for a body it may never send.
    if (in.size() < 2) return {ParseStatus::need_more, 0, RecordError::none};
    const std::uint32_t version = get16(in, 0);
    if (version == 0 || version > handover_version)
        return {ParseStatus::error, 0, RecordError::version};
    if (in.size() < 4) return {ParseStatus::need_more, 0, RecordError::none};
    const std::uint32_t type = get16(in, 2);
    if (type < static_cast<std::uint32_t>(RecordType::listener) ||
        type > static_cast<std::uint32_t>(RecordType::connection) ||
        version < version_of(static_cast<RecordType>(type)))
        return {ParseStatus::error, 0, RecordError::type};
    if (in.size() < handover_header_size) return {ParseStatus::need_more, 0, RecordError::none};
    const std::size_t length = get32(in, 4);
    if (length > body_limit(static_cast<RecordType>(type)))
        return {ParseStatus::error, 0, RecordError::length};
    if (in.size() < handover_header_size + length)
        return {ParseStatus::need_more, 0, RecordError::none};
    Record r;
    r.type = static_cast<RecordType>(type);
    if (!decode_body(r.type, in.substr(handover_header_size, length), r))
        return {ParseStatus::error, 0, RecordError::body};
    out = std::move(r);
    return {ParseStatus::done, handover_header_size + length, RecordError::none};
}

} // namespace herald::app
