// RESP2/RESP3 reply parser and command encoder (see the header for the grammar's sources).
#include "redis/resp.hpp"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

namespace herald::redis {
namespace {

// "[-]digits" (and an optional '+' where RESP3 allows it), whole line, within int64.
bool parse_int(std::string_view s, bool allow_plus, std::int64_t& out) noexcept {
    if (allow_plus && s.size() > 1 && s[0] == '+')
        s.remove_prefix(1);
    if (s.empty() || s[0] == '+')
        return false;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && end == s.data() + s.size();
}

bool all_digits(std::string_view s) noexcept {
    if (s.empty())
        return false;
    for (char c : s)
        if (c < '0' || c > '9')
            return false;
    return true;
}

// RESP3: ,[+|-]<integral>[.<fractional>][<E|e>[sign]<exponent>] or inf, -inf, nan.
bool parse_double(std::string_view s, double& out) noexcept {
    if (s == "inf" || s == "+inf") {
        out = std::numeric_limits<double>::infinity();
        return true;
    }
    if (s == "-inf") {
        out = -std::numeric_limits<double>::infinity();
        return true;
    }
    if (s == "nan") {
        out = std::numeric_limits<double>::quiet_NaN();
        return true;
    }
    std::string_view rest = s;
    if (!rest.empty() && (rest[0] == '+' || rest[0] == '-'))
        rest.remove_prefix(1);
    std::size_t e = rest.find_first_of("eE");
    std::string_view mantissa = rest.substr(0, e);
    std::size_t dot = mantissa.find('.');
    if (!all_digits(mantissa.substr(0, dot)))
        return false;
    if (dot != std::string_view::npos && !all_digits(mantissa.substr(dot + 1)))
        return false;
    if (e != std::string_view::npos) {
        std::string_view exp = rest.substr(e + 1);
        if (!exp.empty() && (exp[0] == '+' || exp[0] == '-'))
            exp.remove_prefix(1);
        if (!all_digits(exp))
            return false;
    }
    // from_chars takes no '+' sign; the text is valid, so only the range can fail.
    std::string_view num = s[0] == '+' ? s.substr(1) : s;
    auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), out);
    if (ec == std::errc::result_out_of_range) {
        // Too large in magnitude: infinity; too small: zero (with its sign).
        const bool neg = num[0] == '-';
        const bool tiny = e != std::string_view::npos && rest[e + 1] == '-';
        out = tiny ? (neg ? -0.0 : 0.0)
                   : (neg ? -std::numeric_limits<double>::infinity()
                          : std::numeric_limits<double>::infinity());
        return true;
    }
    return ec == std::errc() && end == num.data() + num.size();
}

bool is_marker(char c) noexcept {
    switch (c) {
    case '+':
    case '-':
    case ':':
    case '$':
    case '*':
    case '_':
    case '#':
    case ',':
    case '(':
    case '!':
    case '=':
    case '%':
    case '~':
    case '|':
    case '>':
        return true;
    default:
        return false;
    }
}

} // namespace

const char* to_string(RespError e) noexcept {
    switch (e) {
    case RespError::none:
        return "no error";
    case RespError::bad_type:
        return "unknown type marker";
    case RespError::bad_line:
        return "CR or LF inside a line";
    case RespError::bad_integer:
        return "malformed integer";
    case RespError::bad_length:
        return "malformed length";
    case RespError::bad_terminator:
        return "bulk payload not followed by CRLF";
    case RespError::bad_double:
        return "malformed double";
    case RespError::bad_boolean:
        return "malformed boolean";
    case RespError::bad_null:
        return "malformed null";
    case RespError::bad_verbatim:
        return "malformed verbatim string";
    case RespError::line_too_long:
        return "line too long";
    case RespError::too_big:
        return "reply too big";
    case RespError::too_many_values:
        return "too many values in one reply";
    case RespError::too_deep:
        return "aggregates nested too deep";
    }
    return "?";
}

void RespParser::reset() noexcept {
    state_ = State::type;
    marker_ = 0;
    start_ = pos_ = 0;
    bulk_length_ = 0;
    complete_ = done_ = false;
    error_ = RespError::none;
    nodes_.clear();
    open_.clear();
    value_ = RespValue{};
}

ParseResult RespParser::fail(RespError e) noexcept {
    error_ = e;
    return {ParseStatus::error, 0, e};
}

ParseResult RespParser::feed(std::string_view in) {
    if (error_ != RespError::none)
        return {ParseStatus::error, 0, error_};
    if (done_)
        reset();
    while (!complete_) {
        if (pos_ > max_reply_bytes)
            return fail(RespError::too_big);
        switch (state_) {
        case State::type:
            if (pos_ >= in.size())
                return {};
            marker_ = in[pos_];
            if (!is_marker(marker_))
                return fail(RespError::bad_type);
            start_ = pos_++;
            state_ = State::line;
            break;
        case State::line: {
            // Look for the CR from where the last call stopped; a line's bytes are scanned once.
            const void* cr =
                pos_ < in.size() ? std::memchr(in.data() + pos_, '\r', in.size() - pos_) : nullptr;
            const std::size_t end = cr ? static_cast<const char*>(cr) - in.data() : in.size();
            if (end - start_ - 1 > max_line_length)
                return fail(RespError::line_too_long);
            if (cr == nullptr || end + 1 >= in.size()) {
                pos_ = end;
                return {};
            }
            if (in[end + 1] != '\n')
                return fail(RespError::bad_line);
            if (std::memchr(in.data() + start_ + 1, '\n', end - start_ - 1) != nullptr)
                return fail(RespError::bad_line);
            pos_ = end + 2;
            if (RespError e = on_line(in, end); e != RespError::none)
                return fail(e);
            break;
        }
        case State::bulk: {
            const auto len = static_cast<std::size_t>(bulk_length_);
            if (pos_ + len + 2 > max_reply_bytes)
                return fail(RespError::too_big);
            if (in.size() < pos_ + len + 2)
                return {};
            if (in[pos_ + len] != '\r' || in[pos_ + len + 1] != '\n')
                return fail(RespError::bad_terminator);
            Node n{RespType::bulk_string,
                   false,
                   static_cast<std::uint32_t>(pos_),
                   static_cast<std::uint32_t>(len),
                   0,
                   0,
                   false};
            if (marker_ == '!')
                n.type = RespType::bulk_error;
            if (marker_ == '=') {
                // RESP3: =<length>\r\n<3-byte format>:<text>\r\n
                if (len < 4 || in[pos_ + 3] != ':')
                    return fail(RespError::bad_verbatim);
                n.type = RespType::verbatim;
                n.offset += 4;
                n.length -= 4;
            }
            pos_ += len + 2;
            state_ = State::type;
            if (RespError e = add_value(n); e != RespError::none)
                return fail(e);
            break;
        }
        }
    }
    done_ = true;
    build(in, 0, value_);
    return {ParseStatus::done, pos_, RespError::none};
}

// The line of the value starting at start_ ends at line_end (its CR), already checked.
RespError RespParser::on_line(std::string_view in, std::size_t line_end) {
    const std::string_view line = in.substr(start_ + 1, line_end - start_ - 1);
    Node n{RespType::simple_string,
           false,
           static_cast<std::uint32_t>(start_ + 1),
           static_cast<std::uint32_t>(line.size()),
           0,
           0,
           false};
    state_ = State::type;
    switch (marker_) {
    case '+':
        break;
    case '-':
        n.type = RespType::error;
        break;
    case ':':
        n.type = RespType::integer;
        if (!parse_int(line, true, n.integer))
            return RespError::bad_integer;
        break;
    case '_':
        if (!line.empty())
            return RespError::bad_null;
        n.type = RespType::null;
        break;
    case '#':
        if (line != "t" && line != "f")
            return RespError::bad_boolean;
        n.type = RespType::boolean;
        n.boolean = line == "t";
        break;
    case ',':
        n.type = RespType::double_number;
        if (!parse_double(line, n.number))
            return RespError::bad_double;
        break;
    case '(': {
        n.type = RespType::big_number;
        std::string_view digits = line;
        if (!digits.empty() && (digits[0] == '+' || digits[0] == '-'))
            digits.remove_prefix(1);
        if (!all_digits(digits))
            return RespError::bad_integer;
        break;
    }
    case '$':
    case '!':
    case '=': {
        std::int64_t len = 0;
        if (!parse_int(line, false, len) || len < -1)
            return RespError::bad_length;
        if (len == -1) {
            if (marker_ != '$')
                return RespError::bad_length; // only RESP2 has a null bulk
            n.type = RespType::null;
            n.length = 0;
            break;
        }
        if (static_cast<std::uint64_t>(len) > max_bulk_length)
            return RespError::too_big;
        bulk_length_ = len;
        state_ = State::bulk;
        return RespError::none;
    }
    default: { // * % ~ | >
        std::int64_t count = 0;
        if (!parse_int(line, false, count) || count < -1)
            return RespError::bad_length;
        if (count == -1) {
            if (marker_ != '*')
                return RespError::bad_length; // only RESP2 has a null array
            n.type = RespType::null;
            n.length = 0;
            break;
        }
        if (static_cast<std::uint64_t>(count) > max_reply_values)
            return RespError::too_many_values;
        const RespType t = marker_ == '*'   ? RespType::array
                           : marker_ == '~' ? RespType::set
                           : marker_ == '>' ? RespType::push
                                            : RespType::map; // % and |: pairs
        const bool pairs = marker_ == '%' || marker_ == '|';
        const bool attribute = marker_ == '|';
        // An attribute is followed by the value it describes, read as its last child.
        return open_aggregate(t, attribute, (pairs ? 2 * count : count) + (attribute ? 1 : 0));
    }
    }
    return add_value(n);
}

RespError RespParser::open_aggregate(RespType type, bool attribute, std::int64_t count) {
    if (nodes_.size() >= max_reply_values)
        return RespError::too_many_values;
    nodes_.push_back(Node{type, attribute, 0, 0, count, 0, false});
    if (count == 0) {
        close_finished();
        return RespError::none;
    }
    if (open_.size() >= max_nesting_depth)
        return RespError::too_deep;
    open_.push_back(Open{static_cast<std::uint32_t>(nodes_.size() - 1), count});
    return RespError::none;
}

RespError RespParser::add_value(const Node& n) {
    if (nodes_.size() >= max_reply_values)
        return RespError::too_many_values;
    nodes_.push_back(n);
    close_finished();
    return RespError::none;
}

// A value was completed: count it in its parent, closing every aggregate it completes.
void RespParser::close_finished() noexcept {
    while (!open_.empty()) {
        if (--open_.back().remaining > 0)
            return;
        open_.pop_back();
    }
    complete_ = true;
}

// Builds the value of node `at` (and its children) into out; returns the next node's index.
std::size_t RespParser::build(std::string_view in, std::size_t at, RespValue& out) const {
    const Node& n = nodes_[at++];
    if (n.attribute) {
        std::vector<RespValue> attrs(static_cast<std::size_t>(n.integer - 1));
        for (RespValue& a : attrs)
            at = build(in, at, a);
        at = build(in, at, out);
        out.attributes.insert(out.attributes.begin(), std::make_move_iterator(attrs.begin()),
                              std::make_move_iterator(attrs.end()));
        return at;
    }
    out.type = n.type;
    out.str = in.substr(n.offset, n.length);
    if (n.type == RespType::verbatim)
        out.format = in.substr(n.offset - 4, 3);
    out.number = n.number;
    out.boolean = n.boolean;
    if (n.type == RespType::integer)
        out.integer = n.integer;
    if (n.type == RespType::array || n.type == RespType::map || n.type == RespType::set ||
        n.type == RespType::push) {
        out.integer = 0;
        out.elements.resize(static_cast<std::size_t>(n.integer));
        for (RespValue& e : out.elements)
            at = build(in, at, e);
    }
    return at;
}

void encode_command(std::span<const std::string_view> args, Buffer& out) {
    char num[24];
    auto put_header = [&](char marker, std::size_t n) {
        num[0] = marker;
        auto [end, ec] = std::to_chars(num + 1, num + sizeof num - 2, n);
        (void)ec; // 20 digits always fit
        *end++ = '\r';
        *end++ = '\n';
        out.append(std::string_view(num, static_cast<std::size_t>(end - num)));
    };
    put_header('*', args.size());
    for (std::string_view a : args) {
        put_header('$', a.size());
        out.append(a);
        out.append("\r\n");
    }
}

} // namespace herald::redis
