// Unit tests for the config lexer (include/config/lexer.hpp): every case fed whole, byte by
// byte and split at every offset, from a buffer that ends at a PROT_NONE guard page.
#include <criterion/criterion.h>

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

#include "config/lexer.hpp"

using herald::config::Lexer;
using herald::config::LexStatus;
using herald::config::Token;

namespace {

// Compares strings held by the caller (Criterion's str_eq keeps raw pointers, which would
// dangle for temporaries).
void expect_str(const std::string& got, const std::string& want) {
    cr_expect(got == want, "got:  %s\nwant: %s", got.c_str(), want.c_str());
}

// The bytes of s at the very end of a readable mapping followed by an inaccessible page,
// so reading one byte past the input crashes the test instead of passing silently.
class GuardedInput {
public:
    explicit GuardedInput(std::string_view s) {
        std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
        data_len_ = (s.size() + page - 1) / page * page + page;
        map_len_ = data_len_ + page;
        void* mem =
            mmap(nullptr, map_len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        cr_assert(mem != MAP_FAILED);
        mem_ = static_cast<char*>(mem);
        cr_assert(mprotect(mem_ + data_len_, page, PROT_NONE) == 0);
        char* start = mem_ + data_len_ - s.size();
        if (!s.empty()) std::memcpy(start, s.data(), s.size());
        view_ = std::string_view(start, s.size());
    }
    GuardedInput(const GuardedInput&) = delete;
    GuardedInput& operator=(const GuardedInput&) = delete;
    ~GuardedInput() { munmap(mem_, map_len_); }
    std::string_view view() const { return view_; }

private:
    char* mem_ = nullptr;
    std::size_t data_len_ = 0, map_len_ = 0;
    std::string_view view_;
};

std::string escape(std::string_view s) {
    std::string r;
    for (char c : s) {
        if (c == '\n')
            r += "\\n";
        else if (c == '\t')
            r += "\\t";
        else
            r += c;
    }
    return r;
}

// "W(root)@1:1 ;@1:5 $@1:6", or "ERR 1:6 message".
std::string dump(const std::vector<Token>& tokens) {
    std::string r;
    for (const Token& t : tokens) {
        if (!r.empty()) r += ' ';
        switch (t.kind) {
        case Token::Kind::word: r += "W(" + escape(t.text) + ")"; break;
        case Token::Kind::quoted: r += "Q(" + escape(t.text) + ")"; break;
        case Token::Kind::semicolon: r += ";"; break;
        case Token::Kind::block_start: r += "{"; break;
        case Token::Kind::block_end: r += "}"; break;
        case Token::Kind::eof: r += "$"; break;
        }
        r += "@" + std::to_string(t.pos.line) + ":" + std::to_string(t.pos.col);
    }
    return r;
}

// Lexes input in the given chunks; returns the dump or the error.
std::string lex_chunks(const std::vector<std::string_view>& chunks) {
    Lexer lexer;
    std::vector<Token> out;
    LexStatus st = LexStatus::need_more;
    for (std::string_view c : chunks) {
        st = lexer.feed(c, out);
        if (st == LexStatus::error) break;
        cr_assert(st == LexStatus::need_more);
    }
    if (st != LexStatus::error) st = lexer.finish(out);
    if (st == LexStatus::error)
        return "ERR " + std::to_string(lexer.error().pos.line) + ":" +
               std::to_string(lexer.error().pos.col) + " " + lexer.error().message;
    cr_assert(st == LexStatus::done);
    return dump(out);
}

std::string lex_bytewise(std::string_view in) {
    std::vector<std::string_view> chunks;
    for (std::size_t i = 0; i < in.size(); ++i) chunks.push_back(in.substr(i, 1));
    return lex_chunks(chunks);
}

struct Case {
    const char* name;
    std::string_view input;
    const char* want;
};

using namespace std::string_view_literals;

const Case cases[] = {
    {"empty", "", "$@1:1"},
    {"only_space", " \t\r\n ", "$@2:2"},
    {"simple", "root /var/www;", "W(root)@1:1 W(/var/www)@1:6 ;@1:14 $@1:15"},
    {"comments", "# hi\nlisten 80; # trailing ; { }\n", "W(listen)@2:1 W(80)@2:8 ;@2:10 $@3:1"},
    {"comment_at_eof", "a; #x", "W(a)@1:1 ;@1:2 $@1:6"},
    {"blocks_no_space", "http{server{}}",
     "W(http)@1:1 {@1:5 W(server)@1:6 {@1:12 }@1:13 }@1:14 $@1:15"},
    {"word_then_semicolon", "a b;c;", "W(a)@1:1 W(b)@1:3 ;@1:4 W(c)@1:5 ;@1:6 $@1:7"},
    {"double_quoted_escapes", R"(echo "a\"b\\c\n\t'";)",
     R"(W(echo)@1:1 Q(a"b\c\n\t')@1:6 ;@1:20 $@1:21)"},
    {"single_quoted", R"(echo 'x "y" \'z\'';)", R"(W(echo)@1:1 Q(x "y" 'z')@1:6 ;@1:19 $@1:20)"},
    {"empty_string", "x \"\" '';", "W(x)@1:1 Q()@1:3 Q()@1:6 ;@1:8 $@1:9"},
    {"utf8_columns", "echo \"服务器\"; x;",
     "W(echo)@1:1 Q(服务器)@1:6 ;@1:11 W(x)@1:13 ;@1:14 $@1:15"},
    {"utf8_word", "é ü;", "W(é)@1:1 W(ü)@1:3 ;@1:4 $@1:5"},
    {"multiline_string", "a 'b\nc' d;", "W(a)@1:1 Q(b\\nc)@1:3 W(d)@2:4 ;@2:5 $@2:6"},
    {"crlf", "a b;\r\nc;\r\n", "W(a)@1:1 W(b)@1:3 ;@1:4 W(c)@2:1 ;@2:2 $@3:1"},
    {"tab_is_one_column", "\ta\tb;", "W(a)@1:2 W(b)@1:4 ;@1:5 $@1:6"},
    {"hash_inside_word", "a#b c;", "W(a#b)@1:1 W(c)@1:5 ;@1:6 $@1:7"},
    {"quote_inside_word", "ab\"c d;", "W(ab\"c)@1:1 W(d)@1:6 ;@1:7 $@1:8"},
    {"quoted_then_brace", "a \"b\"{}", "W(a)@1:1 Q(b)@1:3 {@1:6 }@1:7 $@1:8"},
    {"word_at_eof", "abc", "W(abc)@1:1 $@1:4"},
    {"dollar_words", "channel $arg_x;", "W(channel)@1:1 W($arg_x)@1:9 ;@1:15 $@1:16"},
    {"unterminated", "echo \"abc", "ERR 1:6 unterminated quoted string"},
    {"unterminated_multiline", "x 'a\n\nb", "ERR 1:3 unterminated quoted string"},
    {"escape_at_eof", "\"a\\", "ERR 1:1 unterminated quoted string"},
    {"invalid_escape", "x \"a\\q\";", "ERR 1:5 invalid escape \"\\q\""},
    {"invalid_escape_byte", "x \"\\\xc3\xa9\";", "ERR 1:4 invalid escape \"\\\" before byte 0xc3"},
    {"junk_after_quote", "\"a\"b;", "ERR 1:4 unexpected \"b\""},
    {"hash_after_quote", "x 'a'#c", "ERR 1:6 unexpected \"#\""},
    {"control_in_word", "a\001b;", "ERR 1:2 unexpected byte 0x01"},
    {"control_between", "a;\x7f", "ERR 1:3 unexpected byte 0x7f"},
    {"nul_in_word", "ab\0;"sv, "ERR 1:3 unexpected byte 0x00"},
    {"nul_in_string", "'a\0'"sv, "ERR 1:3 unexpected byte 0x00"},
    {"error_on_line_3", "a;\nb;\n  \"x\"y", "ERR 3:6 unexpected \"y\""},
};

} // namespace

Test(config_lexer, whole_input) {
    for (const Case& c : cases) {
        GuardedInput in(c.input);
        std::string got = lex_chunks({in.view()});
        cr_expect_str_eq(got.c_str(), c.want, "%s: whole", c.name);
    }
}

Test(config_lexer, byte_by_byte) {
    for (const Case& c : cases) {
        GuardedInput in(c.input);
        std::string got = lex_bytewise(in.view());
        cr_expect_str_eq(got.c_str(), c.want, "%s: byte by byte", c.name);
    }
}

Test(config_lexer, same_result_at_every_split) {
    for (const Case& c : cases) {
        GuardedInput in(c.input);
        std::string_view v = in.view();
        for (std::size_t cut = 0; cut <= v.size(); ++cut) {
            std::string got = lex_chunks({v.substr(0, cut), v.substr(cut)});
            cr_expect_str_eq(got.c_str(), c.want, "%s: split at %zu", c.name, cut);
        }
    }
}

Test(config_lexer, line_length_limit) {
    std::string ok(Lexer::max_line_length - 1, 'a');
    ok += ";\nb;";
    std::string want_ok = "W(" + std::string(Lexer::max_line_length - 1, 'a') +
                          ")@1:1 ;@1:" + std::to_string(Lexer::max_line_length) +
                          " W(b)@2:1 ;@2:2 $@2:3";
    GuardedInput in_ok(ok);
    cr_expect(lex_chunks({in_ok.view()}) == want_ok);
    cr_expect(lex_bytewise(in_ok.view()) == want_ok);

    std::string long_line = "x '" + std::string(Lexer::max_line_length, 'a') + "';";
    GuardedInput in_long(long_line);
    std::string want = "ERR 1:" + std::to_string(Lexer::max_line_length + 1) +
                       " line is too long (over " + std::to_string(Lexer::max_line_length) +
                       " bytes)";
    expect_str(lex_chunks({in_long.view()}), want);
    expect_str(lex_bytewise(in_long.view()), want);
}

Test(config_lexer, error_is_sticky) {
    Lexer lexer;
    std::vector<Token> out;
    cr_assert(lexer.feed("\"a\"b", out) == LexStatus::error);
    cr_expect(lexer.feed("c;", out) == LexStatus::error);
    cr_expect(lexer.finish(out) == LexStatus::error);
    cr_expect_eq(lexer.error().pos.col, 4u);
}
