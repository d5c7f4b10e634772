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

std::uint32_t get16(std::string_view s, std::size_t at) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(s[at])) << 8 |
           static_cast<unsigned char>(s[at + 1]);
}

std::uint32_t get32(std::string_view s, std::size_t at) {
    return get16(s, at) << 16 | get16(s, at + 2);
}

bool carries_name(RecordType t) { return t == RecordType::listener || t == RecordType::pid_file; }

// The body of a record whose header was valid: false if its fields do not fill it exactly.
bool decode_body(RecordType type, std::string_view body, Record& out) {
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
    if (carries_name(r.type)) {
        assert(r.name.size() + 4 <= max_handover_body && r.value <= 0xffff);
        put16(body, static_cast<std::uint32_t>(r.name.size()));
        body += r.name;
        put16(body, r.value);
    } else {
        put32(body, r.value);
    }
    std::string out;
    out.reserve(handover_header_size + body.size());
    put16(out, handover_version);
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
        type > static_cast<std::uint32_t>(RecordType::ready))
        return {ParseStatus::error, 0, RecordError::type};
    if (in.size() < handover_header_size) return {ParseStatus::need_more, 0, RecordError::none};
    const std::size_t length = get32(in, 4);
    if (length > max_handover_body) return {ParseStatus::error, 0, RecordError::length};
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
