// libFuzzer target: the WebSocket receive path (RFC 6455 §5.2-§5.6, §7.4, §8.1): Protocol
// (frame parser, unmasking, fragmentation, control frames, close handling) fed the input as
// client bytes, the incremental UTF-8 validator against a reference decoder, and close frames.
// Properties checked on every input:
//  - no crash, no sanitizer report; consumed <= input; errors are 1002, 1007 or 1009 and
//    sticky; after a close, everything is done; pending_frame_size is beyond the buffered
//    bytes and within the message limit; text messages and close reasons are valid UTF-8,
//    messages stay within max_message_size, control payloads within 125 bytes; no reassembly
//    memory is held between messages;
//  - feeding whole or in three pieces (fuzzer-chosen cuts, a fresh copy at a new address each
//    call, with the bytes the Protocol unmasked in place kept, as a connection does) gives the
//    same events, status, close code and consumed total, and so does each of them with
//    deliver_masked on (whole single-frame messages unmasked by the handler into a copy, as
//    the echo does into its reply);
//  - Utf8Validator (fed in the same three pieces), ws::valid_utf8 and the reference decoder
//    agree on every prefix: still possible, complete, or failed;
//  - close_payload()/encode_close(): the code is big-endian, the reason a prefix cut at a
//    character boundary within 123 bytes, and the frame read back by Protocol gives them again.
// Input layout: [max_message u8][cut1 u16][cut2 u16][close code u16] then the client bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "fuzz/fuzz_support.hpp"
#include "ws/close.hpp"
#include "ws/frame.hpp"
#include "ws/protocol.hpp"
#include "ws/utf8.hpp"

namespace {

using namespace herald::ws;
using herald::fuzz::Piece;
using herald::fuzz::require;
namespace ref = herald::fuzz::ref;

// Records every event as text, and checks each one's own contract.
class Recorder final : public ProtocolHandler {
public:
    explicit Recorder(std::size_t max_message) : max_message_(max_message) {}

    void on_message(Opcode op, std::string_view payload) override {
        require(op == Opcode::text || op == Opcode::binary, "message opcode is text or binary");
        require(payload.size() <= max_message_, "message within max_message_size");
        if (op == Opcode::text)
            require(ref::valid(payload), "text message is valid UTF-8");
        record(op == Opcode::text ? 'T' : 'B', payload);
    }
    CloseCode on_masked_message(Opcode op, MaskedPayload& payload) override {
        std::string copy(payload.size(), '\0');
        if (CloseCode c = payload.unmask_to(copy.data()); c != CloseCode::none) return c;
        on_message(op, copy);
        return CloseCode::none;
    }
    void on_ping(std::string_view payload) override {
        require(payload.size() <= max_control_payload, "ping payload <= 125");
        record('I', payload);
    }
    void on_pong(std::string_view payload) override {
        require(payload.size() <= max_control_payload, "pong payload <= 125");
        record('O', payload);
    }
    void on_close(std::uint16_t code, std::string_view reason) override {
        require(!closed, "on_close at most once");
        require(code == 0 ? reason.empty() : valid_close_code(code), "close code is valid");
        require(reason.size() <= max_close_reason && ref::valid(reason),
                "close reason is short valid UTF-8");
        closed = true;
        close_code = code;
        close_reason = reason;
        record('C', std::to_string(code) + ":" + std::string(reason));
    }

    std::string log;
    bool closed = false;
    std::uint16_t close_code = 0;
    std::string close_reason;

private:
    void record(char kind, std::string_view payload) {
        log.push_back(kind);
        log.append(std::to_string(payload.size())).append(":").append(payload);
    }
    std::size_t max_message_;
};

struct Outcome {
    ParseStatus status = ParseStatus::need_more;
    CloseCode code = CloseCode::none;
    std::size_t consumed = 0; // total over all calls
    std::string log;
};

void check_result(const FeedResult& r, const Protocol& p, std::size_t buffered,
                  std::size_t max_message) {
    require(r.consumed <= buffered, "consumed <= input");
    switch (r.status) {
    case ParseStatus::error:
        require(r.close_code == CloseCode::protocol_error ||
                    r.close_code == CloseCode::invalid_payload ||
                    r.close_code == CloseCode::message_too_big,
                "error code is 1002, 1007 or 1009");
        break;
    case ParseStatus::need_more:
        require(r.close_code == CloseCode::none, "need_more has no close code");
        require(r.pending_frame_size == 0 ||
                    (r.pending_frame_size > buffered - r.consumed &&
                     r.pending_frame_size <=
                         std::max(max_message, max_control_payload) + max_client_frame_header),
                "pending_frame_size is beyond the buffered bytes and within the limits");
        break;
    case ParseStatus::done:
        require(r.close_code == CloseCode::none, "done has no close code");
        break;
    }
    require(p.message_open() || p.reassembly_bytes() == 0, "no reassembly memory between messages");
}

// Feeds the input arriving in pieces ending at the cuts; like a connection, keeps the
// unconsumed bytes (as unmasked in place by the Protocol) and passes them at a new address.
Outcome feed(std::string_view in, std::size_t max_message, std::size_t cut1, std::size_t cut2,
             bool masked) {
    Protocol proto(max_message);
    proto.deliver_masked(masked);
    Recorder rec(max_message);
    Outcome o;
    std::string buffer;
    std::size_t fed = 0;
    for (std::size_t end : {cut1, cut2, in.size()}) {
        buffer.append(in.substr(fed, end - fed));
        fed = end;
        Piece bytes(buffer);
        FeedResult r = proto.feed(std::span<char>(bytes.data(), bytes.size()), rec);
        check_result(r, proto, bytes.size(), max_message);
        o.consumed += r.consumed;
        o.status = r.status;
        o.code = r.close_code;
        if (r.status == ParseStatus::done) {
            require(rec.closed, "done only after on_close");
            Piece more(in.substr(fed));
            FeedResult again = proto.feed(std::span<char>(more.data(), more.size()), rec);
            require(again.status == ParseStatus::done && again.consumed == more.size(),
                    "after a close, feed() is done and swallows the rest");
            break;
        }
        if (r.status == ParseStatus::error) {
            FeedResult again = proto.feed(std::span<char>(bytes.data(), bytes.size()), rec);
            require(again.status == ParseStatus::error && again.close_code == r.close_code,
                    "errors are sticky");
            break;
        }
        buffer.assign(bytes.view().substr(r.consumed));
    }
    o.log = std::move(rec.log);
    return o;
}

void check_protocol(std::string_view in, std::size_t max_message, std::size_t cut1,
                    std::size_t cut2) {
    Outcome whole = feed(in, max_message, in.size(), in.size(), false);
    for (bool masked : {false, true}) {
        for (bool cut : {false, true}) {
            if (!masked && !cut) continue;
            Outcome o = cut ? feed(in, max_message, cut1, cut2, masked)
                            : feed(in, max_message, in.size(), in.size(), masked);
            require(whole.status == o.status && whole.code == o.code &&
                        whole.consumed == o.consumed && whole.log == o.log,
                    "protocol: whole, split and masked-delivery feeding agree");
        }
    }
}

void check_utf8(std::string_view s, std::size_t cut1, std::size_t cut2) {
    const bool valid = ref::valid(s);
    require(valid_utf8(s) == valid, "valid_utf8 agrees with the reference");
    Utf8Validator v;
    std::size_t fed = 0;
    for (std::size_t end : {cut1, cut2, s.size()}) {
        const bool ok = v.feed(s.substr(fed, end - fed));
        fed = end;
        const bool possible = ref::valid_prefix(s.substr(0, end));
        require(ok == possible, "Utf8Validator::feed agrees with the reference on the prefix");
        require(v.failed() == !possible, "Utf8Validator::failed agrees with the reference");
        require(v.complete() == ref::valid(s.substr(0, end)),
                "Utf8Validator::complete agrees with the reference");
    }
    require(v.complete() == valid, "Utf8Validator on the whole input agrees with the reference");
}

// close_payload()/encode_close() and their reading by Protocol.
void check_close(std::uint16_t code, std::string_view reason) {
    char payload[125];
    const std::size_t n = close_payload(code, reason, payload);
    if (code == 0) {
        require(n == 0, "close_payload(0) is empty");
    } else {
        require(n >= 2 && n <= 2 + max_close_reason, "close payload fits a control frame");
        require((static_cast<unsigned char>(payload[0]) << 8 |
                 static_cast<unsigned char>(payload[1])) == code,
                "close code is big-endian");
        std::string_view cut(payload + 2, n - 2);
        require(reason.substr(0, cut.size()) == cut, "close reason is a prefix of the reason");
        if (ref::valid(reason))
            require(ref::valid(cut) && (cut.size() == reason.size() || cut.size() + 3 >= 123),
                    "a valid reason is cut at a character boundary near 123 bytes");
    }
    const std::string frame = encode_close(code, reason);
    HeaderResult h = parse_frame_header(frame, false);
    require(h.status == ParseStatus::done && h.header.opcode == Opcode::close && h.header.fin &&
                h.header.frame_size() == frame.size() &&
                std::string_view(frame).substr(h.header.header_length) ==
                    std::string_view(payload, n),
            "encode_close frames close_payload");
    // The same frame as a client would send it (mask bit, all-zero key) reads back.
    std::string masked = frame.substr(0, 2);
    masked[1] = static_cast<char>(masked[1] | 0x80);
    masked.append(4, '\0').append(frame.substr(2));
    Protocol proto;
    Recorder rec(proto.max_message_size());
    FeedResult r = proto.feed(std::span<char>(masked.data(), masked.size()), rec);
    std::string_view cut(payload + (n >= 2 ? 2 : n), n >= 2 ? n - 2 : 0);
    if (code == 0 || (valid_close_code(code) && ref::valid(cut)))
        require(r.status == ParseStatus::done && rec.close_code == code && rec.close_reason == cut,
                "a valid close frame reads back");
    else
        require(r.status == ParseStatus::error, "an invalid close frame is an error");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    herald::fuzz::Input input(data, size);
    const std::uint8_t limit = input.byte();
    const std::uint16_t c1 = input.u16(), c2 = input.u16();
    const std::uint16_t code = input.u16();
    const std::string_view in = input.rest();
    std::size_t cut1 = c1 % (in.size() + 1), cut2 = c2 % (in.size() + 1);
    if (cut1 > cut2)
        std::swap(cut1, cut2);
    // Small limits reach the 1009 paths with small inputs; 0 is the default (1 MiB).
    const std::size_t max_message = limit == 0 ? default_max_message_size : limit;

    check_protocol(in, max_message, cut1, cut2);
    check_utf8(in, cut1, cut2);
    check_close(code, in.substr(0, 200));
    return 0;
}
