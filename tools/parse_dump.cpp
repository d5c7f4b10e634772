// parse_dump: runs herald's pure HTTP/1.1 request parsing (RequestParser, ChunkedDecoder,
// normalize_path; RFC 9112 §2-§7, RFC 3986 §5.2.4) over a corpus of raw requests and prints
// one JSON line per input, for the differential check against llhttp (tests/diff/).
//
// Usage: parse_dump [--max-body N] CORPUS
//   CORPUS is a JSON-lines file whose objects have "id" and "raw_b64" (other keys ignored), or a
//   directory whose regular files are one raw input each (id = file name, sorted).
// Output per input (the shape tests/diff/diff.mjs prints for llhttp):
//   {"id", "outcome", "error", "status", "offset", "trailing", "messages": [{"method", "url",
//    "version", "headers": [[name, value]...], "body", "keep_alive", "upgrade"}]}
//   outcome: complete   every byte was used and no message is open
//            incomplete the bytes end inside a message (herald would wait for more)
//            error      a message was rejected: error = HttpError name, status, offset = byte
//            closed     a message ended the connection (keep_alive false) with bytes after it
//            upgrade    a message switches protocols (CONNECT, or Connection: upgrade plus an
//                       Upgrade field, the rule llhttp uses); the bytes after it are not HTTP
//   trailing: bytes left unparsed after closed / upgrade.
// Strings are byte strings: JSON-escaped per byte, bytes >= 0x80 as \u0080-\u00ff (latin-1).
// Each head and chunked body is parsed twice, whole and one byte at a time; a mismatch adds
// "split_mismatch" to the line (the parser must give the same result at every split).
// Build: make build/tools/parse_dump (links src/http/{request,request_parser,chunked,target}).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "http/chunked.hpp"
#include "http/request.hpp"
#include "http/request_parser.hpp"
#include "http/target.hpp"

namespace {

using namespace herald::http;
using herald::ParseStatus;

// ---- input -------------------------------------------------------------------------------

struct Input {
    std::string id;
    std::string raw;
};

int base64_value(unsigned char c) noexcept {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

std::string base64_decode(std::string_view in) {
    std::string out;
    out.reserve(in.size() / 4 * 3);
    unsigned acc = 0;
    int bits = 0;
    for (char ch : in) {
        int v = base64_value(static_cast<unsigned char>(ch));
        if (v < 0)
            continue; // padding, newlines
        acc = (acc << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xFF));
        }
    }
    return out;
}

// A minimal reader for one JSON object per line: top-level string members are decoded,
// everything else is skipped. Enough for the corpus files; not a general JSON parser.
class JsonLine {
public:
    explicit JsonLine(std::string_view s) noexcept : s_(s) {}

    // Fills id and raw_b64 from the top-level object; false on malformed input.
    bool read(std::string& id, std::string& raw_b64) {
        skip_ws();
        if (!eat('{'))
            return false;
        for (;;) {
            skip_ws();
            if (eat('}'))
                return true;
            std::string key;
            if (!string(key))
                return false;
            skip_ws();
            if (!eat(':'))
                return false;
            skip_ws();
            if (peek() == '"') {
                std::string value;
                if (!string(value))
                    return false;
                if (key == "id")
                    id = std::move(value);
                else if (key == "raw_b64")
                    raw_b64 = std::move(value);
            } else if (!skip_value()) {
                return false;
            }
            skip_ws();
            eat(',');
        }
    }

private:
    char peek() const noexcept { return i_ < s_.size() ? s_[i_] : '\0'; }
    bool eat(char c) noexcept {
        if (peek() != c)
            return false;
        ++i_;
        return true;
    }
    void skip_ws() noexcept {
        while (i_ < s_.size() && std::strchr(" \t\r\n", s_[i_]) != nullptr)
            ++i_;
    }

    // A JSON string; \uXXXX below 0x100 becomes one byte, above it UTF-8.
    bool string(std::string& out) {
        if (!eat('"'))
            return false;
        while (i_ < s_.size()) {
            char c = s_[i_++];
            if (c == '"')
                return true;
            if (c != '\\') {
                out.push_back(c);
                continue;
            }
            if (i_ >= s_.size())
                return false;
            char e = s_[i_++];
            static constexpr std::string_view from = "\"\\/bfnrt", to = "\"\\/\b\f\n\r\t";
            if (std::size_t k = from.find(e); k != std::string_view::npos) {
                out.push_back(to[k]);
            } else if (e == 'u' && i_ + 4 <= s_.size()) {
                unsigned cp = static_cast<unsigned>(
                    std::strtoul(std::string(s_.substr(i_, 4)).c_str(), nullptr, 16));
                i_ += 4;
                append_code_point(cp, out);
            } else {
                return false;
            }
        }
        return false;
    }

    static void append_code_point(unsigned cp, std::string& out) {
        if (cp < 0x100) {
            out.push_back(static_cast<char>(cp));
        } else if (cp < 0x800) {
            out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else {
            out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        }
    }

    // Skips a number, literal, object or array (strings inside are skipped whole).
    bool skip_value() {
        int depth = 0;
        while (i_ < s_.size()) {
            char c = peek();
            if (c == '"') {
                std::string ignored;
                if (!string(ignored))
                    return false;
                continue;
            }
            if (depth == 0 && (c == ',' || c == '}'))
                return true;
            if (c == '{' || c == '[')
                ++depth;
            else if (c == '}' || c == ']')
                --depth;
            ++i_;
        }
        return false;
    }

    std::string_view s_;
    std::size_t i_ = 0;
};

bool read_corpus(const std::filesystem::path& path, std::vector<Input>& inputs) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        std::vector<std::filesystem::path> files;
        for (const auto& entry : std::filesystem::directory_iterator(path, ec))
            if (entry.is_regular_file())
                files.push_back(entry.path());
        std::sort(files.begin(), files.end());
        for (const auto& f : files) {
            std::ifstream in(f, std::ios::binary);
            inputs.push_back(
                {f.filename().string(), std::string(std::istreambuf_iterator<char>(in),
                                                    std::istreambuf_iterator<char>())});
        }
        return !ec;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return false;
    std::string line;
    for (std::size_t n = 1; std::getline(in, line); ++n) {
        if (line.find_first_not_of(" \t\r") == std::string::npos)
            continue;
        std::string id, b64;
        if (!JsonLine(line).read(id, b64)) {
            std::fprintf(stderr, "parse_dump: %s:%zu: bad JSON line\n", path.c_str(), n);
            return false;
        }
        inputs.push_back({id.empty() ? "line:" + std::to_string(n) : id, base64_decode(b64)});
    }
    return true;
}

// ---- output ------------------------------------------------------------------------------

void json_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out.push_back('"');
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(ch);
        } else if (c >= 0x20 && c < 0x7F) {
            out.push_back(ch);
        } else {
            out.append("\\u00");
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 0xF]);
        }
    }
    out.push_back('"');
}

const char* error_name(HttpError e) noexcept {
    static constexpr const char* names[] = {
        "none",
        "bad_request",
        "bad_header",
        "bad_content_length",
        "te_and_cl",
        "bad_chunk",
        "missing_host",
        "duplicate_host",
        "bad_target",
        "uri_too_long",
        "headers_too_large",
        "body_too_large",
        "not_implemented",
        "version_not_supported",
        "expectation_failed",
    };
    static_assert(std::size(names) == static_cast<std::size_t>(HttpError::expectation_failed) + 1);
    return names[static_cast<std::size_t>(e)];
}

// What parsing one input produced; messages are already JSON.
struct Outcome {
    const char* kind = "complete";
    HttpError error = HttpError::none;
    std::size_t offset = 0;
    std::size_t trailing = 0;
    std::vector<std::string> messages;
    std::string split_mismatch; // empty when whole and per-byte parsing agree
};

void append_message(Outcome& o, const Request& r, std::string_view body, bool upgrade) {
    std::string m = "{\"method\":";
    json_string(m, r.method_name);
    m += ",\"url\":";
    json_string(m, r.target);
    m += r.version_minor == 0 ? ",\"version\":\"1.0\",\"headers\":["
                              : ",\"version\":\"1.1\",\"headers\":[";
    for (std::size_t k = 0; k < r.header_count; ++k) {
        m += k == 0 ? "[" : ",[";
        json_string(m, r.headers[k].name);
        m.push_back(',');
        json_string(m, r.headers[k].value);
        m.push_back(']');
    }
    m += "],\"body\":";
    json_string(m, body);
    m += r.keep_alive ? ",\"keep_alive\":true" : ",\"keep_alive\":false";
    m += upgrade ? ",\"upgrade\":true}" : ",\"upgrade\":false}";
    o.messages.push_back(std::move(m));
}

std::string outcome_json(const std::string& id, const Outcome& o) {
    std::string s = "{\"id\":";
    json_string(s, id);
    s += ",\"outcome\":\"";
    s += o.kind;
    s += "\"";
    if (o.error != HttpError::none) {
        s += ",\"error\":\"";
        s += error_name(o.error);
        s += "\",\"status\":" + std::to_string(status_of(o.error));
        s += ",\"offset\":" + std::to_string(o.offset);
    } else {
        s += ",\"error\":null,\"status\":null,\"offset\":null";
    }
    s += ",\"trailing\":" + std::to_string(o.trailing) + ",\"messages\":[";
    for (std::size_t k = 0; k < o.messages.size(); ++k) {
        if (k != 0)
            s.push_back(',');
        s += o.messages[k];
    }
    s += "]";
    if (!o.split_mismatch.empty()) {
        s += ",\"split_mismatch\":";
        json_string(s, o.split_mismatch);
    }
    return s + "}\n";
}

// ---- parsing -----------------------------------------------------------------------------

bool same(const ParseResult& a, const ParseResult& b) noexcept {
    return a.status == b.status && a.consumed == b.consumed && a.error == b.error;
}

// The head fed one more byte per call, as a slow client would send it.
ParseResult feed_per_byte(RequestParser& p, std::string_view in) noexcept {
    p.reset();
    ParseResult r{ParseStatus::need_more, 0, HttpError::none};
    for (std::size_t k = 1; k <= in.size() && r.status == ParseStatus::need_more; ++k)
        r = p.feed(in.substr(0, k));
    return r;
}

// Decodes a chunked body the way HttpSession::read_body does: feed until done, error, or the
// input is used up. chunk = 0 feeds everything at once, else `chunk` bytes per arrival.
// Returns the final status; body gets the data, used the bytes consumed (or the error offset).
ParseResult decode_chunked(std::string_view in, std::uint64_t max_body, std::size_t chunk,
                           std::string& body, std::size_t& used) {
    ChunkedDecoder dec(max_body);
    body.clear();
    used = 0;
    std::size_t avail = chunk == 0 ? in.size() : std::min(chunk, in.size());
    for (;;) {
        std::string_view piece;
        ParseResult r = dec.feed(in.substr(used, avail - used), piece);
        body.append(piece);
        if (r.status == ParseStatus::error) {
            used += r.consumed;
            return r;
        }
        used += r.consumed;
        if (r.status == ParseStatus::done)
            return r;
        if (used >= avail) {
            if (avail == in.size())
                return r;
            avail = std::min(avail + chunk, in.size());
        }
    }
}

// RFC 9112 §2.2: empty lines before a request-line are ignored, so bytes that are only CRLFs
// (or a last lone CR) do not start a message; llhttp skips them the same way.
bool only_empty_lines(std::string_view s) noexcept {
    std::size_t i = 0;
    while (i + 1 < s.size() && s[i] == '\r' && s[i + 1] == '\n')
        i += 2;
    return i == s.size() || (i + 1 == s.size() && s[i] == '\r');
}

// The target check HttpSession::route() applies before any handler (400 on failure); CONNECT
// is answered (405) before it. Like route(), this refuses the asterisk-form "*" of OPTIONS,
// which has no path to normalise.
HttpError check_target(const Request& r) {
    if (r.method == Method::connect)
        return HttpError::none;
    static std::string scratch;
    return normalize_path(r.path, scratch);
}

// Reads the body of the request whose head ends at head_len; returns false if the input stops
// there (error or incomplete, recorded in o), else sets body and body_len.
bool read_body(const Request& r, std::string_view rest, std::size_t head_len, std::size_t base,
               std::uint64_t max_body, Outcome& o, std::string& body, std::size_t& body_len) {
    std::string_view after = rest.substr(head_len);
    body.clear();
    body_len = 0;
    if (r.chunked) {
        ParseResult c = decode_chunked(after, max_body, 0, body, body_len);
        std::string slow_body;
        std::size_t slow_used = 0;
        ParseResult s = decode_chunked(after, max_body, 1, slow_body, slow_used);
        // consumed is per call, so compare the totals instead
        if (c.status != s.status || c.error != s.error || slow_body != body ||
            slow_used != body_len)
            o.split_mismatch = "chunked body at offset " + std::to_string(base + head_len);
        if (c.status == ParseStatus::error) {
            o.kind = "error";
            o.error = c.error;
            o.offset = base + head_len + body_len;
            return false;
        }
        if (c.status == ParseStatus::need_more) {
            o.kind = "incomplete";
            return false;
        }
        return true;
    }
    if (r.content_length > max_body) { // HttpSession: 413 before reading the body
        o.kind = "error";
        o.error = HttpError::body_too_large;
        o.offset = base + head_len;
        return false;
    }
    if (after.size() < r.content_length) {
        o.kind = "incomplete";
        return false;
    }
    body_len = static_cast<std::size_t>(r.content_length);
    body.assign(after.substr(0, body_len));
    return true;
}

// One connection's bytes: the requests in sequence, as HttpSession would see them.
Outcome parse_connection(std::string_view raw, std::uint64_t max_body) {
    static RequestParser parser; // large (two header arrays): keep it off the stack
    static RequestParser slow;
    Outcome o;
    std::size_t pos = 0;
    std::string body;
    for (;;) {
        std::string_view rest = raw.substr(pos);
        if (only_empty_lines(rest))
            return o;
        parser.reset();
        ParseResult r = parser.feed(rest);
        if (ParseResult s = feed_per_byte(slow, rest); !same(r, s) && o.split_mismatch.empty())
            o.split_mismatch = "head at offset " + std::to_string(pos);
        if (r.status == ParseStatus::need_more) {
            o.kind = "incomplete";
            return o;
        }
        if (r.status == ParseStatus::error) {
            o.kind = "error";
            o.error = r.error;
            o.offset = pos + r.consumed;
            return o;
        }
        const Request& req = parser.request();
        if (HttpError e = check_target(req); e != HttpError::none) {
            o.kind = "error";
            o.error = e;
            o.offset = pos;
            return o;
        }
        // RFC 9110 §9.3.6: a CONNECT request has no content; what follows the head belongs to
        // the tunnel (HttpSession answers 405 and closes without reading it).
        std::size_t body_len = 0;
        body.clear();
        if (req.method != Method::connect &&
            !read_body(req, rest, r.consumed, pos, max_body, o, body, body_len))
            return o;
        const bool upgrade =
            req.method == Method::connect || (req.upgrade && req.has_header("upgrade"));
        append_message(o, req, body, upgrade);
        pos += r.consumed + body_len;
        if (upgrade || !req.keep_alive) {
            // RFC 9112 §9.6: no request after one that closes the connection is processed.
            o.trailing = raw.size() - pos;
            if (upgrade)
                o.kind = "upgrade";
            else if (o.trailing != 0)
                o.kind = "closed";
            return o;
        }
    }
}

int usage() {
    std::fputs("usage: parse_dump [--max-body N] CORPUS.jsonl|DIR\n", stderr);
    return 2;
}

} // namespace

int main(int argc, char** argv) {
    std::uint64_t max_body = 1 << 20; // client_max_body_size's default (1m)
    const char* corpus = nullptr;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--max-body" && i + 1 < argc)
            max_body = std::strtoull(argv[++i], nullptr, 10);
        else if (a.empty() || a[0] == '-' || corpus != nullptr)
            return usage();
        else
            corpus = argv[i];
    }
    if (corpus == nullptr)
        return usage();
    std::vector<Input> inputs;
    if (!read_corpus(corpus, inputs)) {
        std::fprintf(stderr, "parse_dump: cannot read %s\n", corpus);
        return 1;
    }
    for (const Input& in : inputs) {
        std::string line = outcome_json(in.id, parse_connection(in.raw, max_body));
        std::fwrite(line.data(), 1, line.size(), stdout);
    }
    return 0;
}
