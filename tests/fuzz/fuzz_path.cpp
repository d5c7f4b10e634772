// libFuzzer target: request-target handling (include/http/target.hpp; RFC 9112 §3.2,
// RFC 3986 §2.1, §5.2.4). Properties, for any bytes:
//  - normalize_path: a result never escapes the root: it starts with "/" and holds no "//",
//    no "." or ".." segment, no NUL or other control character; it agrees exactly (accept or
//    reject, and the bytes) with a reference written separately from the header's rules
//    (decode each "/"-separated segment, then a segment stack); reusing the output string
//    gives the same result;
//  - split_target: never crashes; its views lie in the target (or are the static "/"); the
//    form suits the method; origin-form parts put back together are the target;
//  - query_arg: agrees with a reference form decoder (first matching name, "+" is a space,
//    malformed escapes kept).
// Input layout: [method u8][name length u8][name][target bytes].
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_support.hpp"
#include "http/target.hpp"

namespace {

using namespace herald::http;
using herald::fuzz::Piece;
using herald::fuzz::hex_value;
using herald::fuzz::require;

// The header's decoding rules for one raw segment: "%HH" escapes only, no %2F, no raw SP "#"
// "?", no control character raw or decoded.
std::optional<std::string> ref_decode_segment(std::string_view raw) {
    std::string out;
    for (std::size_t i = 0; i < raw.size(); ++i) {
        auto c = static_cast<unsigned char>(raw[i]);
        if (c == '%') {
            if (raw.size() - i < 3)
                return std::nullopt;
            int hi = hex_value(raw[i + 1]), lo = hex_value(raw[i + 2]);
            if (hi < 0 || lo < 0)
                return std::nullopt;
            c = static_cast<unsigned char>(hi * 16 + lo);
            if (c == '/')
                return std::nullopt;
            i += 2;
        } else if (c == ' ' || c == '#' || c == '?') {
            return std::nullopt;
        }
        if (c < 0x20 || c == 0x7F)
            return std::nullopt;
        out.push_back(static_cast<char>(c));
    }
    return out;
}

// RFC 3986 §5.2.4 on decoded segments, with a stack; ".." above the root is an error, empty
// segments are dropped; a trailing "/" (an empty, ".", or ".." last segment) is kept.
std::optional<std::string> ref_normalize(std::string_view path) {
    if (path.empty() || path[0] != '/')
        return std::nullopt;
    std::vector<std::string> stack;
    bool trailing_slash = false;
    std::size_t at = 1;
    for (;;) {
        std::size_t slash = path.find('/', at);
        std::string_view raw =
            path.substr(at, slash == std::string_view::npos ? path.npos : slash - at);
        auto seg = ref_decode_segment(raw);
        if (!seg)
            return std::nullopt;
        const bool last = slash == std::string_view::npos;
        if (*seg == "..") {
            if (stack.empty())
                return std::nullopt;
            stack.pop_back();
            trailing_slash = true;
        } else if (*seg == "." || seg->empty()) {
            trailing_slash = true;
        } else {
            stack.push_back(*seg);
            trailing_slash = false;
        }
        if (last)
            break;
        at = slash + 1;
    }
    std::string out = "/";
    for (std::size_t i = 0; i < stack.size(); ++i) {
        out += stack[i];
        if (i + 1 < stack.size() || trailing_slash)
            out += '/';
    }
    return out;
}

void check_result_shape(std::string_view out) {
    require(!out.empty() && out[0] == '/', "normalized path starts with /");
    require(out.find("//") == std::string_view::npos, "normalized path has no //");
    for (char c : out)
        require(static_cast<unsigned char>(c) >= 0x20 && c != 0x7F,
                "normalized path has no NUL or control character");
    std::size_t at = 1;
    while (at <= out.size()) {
        std::size_t slash = out.find('/', at);
        std::string_view seg =
            out.substr(at, slash == std::string_view::npos ? out.npos : slash - at);
        require(seg != "." && seg != "..", "normalized path has no dot-segment");
        if (slash == std::string_view::npos)
            break;
        at = slash + 1;
    }
}

void check_normalize(std::string_view raw) {
    Piece path(raw);
    std::string out;
    HttpError e = normalize_path(path.view(), out);
    require(e == HttpError::none || e == HttpError::bad_target, "normalize_path error is 400");
    std::optional<std::string> want = ref_normalize(raw);
    require((e == HttpError::none) == want.has_value(), "normalize_path accepts as the reference");
    if (e != HttpError::none)
        return;
    check_result_shape(out);
    require(out == *want, "normalize_path agrees with the reference");
    std::string reused = "/some/longer/previous/content/in/the/string";
    require(normalize_path(path.view(), reused) == HttpError::none && reused == out,
            "normalize_path overwrites a reused output");
}

void check_split(std::string_view raw, Method method) {
    Piece target(raw);
    TargetParts parts;
    HttpError e = split_target(target.view(), method, parts);
    require(e == HttpError::none || e == HttpError::bad_target, "split_target error is 400");
    if (e != HttpError::none)
        return;
    require(target.holds(parts.authority) && target.holds(parts.query) &&
                (target.holds(parts.path) || parts.path == "/"),
            "split_target views lie in the target");
    switch (parts.form) {
    case TargetForm::origin: {
        std::string back(parts.path);
        if (raw.find('?') != std::string_view::npos)
            back.append("?").append(parts.query);
        require(back == raw && !parts.path.empty() && parts.path[0] == '/',
                "origin-form splits into path and query");
        break;
    }
    case TargetForm::asterisk:
        require(method == Method::options && raw == "*", "asterisk-form only for OPTIONS");
        break;
    case TargetForm::authority:
        require(method == Method::connect && parts.authority == raw,
                "authority-form only for CONNECT");
        break;
    case TargetForm::absolute:
        require(method != Method::connect && !parts.authority.empty() &&
                    parts.authority.find('@') == std::string_view::npos && !parts.path.empty() &&
                    parts.path[0] == '/',
                "absolute-form has an authority without userinfo and a path");
        break;
    }
    if (method == Method::connect)
        require(parts.form == TargetForm::authority, "CONNECT uses authority-form");
}

// application/x-www-form-urlencoded decoding as the header states it: "+" is a space, "%HH"
// a byte, and a malformed escape stays as it is.
std::string ref_form_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out.push_back(' ');
        } else if (s[i] == '%' && s.size() - i >= 3 && hex_value(s[i + 1]) >= 0 &&
                   hex_value(s[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
            i += 2;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

// The first "&"-separated pair whose decoded name is name.
std::optional<std::string> ref_query_arg(std::string_view query, std::string_view name) {
    std::size_t at = 0;
    for (;;) {
        std::size_t amp = query.find('&', at);
        std::string_view pair =
            query.substr(at, amp == std::string_view::npos ? query.npos : amp - at);
        std::size_t eq = pair.find('=');
        if (!pair.empty() && ref_form_decode(pair.substr(0, eq)) == name)
            return ref_form_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
        if (amp == std::string_view::npos)
            return std::nullopt;
        at = amp + 1;
    }
}

void check_query(std::string_view query, std::string_view name) {
    Piece bytes(query);
    require(query_arg(bytes.view(), name) == ref_query_arg(query, name),
            "query_arg agrees with the reference");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    herald::fuzz::Input input(data, size);
    const auto method = static_cast<Method>(input.byte() % 10);
    const std::size_t name_len = input.byte() % 16;
    std::string_view rest = input.rest();
    const std::string_view name = rest.substr(0, name_len);
    rest.remove_prefix(name.size());

    check_normalize(rest);
    check_split(rest, method);
    TargetParts parts;
    if (split_target(rest, method, parts) == HttpError::none && !parts.path.empty() &&
        parts.path[0] == '/')
        check_normalize(parts.path);
    check_query(rest, name);
    return 0;
}
