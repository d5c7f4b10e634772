// Config lexer: splits nginx-style config text into words, quoted strings, ';', '{' and '}',
// each with its line and column. Incremental: text may arrive in chunks split anywhere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace herald::config {

// 1-based. Columns count UTF-8 code points, so they match what an editor shows.
struct Position {
    std::uint32_t line = 1;
    std::uint32_t col = 1;
};

struct Token {
    enum class Kind : std::uint8_t { word, quoted, semicolon, block_start, block_end, eof };
    Kind kind = Kind::eof;
    std::string text; // unescaped text of a word or quoted string; "" for the others
    Position pos;     // first byte of the token (the opening quote for a quoted string)
};

enum class LexStatus : std::uint8_t { need_more, done, error };

struct LexError {
    Position pos;
    std::string message; // without position, e.g. `invalid escape "\q"`
};

// Grammar (nginx's, with stricter strings):
//   - whitespace is space, tab, CR, LF; `#` at the start of a token runs to the end of the line;
//   - a word runs until whitespace, ';', '{' or '}' (quotes and '#' inside a word are literal);
//   - "..." and '...' may span lines and know the escapes \" \' \\ \n \t (others are errors);
//     the closing quote must be followed by whitespace, ';', '{', '}' or the end;
//   - NUL bytes and other control characters (except tab) are errors outside quoted strings,
//     NUL is an error inside them too; a line longer than max_line_length bytes is an error.
// Owns only its pending token text; tokens are handed to the caller by value.
class Lexer {
public:
    static constexpr std::size_t max_line_length = 64 * 1024;

    // Scans all of chunk, appending every token completed inside it to out.
    // Returns need_more, or error (then error() says why; feeding again keeps failing).
    LexStatus feed(std::string_view chunk, std::vector<Token>& out);
    // Ends the input: completes a pending word and appends the eof token.
    // Returns done, or error for an unterminated string or an earlier error.
    LexStatus finish(std::vector<Token>& out);

    const LexError& error() const noexcept { return error_; }

private:
    enum class State : std::uint8_t {
        between_tokens,
        comment,
        word,
        quoted,
        quoted_escape,
        after_quoted,
        failed
    };

    bool step(char c, std::vector<Token>& out);
    bool on_between_tokens(char c, std::vector<Token>& out);
    bool on_quoted_escape(char c);
    void emit(Token::Kind kind, std::vector<Token>& out);
    bool fail(Position at, std::string message);

    State state_ = State::between_tokens;
    char quote_ = 0;
    Position pos_;               // position of the next byte
    std::size_t line_bytes_ = 0; // bytes seen so far on the current line
    Position token_pos_;         // start of the pending word or string
    Position escape_pos_;        // the backslash of a pending escape
    std::string text_;
    LexError error_;
};

// Convenience for whole inputs: lexes text, appending tokens (ending with eof) to out.
LexStatus lex_all(std::string_view text, std::vector<Token>& out, LexError& error);

} // namespace herald::config
