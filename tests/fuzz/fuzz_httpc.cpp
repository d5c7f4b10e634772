// libFuzzer target: the HTTP client's response parser (httpc/response_parser.hpp) fed a stream
// of responses on one keep-alive connection. Properties checked on every input:
//  - no crash, no sanitizer report; consumed <= input; need_more consumes all of its input;
//  - a parsed response has a status 200..999, a body within max_body_bytes and, for HEAD, 204
//    and 304, an empty body;
//  - feeding whole or in three pieces (fuzzer-chosen cuts, each piece a fresh copy at a new
//    address) gives the same responses, status and error; done and errors are sticky;
//  - finish() after need_more completes the response or reports an error, never need_more.
// Input layout: [flags u8: bit 0 = HEAD][cut1 u16][cut2 u16][body limit u8] then the bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_support.hpp"
#include "httpc/response_parser.hpp"

namespace {

using herald::ParseStatus;
using herald::fuzz::Piece;
using herald::fuzz::require;
using namespace herald::httpc;

struct Outcome {
    ParseStatus status = ParseStatus::need_more;
    ResponseError error = ResponseError::none;
    std::string log;
};

void describe(const ResponseParser& p, bool head, const ResponseLimits& l, std::string& out) {
    require(p.status() >= 200 && p.status() <= 999, "a final status");
    require(p.body().size() <= l.max_body_bytes, "body within its limit");
    if (head || p.status() == 204 || p.status() == 304) require(p.body().empty(), "no body");
    out += std::to_string(p.status()) + (p.keep_alive() ? "k" : "c");
    out += p.header("Content-Type");
    out += ':' + std::to_string(p.body().size()) + ':' + std::string(p.body()) + '|';
}

Outcome feed(std::string_view in, std::size_t cut1, std::size_t cut2, bool head,
             const ResponseLimits& limits) {
    ResponseParser p(limits);
    p.start(head);
    Outcome o;
    std::string buffer;
    std::size_t fed = 0;
    for (std::size_t end : {cut1, cut2, in.size()}) {
        buffer.append(in.substr(fed, end - fed));
        fed = end;
        while (!buffer.empty()) {
            Piece bytes(buffer);
            ResponseResult r = p.feed(bytes.view());
            require(r.consumed <= bytes.size(), "consumed <= input");
            o.status = r.status;
            o.error = r.error;
            if (r.status == ParseStatus::error) {
                require(r.error != ResponseError::none, "an error names its reason");
                require(p.feed(bytes.view()).status == ParseStatus::error, "errors are sticky");
                return o;
            }
            if (r.status == ParseStatus::need_more) {
                require(r.consumed == bytes.size(), "need_more uses everything");
                buffer.clear();
                break;
            }
            require(p.feed(bytes.view()).status == ParseStatus::done, "done is sticky");
            describe(p, head, limits, o.log);
            buffer.erase(0, r.consumed);
            if (!p.keep_alive()) return o; // nothing may follow on this connection
            p.start(head);
        }
    }
    if (o.status == ParseStatus::need_more && p.started()) {
        ResponseResult r = p.finish();
        require(r.status != ParseStatus::need_more, "finish decides");
        o.status = r.status;
        o.error = r.error;
        if (r.status == ParseStatus::done) describe(p, head, limits, o.log);
    }
    return o;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    herald::fuzz::Input input(data, size);
    const bool head = (input.byte() & 1) != 0;
    const std::uint16_t c1 = input.u16(), c2 = input.u16();
    ResponseLimits limits;
    limits.max_body_bytes = 1 + input.byte() * 16u;
    limits.max_head_bytes = 512;
    limits.max_header_count = 16;
    const std::string_view in = input.rest();
    std::size_t cut1 = c1 % (in.size() + 1), cut2 = c2 % (in.size() + 1);
    if (cut1 > cut2) std::swap(cut1, cut2);
    const Outcome whole = feed(in, in.size(), in.size(), head, limits);
    const Outcome split = feed(in, cut1, cut2, head, limits);
    require(whole.status == split.status && whole.error == split.error && whole.log == split.log,
            "whole and split feeding agree");
    return 0;
}
