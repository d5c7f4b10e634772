// The upgrade's record codec: encode and decode of the versioned, length-prefixed records.
#include "app/handover.hpp"

#include <cassert>

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
    return t == RecordType::channel || t == RecordType::message ? 2 : 1;
}

// A message body's fixed fields: id, time, the two u16 lengths and the u32 data length.
constexpr std::size_t message_fixed = 8 + 8 + 2 + 2 + 4;

std::size_t body_limit(RecordType t) {
    return t == RecordType::message ? max_handover_message : max_handover_body;
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
bool decode_body(RecordType type, std::string_view body, Record& out) {
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
    if (r.type == RecordType::channel) {
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
        type > static_cast<std::uint32_t>(RecordType::message) ||
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
