// Config lexer: a byte-at-a-time state machine, so chunk boundaries never matter.
#include "config/lexer.hpp"

#include <array>
#include <cstdio>

namespace herald::config {
namespace {

enum class CharClass : std::uint8_t {
    other,
    space,
    newline,
    semicolon,
    open,
    close,
    quote,
    hash,
    control
};

constexpr std::array<CharClass, 256> make_classes() {
    std::array<CharClass, 256> t{};
    for (int c = 0; c < 0x20; ++c) t[c] = CharClass::control;
    t[0x7f] = CharClass::control;
    t[' '] = CharClass::space;
    t['\t'] = CharClass::space;
    t['\r'] = CharClass::space;
    t['\n'] = CharClass::newline;
    t[';'] = CharClass::semicolon;
    t['{'] = CharClass::open;
    t['}'] = CharClass::close;
    t['"'] = CharClass::quote;
    t['\''] = CharClass::quote;
    t['#'] = CharClass::hash;
    return t;
}
constexpr std::array<CharClass, 256> char_classes = make_classes();

CharClass class_of(char c) noexcept { return char_classes[static_cast<unsigned char>(c)]; }

bool is_space(CharClass k) noexcept { return k == CharClass::space || k == CharClass::newline; }

// `unexpected ";"` for printable ASCII, `unexpected byte 0x01` otherwise.
std::string unexpected(char c) {
    auto u = static_cast<unsigned char>(c);
    char buf[32];
    if (u > 0x20 && u < 0x7f)
        std::snprintf(buf, sizeof buf, "unexpected \"%c\"", c);
    else
        std::snprintf(buf, sizeof buf, "unexpected byte 0x%02x", u);
    return buf;
}

Token::Kind punctuation_kind(CharClass k) noexcept {
    if (k == CharClass::semicolon) return Token::Kind::semicolon;
    return k == CharClass::open ? Token::Kind::block_start : Token::Kind::block_end;
}

bool is_punctuation(CharClass k) noexcept {
    return k == CharClass::semicolon || k == CharClass::open || k == CharClass::close;
}

} // namespace

LexStatus Lexer::feed(std::string_view chunk, std::vector<Token>& out) {
    for (char c : chunk) {
        if (state_ == State::failed) return LexStatus::error;
        if (c == '\n') {
            if (!step(c, out)) return LexStatus::error;
            ++pos_.line;
            pos_.col = 1;
            line_bytes_ = 0;
            continue;
        }
        if (++line_bytes_ > max_line_length) {
            fail(pos_, "line is too long (over " + std::to_string(max_line_length) + " bytes)");
            return LexStatus::error;
        }
        if (!step(c, out)) return LexStatus::error;
        // Continuation bytes of a UTF-8 sequence do not start a new column.
        if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++pos_.col;
    }
    return state_ == State::failed ? LexStatus::error : LexStatus::need_more;
}

LexStatus Lexer::finish(std::vector<Token>& out) {
    switch (state_) {
    case State::failed: return LexStatus::error;
    case State::quoted:
    case State::quoted_escape:
        fail(token_pos_, "unterminated quoted string");
        return LexStatus::error;
    case State::word: emit(Token::Kind::word, out); break;
    default: break;
    }
    state_ = State::between_tokens;
    out.push_back(Token{Token::Kind::eof, {}, pos_});
    return LexStatus::done;
}

bool Lexer::step(char c, std::vector<Token>& out) {
    CharClass k = class_of(c);
    switch (state_) {
    case State::between_tokens: return on_between_tokens(c, out);
    case State::comment:
        if (k == CharClass::newline) state_ = State::between_tokens;
        return true;
    case State::word:
        if (k == CharClass::control) return fail(pos_, unexpected(c));
        if (is_space(k) || is_punctuation(k)) {
            emit(Token::Kind::word, out);
            state_ = State::between_tokens;
            return on_between_tokens(c, out);
        }
        text_.push_back(c);
        return true;
    case State::quoted:
        if (c == quote_) {
            emit(Token::Kind::quoted, out);
            state_ = State::after_quoted;
        } else if (c == '\\') {
            escape_pos_ = pos_;
            state_ = State::quoted_escape;
        } else if (c == '\0') {
            return fail(pos_, unexpected(c));
        } else {
            text_.push_back(c);
        }
        return true;
    case State::quoted_escape: return on_quoted_escape(c);
    case State::after_quoted:
        if (!is_space(k) && !is_punctuation(k)) return fail(pos_, unexpected(c));
        state_ = State::between_tokens;
        return on_between_tokens(c, out);
    case State::failed: return false;
    }
    return false;
}

bool Lexer::on_between_tokens(char c, std::vector<Token>& out) {
    CharClass k = class_of(c);
    switch (k) {
    case CharClass::space:
    case CharClass::newline: return true;
    case CharClass::hash: state_ = State::comment; return true;
    case CharClass::control: return fail(pos_, unexpected(c));
    case CharClass::semicolon:
    case CharClass::open:
    case CharClass::close: out.push_back(Token{punctuation_kind(k), {}, pos_}); return true;
    case CharClass::quote:
        quote_ = c;
        token_pos_ = pos_;
        state_ = State::quoted;
        return true;
    case CharClass::other:
        token_pos_ = pos_;
        text_.push_back(c);
        state_ = State::word;
        return true;
    }
    return false;
}

bool Lexer::on_quoted_escape(char c) {
    char unescaped = 0;
    switch (c) {
    case '"': unescaped = '"'; break;
    case '\'': unescaped = '\''; break;
    case '\\': unescaped = '\\'; break;
    case 'n': unescaped = '\n'; break;
    case 't': unescaped = '\t'; break;
    default: {
        auto u = static_cast<unsigned char>(c);
        char buf[40];
        if (u > 0x20 && u < 0x7f)
            std::snprintf(buf, sizeof buf, "invalid escape \"\\%c\"", c);
        else
            std::snprintf(buf, sizeof buf, "invalid escape \"\\\" before byte 0x%02x", u);
        return fail(escape_pos_, buf);
    }
    }
    text_.push_back(unescaped);
    state_ = State::quoted;
    return true;
}

void Lexer::emit(Token::Kind kind, std::vector<Token>& out) {
    out.push_back(Token{kind, std::move(text_), token_pos_});
    text_.clear();
}

bool Lexer::fail(Position at, std::string message) {
    state_ = State::failed;
    error_ = LexError{at, std::move(message)};
    return false;
}

LexStatus lex_all(std::string_view text, std::vector<Token>& out, LexError& error) {
    Lexer lexer;
    LexStatus st = lexer.feed(text, out);
    if (st != LexStatus::error) st = lexer.finish(out);
    if (st == LexStatus::error) error = lexer.error();
    return st;
}

} // namespace herald::config
