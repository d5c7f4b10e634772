// libFuzzer target: the config lexer, parser and typed loader (nginx-style syntax, see
// include/config/lexer.hpp), and the value parsers. Properties checked on every input:
//  - load_config_string() never crashes, loops or grows without bound; the only exception it
//    throws is ConfigError, whose message starts with "FILE:" (the position of the error);
//  - the lexer gives the same tokens (kind, text, line, column) and the same error fed whole
//    or in three fuzzer-chosen pieces;
//  - parse_size/parse_number/parse_duration/parse_listen_address/parse_access_rule never
//    crash, and parse_size of plain digits is parse_number.
// Inputs that mention "include" are only lexed: include would read (and glob) arbitrary files
// of the machine running the fuzzer, which makes runs neither safe nor reproducible.
// Input layout: [cut1 u16][cut2 u16] then the config text.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/lexer.hpp"
#include "config/values.hpp"
#include "fuzz/fuzz_support.hpp"

namespace {

using namespace herald::config;
using herald::fuzz::require;

constexpr const char* fuzz_path = "/nonexistent/herald-fuzz/herald.conf";

std::string render(const std::vector<Token>& tokens, LexStatus status, const LexError& e) {
    std::string s = std::to_string(static_cast<int>(status));
    if (status == LexStatus::error)
        s += " " + std::to_string(e.pos.line) + ":" + std::to_string(e.pos.col) + " " + e.message;
    for (const Token& t : tokens)
        s += "\n" + std::to_string(static_cast<int>(t.kind)) + " " + std::to_string(t.pos.line) +
             ":" + std::to_string(t.pos.col) + " " + std::to_string(t.text.size()) + ":" + t.text;
    return s;
}

void check_lexer(std::string_view text, std::size_t cut1, std::size_t cut2) {
    std::vector<Token> whole_tokens;
    LexError whole_error;
    LexStatus whole = lex_all(text, whole_tokens, whole_error);
    require(whole != LexStatus::need_more, "lex_all finishes");
    require(whole == LexStatus::error ||
                (!whole_tokens.empty() && whole_tokens.back().kind == Token::Kind::eof),
            "a finished token list ends with eof");

    Lexer lexer;
    std::vector<Token> split_tokens;
    LexStatus split = LexStatus::need_more;
    std::size_t fed = 0;
    for (std::size_t end : {cut1, cut2, text.size()}) {
        split = lexer.feed(text.substr(fed, end - fed), split_tokens);
        fed = end;
        if (split == LexStatus::error)
            break;
    }
    if (split != LexStatus::error)
        split = lexer.finish(split_tokens);
    require(render(whole_tokens, whole, whole_error) == render(split_tokens, split, lexer.error()),
            "lexer: whole and split feeding agree");
}

void check_load(std::string_view text) {
    try {
        auto cfg = herald::config::load_config_string(text, fuzz_path);
        require(cfg != nullptr, "load_config_string returns a config");
    } catch (const herald::config::ConfigError& e) {
        std::string_view what = e.what();
        require(what.substr(0, std::string_view(fuzz_path).size() + 1) ==
                    std::string(fuzz_path) + ":",
                "ConfigError messages start with FILE:");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "unexpected exception: %s\n", e.what());
        require(false, "load_config_string throws only ConfigError");
    }
}

void check_values(std::string_view s) {
    s = s.substr(0, 64);
    auto n = parse_number(s);
    auto z = parse_size(s);
    if (!s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos)
        require(n == z, "parse_size of digits is parse_number");
    (void)parse_duration(s);
    herald::config::ListenConf listen;
    (void)parse_listen_address(s, listen);
    herald::config::AccessRule rule;
    if (parse_access_rule(s, true, rule))
        require(rule.prefix_len <= 128, "access rule prefix <= 128");
    bool name = !s.empty() && s.size() <= max_channel_name && s != "." && s != "..";
    for (char c : s)
        name = name && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' || c == '-');
    require(is_valid_channel_name(s) == name, "is_valid_channel_name agrees with its grammar");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    herald::fuzz::Input input(data, size);
    const std::uint16_t c1 = input.u16(), c2 = input.u16();
    const std::string_view text = input.rest();
    std::size_t cut1 = c1 % (text.size() + 1), cut2 = c2 % (text.size() + 1);
    if (cut1 > cut2)
        std::swap(cut1, cut2);

    check_lexer(text, cut1, cut2);
    check_values(text);
    if (text.find("include") == std::string_view::npos)
        check_load(text);
    return 0;
}
