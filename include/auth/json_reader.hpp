// A small strict JSON reader (RFC 8259) for the flat objects of JWT headers and claims:
// the members of one top-level object, read one at a time, with string, number and
// string-array values; anything else is validated and skipped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace herald::auth {

// Nesting deeper than this inside a skipped value is an error (bounded recursion).
inline constexpr int json_max_depth = 16;

// A JSON number reduced to what NumericDate needs: the integer part (at most 18 digits, else
// too_long), its sign, and whether a non-zero fraction or an exponent followed.
struct JsonNumber {
    bool negative = false;
    std::int64_t integer = 0;
    bool fraction = false; // a non-zero fraction
    bool exponent = false;
    bool too_long = false; // more than 18 integer digits: integer is not their value
};

// The kind of a value, told by its first byte.
enum class JsonType : std::uint8_t { string, number, boolean, null, array, object, invalid };

// Reads `text`, which it does not own (it must outlive the reader). Errors are sticky:
// after the first one every call returns false and ok() is false. Strict: no comments, no
// trailing commas, no control characters in strings, no lone surrogates, nothing but
// whitespace after the object. Usage:
//     JsonReader r(text); std::string name;
//     while (r.next_member(name)) { if (name == "x") r.read_string(v); else r.skip_value(); }
//     if (!r.ok()) ...   // also false when the object was not read to its end
class JsonReader {
public:
    explicit JsonReader(std::string_view text) noexcept : text_(text) {}

    // Advances to the next member of the top-level object and reads its name. false at the
    // closing brace (then ok() says whether the whole text was one well-formed object) or
    // on an error.
    bool next_member(std::string& name);

    // The type of the current member's value from its first byte, without reading it (so a
    // caller can answer "X must be a string" rather than fail); invalid when no value starts
    // there or after an error. Reading or skipping the value still checks all of it.
    JsonType peek_type() noexcept;

    // Read the current member's value; false (and an error) if it has another type.
    bool read_string(std::string& out);
    bool read_number(JsonNumber& out);
    // An array of at most max_items strings.
    bool read_string_array(std::vector<std::string>& out, std::size_t max_items);
    bool skip_value();

    bool ok() const noexcept { return !failed_ && done_; }

private:
    bool fail() noexcept;
    void skip_whitespace() noexcept;
    bool expect(char c) noexcept;
    bool parse_string(std::string* out);
    bool parse_unicode_escape(std::string* out);
    bool parse_hex4(std::uint32_t& out) noexcept;
    bool parse_number(JsonNumber* out) noexcept;
    bool parse_literal(std::string_view word) noexcept;
    bool skip(int depth);

    std::string_view text_;
    std::size_t pos_ = 0;
    bool started_ = false;
    bool done_ = false;
    bool failed_ = false;
};

} // namespace herald::auth
