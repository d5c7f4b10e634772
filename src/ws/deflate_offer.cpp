// permessage-deflate negotiation (RFC 7692 §7.1): a small recursive-descent reader of the
// RFC 6455 §9.1 extension list, then the parameter rules of RFC 7692 §7.1.1-§7.1.2.
#include "ws/deflate_offer.hpp"

#include <array>
#include <utility>
#include <vector>

namespace herald::ws {
namespace {

// RFC 9110 §5.6.2 tchar.
constexpr std::array<bool, 256> make_tchar() {
    std::array<bool, 256> t{};
    for (int c = '0'; c <= '9'; ++c)
        t[static_cast<std::size_t>(c)] = true;
    for (int c = 'A'; c <= 'Z'; ++c)
        t[static_cast<std::size_t>(c)] = true;
    for (int c = 'a'; c <= 'z'; ++c)
        t[static_cast<std::size_t>(c)] = true;
    for (char c : std::string_view("!#$%&'*+-.^_`|~"))
        t[static_cast<unsigned char>(c)] = true;
    return t;
}
constexpr std::array<bool, 256> tchar = make_tchar();

struct Param {
    std::string_view name;
    std::string value;
    bool has_value = false;
};

struct Offer {
    std::string_view name;
    std::vector<Param> params;
};

// Reads the list; false on any syntax error.
class Reader {
public:
    explicit Reader(std::string_view s) noexcept : s_(s) {}

    bool offers(std::vector<Offer>& out) {
        for (;;) {
            skip_ows();
            if (at_end())
                return true;
            if (peek() == ',') { // empty list elements are allowed (RFC 9110 §5.6.1)
                ++i_;
                continue;
            }
            Offer o;
            if (!token(o.name))
                return false;
            for (;;) {
                skip_ows();
                if (at_end() || peek() == ',')
                    break;
                if (peek() != ';')
                    return false;
                ++i_;
                skip_ows();
                Param p;
                if (!token(p.name) || !value(p))
                    return false;
                o.params.push_back(std::move(p));
            }
            out.push_back(std::move(o));
        }
    }

private:
    bool at_end() const noexcept { return i_ >= s_.size(); }
    char peek() const noexcept { return s_[i_]; }
    void skip_ows() noexcept {
        while (!at_end() && (peek() == ' ' || peek() == '\t'))
            ++i_;
    }
    bool token(std::string_view& out) noexcept {
        const std::size_t start = i_;
        while (!at_end() && tchar[static_cast<unsigned char>(peek())])
            ++i_;
        out = s_.substr(start, i_ - start);
        return !out.empty();
    }
    // [ "=" ( token / quoted-string ) ], OWS allowed around "=" as browsers never send it but
    // RFC 6455 §9.1's implied *LWS permits it.
    bool value(Param& p) {
        skip_ows();
        if (at_end() || peek() != '=')
            return true;
        ++i_;
        skip_ows();
        p.has_value = true;
        if (!at_end() && peek() == '"')
            return quoted(p.value);
        std::string_view t;
        if (!token(t))
            return false;
        p.value = t;
        return true;
    }
    bool quoted(std::string& out) {
        ++i_;
        while (!at_end()) {
            char c = s_[i_++];
            if (c == '"')
                return true;
            if (c == '\\') {
                if (at_end())
                    return false;
                c = s_[i_++];
            }
            out.push_back(c);
        }
        return false;
    }

    std::string_view s_;
    std::size_t i_ = 0;
};

// RFC 7692 §7.1.2: 1*DIGIT without a leading zero, 8..15.
std::optional<std::uint8_t> window_bits(std::string_view v) noexcept {
    if (v.empty() || v.size() > 2 || v[0] == '0')
        return std::nullopt;
    unsigned n = 0;
    for (char c : v) {
        if (c < '0' || c > '9')
            return std::nullopt;
        n = n * 10 + static_cast<unsigned>(c - '0');
    }
    if (n < 8 || n > 15)
        return std::nullopt;
    return static_cast<std::uint8_t>(n);
}

std::optional<DeflateParams> accept(const Offer& o) {
    DeflateParams p;
    bool seen_snct = false, seen_cnct = false, seen_smwb = false, seen_cmwb = false;
    for (const Param& q : o.params) {
        auto once = [](bool& seen) { return !std::exchange(seen, true); };
        if (q.name == "server_no_context_takeover") {
            if (!once(seen_snct) || q.has_value)
                return std::nullopt;
        } else if (q.name == "client_no_context_takeover") {
            if (!once(seen_cnct) || q.has_value)
                return std::nullopt;
        } else if (q.name == "server_max_window_bits") {
            const auto bits = window_bits(q.value);
            if (!once(seen_smwb) || !bits)
                return std::nullopt;
            p.server_max_window_bits = *bits;
            p.server_window_bits_sent = true;
        } else if (q.name == "client_max_window_bits") {
            if (!once(seen_cmwb))
                return std::nullopt;
            if (q.has_value) { // without a value: the client merely supports the parameter
                const auto bits = window_bits(q.value);
                if (!bits)
                    return std::nullopt;
                p.client_max_window_bits = *bits;
                p.client_window_bits_sent = true;
            }
        } else {
            return std::nullopt; // §7.1: unknown parameter
        }
    }
    return p;
}

} // namespace

std::optional<DeflateParams> negotiate_deflate(std::string_view offers) {
    std::vector<Offer> list;
    if (!Reader(offers).offers(list))
        return std::nullopt;
    for (const Offer& o : list) {
        if (o.name != "permessage-deflate")
            continue;
        if (auto p = accept(o))
            return p;
    }
    return std::nullopt;
}

std::string deflate_response(const DeflateParams& p) {
    std::string s = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
    if (p.server_window_bits_sent)
        s += "; server_max_window_bits=" + std::to_string(p.server_max_window_bits);
    if (p.client_window_bits_sent)
        s += "; client_max_window_bits=" + std::to_string(p.client_max_window_bits);
    return s;
}

} // namespace herald::ws
