// libFuzzer target: the HTTP/1.1 request-head parser and the chunked body decoder
// (RFC 9112 §2-§7). Properties checked on every input:
//  - no crash, no sanitizer report, no read outside the bytes passed in;
//  - RequestParser: consumed <= input; need_more consumes 0; done ends at a CRLF CRLF; every
//    view of the Request points into the bytes of the call that returned done; feeding the
//    input whole or in three pieces (cuts chosen by the fuzzer, each piece a fresh copy at a
//    new address) gives the same status, offset, error and fields; reset() behaves like a
//    fresh parser on the next pipelined request;
//  - ChunkedDecoder (on the body after a chunked head, and on the raw input): whole and split
//    feeding give the same status, error offset and data; it always makes progress; the body
//    size it reports is the data it returned once done, and stays under its limit;
//    chunk_header() output decodes back to the payload;
//  - append_masked_target() (the access log's ?token= mask): the masked target still has a
//    token argument exactly when the input had one, and its value is "" or the mask.
// Input layout: [flags][cut1 u16][cut2 u16][max_body u8] then the request bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz/fuzz_support.hpp"
#include "http/chunked.hpp"
#include "http/request_parser.hpp"
#include "http/target.hpp"

namespace {

using namespace herald::http;
using herald::ParseStatus;
using herald::fuzz::Piece;
using herald::fuzz::require;

struct HeadOutcome {
    ParseStatus status = ParseStatus::need_more;
    std::size_t consumed = 0;
    HttpError error = HttpError::none;
    std::string fields; // a flat rendering of the Request when done
};

void append_field(std::string& s, std::string_view name, std::string_view v) {
    s.append(name).append("=").append(std::to_string(v.size())).append(":").append(v).append("\n");
}

// Renders every field of a done Request (views copied) and checks where the views point.
std::string render(const Request& r, const Piece& bytes) {
    auto inside = [&](std::string_view v) { return bytes.holds(v); };
    require(inside(r.method_name) && inside(r.target) && inside(r.query) && inside(r.host),
            "request views point into the input");
    require(inside(r.path) || r.path == "/", "path view points into the input (or is \"/\")");
    require(!r.method_name.empty() && !r.target.empty(), "method and target are not empty");
    require(r.header_count <= herald::max_headers, "header_count <= max_headers");
    require(!(r.chunked && r.has_content_length), "never both chunked and Content-Length");
    std::string s;
    s += std::to_string(static_cast<int>(r.method)) + " " + std::to_string(r.version_minor) + "\n";
    append_field(s, "method", r.method_name);
    append_field(s, "target", r.target);
    append_field(s, "path", r.path);
    append_field(s, "query", r.query);
    append_field(s, "host", r.host);
    for (std::size_t i = 0; i < r.header_count; ++i) {
        const Header& h = r.headers[i];
        require(inside(h.name) && inside(h.value), "header views point into the input");
        require(!h.name.empty(), "field-name is not empty");
        for (char c : h.value)
            require(c != '\r' && c != '\n' && c != '\0', "field-value has no CR, LF or NUL");
        require(h.value.empty() || (h.value.front() != ' ' && h.value.front() != '\t' &&
                                    h.value.back() != ' ' && h.value.back() != '\t'),
                "field-value is OWS-trimmed");
        append_field(s, h.name, h.value);
    }
    s += std::to_string(r.keep_alive) + std::to_string(r.chunked) +
         std::to_string(r.has_content_length) + std::to_string(r.expect_continue) +
         std::to_string(r.upgrade) + " " + std::to_string(r.content_length);
    return s;
}

HeadOutcome outcome(const ParseResult& r, const RequestParser& p, const Piece& bytes) {
    require(r.consumed <= bytes.size(), "head: consumed <= input");
    HeadOutcome o{r.status, r.consumed, r.error, {}};
    switch (r.status) {
    case ParseStatus::need_more:
        require(r.consumed == 0 && r.error == HttpError::none, "need_more: consumed 0, no error");
        break;
    case ParseStatus::error:
        require(r.error != HttpError::none && r.consumed < bytes.size(),
                "error: an error code and the offset of a byte of the input");
        break;
    case ParseStatus::done:
        require(r.error == HttpError::none && r.consumed >= 4 &&
                    bytes.view().substr(r.consumed - 4, 4) == "\r\n\r\n",
                "done: the head ends with CRLF CRLF");
        o.fields = render(p.request(), bytes);
        break;
    }
    return o;
}

bool same(const HeadOutcome& a, const HeadOutcome& b) {
    return a.status == b.status && a.consumed == b.consumed && a.error == b.error &&
           a.fields == b.fields;
}

// Feeds the prefixes ending at cut1, cut2 and the end, each as a fresh copy (STYLE §6: the
// caller passes every byte from the first one each time).
HeadOutcome feed_head(std::string_view in, const ParserLimits& limits, std::size_t cut1,
                      std::size_t cut2) {
    RequestParser parser(limits);
    HeadOutcome o;
    for (std::size_t end : {cut1, cut2, in.size()}) {
        Piece bytes(in.substr(0, end));
        o = outcome(parser.feed(bytes.view()), parser, bytes);
        if (o.status != ParseStatus::need_more)
            return o;
    }
    return o;
}

struct BodyOutcome {
    ParseStatus status = ParseStatus::need_more;
    HttpError error = HttpError::none;
    std::size_t offset = 0; // absolute: end of the body (done) or the offending byte (error)
    std::string data;
};

// Feeds body to a ChunkedDecoder the way a connection does (consume mode): bytes arrive in
// pieces ending at the cuts, and the decoder gets what it has not consumed yet.
BodyOutcome decode_chunked(std::string_view body, std::uint64_t max_body, std::size_t cut1,
                           std::size_t cut2) {
    ChunkedDecoder dec(max_body);
    BodyOutcome o;
    std::string pending;
    std::size_t fed = 0, base = 0;
    for (std::size_t end : {cut1, cut2, body.size()}) {
        pending.append(body.substr(fed, end - fed));
        fed = end;
        while (!pending.empty()) {
            Piece bytes(pending);
            std::string_view data;
            ParseResult r = dec.feed(bytes.view(), data);
            require(r.consumed <= bytes.size(), "chunked: consumed <= input");
            require(bytes.holds(data) && data.data() + data.size() <= bytes.data() + r.consumed,
                    "chunked: data lies in the consumed bytes");
            o.data.append(data);
            if (r.status == ParseStatus::error) {
                require(r.error != HttpError::none && r.consumed < bytes.size(),
                        "chunked: error names a byte of the input");
                o.status = r.status;
                o.error = r.error;
                o.offset = base + r.consumed;
                return o;
            }
            require(r.consumed > 0, "chunked: progress on non-empty input");
            pending.erase(0, r.consumed);
            base += r.consumed;
            if (r.status == ParseStatus::done) {
                o.status = r.status;
                o.offset = base;
                require(data.empty(), "chunked: done carries no data");
                require(dec.body_size() == o.data.size(), "chunked: body_size() == data at done");
                return o;
            }
        }
    }
    // body_size() counts a chunk's announced size as soon as its size line ends.
    require(dec.body_size() >= o.data.size(), "chunked: body_size() covers the data returned");
    require(dec.body_size() <= max_body, "chunked: body_size() <= max_body_size");
    o.offset = base;
    return o;
}

void check_chunked(std::string_view body, std::uint64_t max_body, std::size_t cut1,
                   std::size_t cut2) {
    BodyOutcome whole = decode_chunked(body, max_body, body.size(), body.size());
    BodyOutcome split = decode_chunked(body, max_body, cut1, cut2);
    require(whole.status == split.status && whole.error == split.error &&
                whole.offset == split.offset && whole.data == split.data,
            "chunked: whole and split feeding agree");
    require(whole.data.size() <= max_body, "chunked: data <= max_body_size");
}

// chunk_header() + payload + CRLF + last chunk decodes back to the payload.
void check_chunk_encoding(std::string_view payload) {
    std::string wire;
    if (!payload.empty()) { // callers never write a chunk of 0 bytes: that is the last chunk
        char head[max_chunk_header];
        std::size_t n = chunk_header(payload.size(), head);
        require(n >= 3 && n <= max_chunk_header, "chunk_header length");
        wire.assign(head, n).append(payload).append(chunk_end);
    }
    wire.append(last_chunk);
    BodyOutcome o = decode_chunked(wire, payload.size(), wire.size(), wire.size());
    require(o.status == ParseStatus::done && o.offset == wire.size() && o.data == payload,
            "chunk_header round trip");
}

// A fresh parser and a reset() one agree on the request that follows a done one.
void check_pipelined(std::string_view in, const ParserLimits& limits) {
    RequestParser reused(limits);
    std::size_t at = 0;
    for (int i = 0; i < 4 && at < in.size(); ++i) {
        Piece bytes(in.substr(at));
        HeadOutcome a = outcome(reused.feed(bytes.view()), reused, bytes);
        RequestParser fresh(limits);
        HeadOutcome b = outcome(fresh.feed(bytes.view()), fresh, bytes);
        require(same(a, b), "reset() parser agrees with a fresh one");
        if (a.status != ParseStatus::done || reused.request().chunked)
            return;
        std::uint64_t skip = reused.request().content_length;
        if (skip > in.size() - at - a.consumed)
            return;
        at += a.consumed + static_cast<std::size_t>(skip);
        reused.reset();
    }
}

// No ?token= value survives the access log's mask, however the argument is spelled.
void check_masked_target(std::string_view target) {
    std::string out;
    append_masked_target(out, target, "token");
    const std::size_t q = target.find('?'), mq = out.find('?');
    require((q == std::string_view::npos) == (mq == std::string::npos), "mask: keeps the '?'");
    if (q == std::string_view::npos) {
        require(out == target, "mask: a target without a query is unchanged");
        return;
    }
    require(out.compare(0, mq, target.substr(0, q)) == 0, "mask: the path is unchanged");
    const std::optional<std::string> before = query_arg(target.substr(q + 1), "token");
    const std::optional<std::string> after = query_arg(std::string_view(out).substr(mq + 1), "token");
    require(before.has_value() == after.has_value(), "mask: the token argument stays");
    require(!after || after->empty() || *after == masked_value, "mask: no token value is left");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    herald::fuzz::Input input(data, size);
    const std::uint8_t flags = input.byte();
    const std::uint16_t c1 = input.u16(), c2 = input.u16();
    const std::uint8_t body_limit = input.byte();
    const std::string_view in = input.rest();

    ParserLimits limits;
    if (flags & 1)
        limits = {.max_request_line = 64u + (flags >> 4) * 16u,
                  .max_header_bytes = 256,
                  .max_header_count = 1u + (flags >> 1 & 7u)};
    std::size_t cut1 = c1 % (in.size() + 1), cut2 = c2 % (in.size() + 1);
    if (cut1 > cut2)
        std::swap(cut1, cut2);

    HeadOutcome whole = feed_head(in, limits, in.size(), in.size());
    HeadOutcome split = feed_head(in, limits, cut1, cut2);
    require(same(whole, split), "head: whole and split feeding agree");
    check_pipelined(in, limits);

    const std::uint64_t max_body = body_limit == 0 ? 1u << 20 : body_limit;
    if (whole.status == ParseStatus::done) {
        std::string_view body = in.substr(whole.consumed);
        RequestParser p(limits);
        Piece bytes(in);
        (void)p.feed(bytes.view());
        if (p.request().chunked)
            check_chunked(body, max_body, std::min(cut1, body.size()), std::min(cut2, body.size()));
    } else if (flags & 2) {
        // The raw input as a chunked body reaches the decoder's states far more often.
        check_chunked(in, max_body, cut1, cut2);
    }
    if (flags & 4)
        check_chunk_encoding(in.substr(0, 300));
    if (flags & 8)
        check_masked_target(in.substr(0, 300));
    return 0;
}
