// herald: strict JSON reading (RFC 8259 §2-§8) for JWT headers and claim sets.
#include "auth/json_reader.hpp"

#include "core/ascii.hpp"

namespace herald::auth {

namespace {

// The integer part of a NumericDate fits in 18 digits (int64 without overflow checks).
constexpr std::size_t max_integer_digits = 18;

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | cp >> 6);
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | cp >> 12);
        out += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | cp >> 18);
        out += static_cast<char>(0x80 | (cp >> 12 & 0x3F));
        out += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

} // namespace

bool JsonReader::fail() noexcept {
    failed_ = true;
    return false;
}

// RFC 8259 §2: ws = *( %x20 / %x09 / %x0A / %x0D )
void JsonReader::skip_whitespace() noexcept {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
        ++pos_;
}

bool JsonReader::expect(char c) noexcept {
    skip_whitespace();
    if (pos_ >= text_.size() || text_[pos_] != c)
        return fail();
    ++pos_;
    return true;
}

bool JsonReader::next_member(std::string& name) {
    if (failed_ || done_)
        return false;
    skip_whitespace();
    if (!started_) {
        started_ = true;
        if (!expect('{'))
            return false;
        skip_whitespace();
        if (pos_ < text_.size() && text_[pos_] == '}') {
            ++pos_;
        } else {
            return parse_string(&name) && expect(':');
        }
    } else {
        if (pos_ >= text_.size())
            return fail();
        char c = text_[pos_++];
        if (c == ',')
            return parse_string(&name) && expect(':');
        if (c != '}')
            return fail();
    }
    skip_whitespace();
    if (pos_ != text_.size())
        return fail();
    done_ = true;
    return false;
}

bool JsonReader::parse_hex4(std::uint32_t& out) noexcept {
    if (text_.size() - pos_ < 4)
        return fail();
    out = 0;
    for (int i = 0; i < 4; ++i) {
        const int v = ascii::hex_value(text_[pos_++]);
        if (v < 0)
            return fail();
        out = out << 4 | static_cast<std::uint32_t>(v);
    }
    return true;
}

// RFC 8259 §7: \uXXXX, with a surrogate pair for code points above U+FFFF; a lone
// surrogate is refused (it has no UTF-8 encoding).
bool JsonReader::parse_unicode_escape(std::string* out) {
    std::uint32_t cp;
    if (!parse_hex4(cp))
        return false;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return fail();
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        std::uint32_t low;
        if (text_.substr(pos_, 2) != "\\u")
            return fail();
        pos_ += 2;
        if (!parse_hex4(low) || low < 0xDC00 || low > 0xDFFF)
            return fail();
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    if (out != nullptr)
        append_utf8(*out, cp);
    return true;
}

bool JsonReader::parse_string(std::string* out) {
    skip_whitespace();
    if (out != nullptr)
        out->clear();
    if (pos_ >= text_.size() || text_[pos_] != '"')
        return fail();
    ++pos_;
    while (pos_ < text_.size()) {
        char c = text_[pos_++];
        if (c == '"')
            return true;
        if (static_cast<unsigned char>(c) < 0x20) // §7: control characters must be escaped
            return fail();
        if (c != '\\') {
            if (out != nullptr)
                *out += c;
            continue;
        }
        if (pos_ >= text_.size())
            return fail();
        char e = text_[pos_++];
        char decoded;
        switch (e) {
        case '"': decoded = '"'; break;
        case '\\': decoded = '\\'; break;
        case '/': decoded = '/'; break;
        case 'b': decoded = '\b'; break;
        case 'f': decoded = '\f'; break;
        case 'n': decoded = '\n'; break;
        case 'r': decoded = '\r'; break;
        case 't': decoded = '\t'; break;
        case 'u':
            if (!parse_unicode_escape(out))
                return false;
            continue;
        default: return fail();
        }
        if (out != nullptr)
            *out += decoded;
    }
    return fail();
}

// RFC 8259 §6: number = [ minus ] int [ frac ] [ exp ]; int = zero / ( digit1-9 *DIGIT )
bool JsonReader::parse_number(JsonNumber* out) noexcept {
    skip_whitespace();
    JsonNumber n;
    if (pos_ < text_.size() && text_[pos_] == '-') {
        n.negative = true;
        ++pos_;
    }
    std::size_t start = pos_;
    while (pos_ < text_.size() && is_digit(text_[pos_])) {
        if (pos_ - start < max_integer_digits)
            n.integer = n.integer * 10 + (text_[pos_] - '0');
        ++pos_;
    }
    std::size_t digits = pos_ - start;
    if (digits == 0 || (digits > 1 && text_[start] == '0'))
        return fail();
    n.too_long = digits > max_integer_digits;
    if (pos_ < text_.size() && text_[pos_] == '.') {
        ++pos_;
        std::size_t frac_start = pos_;
        for (; pos_ < text_.size() && is_digit(text_[pos_]); ++pos_)
            n.fraction = n.fraction || text_[pos_] != '0';
        if (pos_ == frac_start)
            return fail();
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
        n.exponent = true;
        ++pos_;
        if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-'))
            ++pos_;
        std::size_t exp_start = pos_;
        while (pos_ < text_.size() && is_digit(text_[pos_]))
            ++pos_;
        if (pos_ == exp_start)
            return fail();
    }
    if (out != nullptr)
        *out = n;
    return true;
}

bool JsonReader::parse_literal(std::string_view word) noexcept {
    if (text_.substr(pos_, word.size()) != word)
        return fail();
    pos_ += word.size();
    return true;
}

bool JsonReader::skip(int depth) {
    if (depth > json_max_depth)
        return fail();
    skip_whitespace();
    if (pos_ >= text_.size())
        return fail();
    char c = text_[pos_];
    if (c == '"')
        return parse_string(nullptr);
    if (c == 't')
        return parse_literal("true");
    if (c == 'f')
        return parse_literal("false");
    if (c == 'n')
        return parse_literal("null");
    if (c == '-' || is_digit(c))
        return parse_number(nullptr);
    if (c != '[' && c != '{')
        return fail();
    const char close = c == '[' ? ']' : '}';
    ++pos_;
    skip_whitespace();
    if (pos_ < text_.size() && text_[pos_] == close) {
        ++pos_;
        return true;
    }
    for (;;) {
        if (close == '}' && !(parse_string(nullptr) && expect(':')))
            return false;
        if (!skip(depth + 1))
            return false;
        skip_whitespace();
        if (pos_ >= text_.size())
            return fail();
        char next = text_[pos_++];
        if (next == close)
            return true;
        if (next != ',')
            return fail();
    }
}

JsonType JsonReader::peek_type() noexcept {
    if (failed_) return JsonType::invalid;
    skip_whitespace();
    if (pos_ >= text_.size()) return JsonType::invalid;
    switch (text_[pos_]) {
    case '"': return JsonType::string;
    case '{': return JsonType::object;
    case '[': return JsonType::array;
    case 't':
    case 'f': return JsonType::boolean;
    case 'n': return JsonType::null;
    default: return text_[pos_] == '-' || is_digit(text_[pos_]) ? JsonType::number : JsonType::invalid;
    }
}

bool JsonReader::read_string(std::string& out) { return !failed_ && parse_string(&out); }

bool JsonReader::read_number(JsonNumber& out) { return !failed_ && parse_number(&out); }

bool JsonReader::read_string_array(std::vector<std::string>& out, std::size_t max_items) {
    out.clear();
    if (!expect('['))
        return false;
    skip_whitespace();
    if (pos_ < text_.size() && text_[pos_] == ']') {
        ++pos_;
        return true;
    }
    for (;;) {
        if (out.size() == max_items)
            return fail();
        out.emplace_back();
        if (!parse_string(&out.back()))
            return false;
        skip_whitespace();
        if (pos_ >= text_.size())
            return fail();
        char next = text_[pos_++];
        if (next == ']')
            return true;
        if (next != ',')
            return fail();
    }
}

bool JsonReader::skip_value() { return !failed_ && skip(0); }

} // namespace herald::auth
