// Incremental UTF-8 validator (RFC 3629 §4): byte classes + a 9-state DFA, ASCII fast path.
#include "ws/utf8.hpp"

#include <array>
#include <bit>
#include <cstring>

namespace herald::ws {
namespace {

// Byte classes: the columns of RFC 3629 §4's UTF8-octets grammar.
enum Class : std::uint8_t {
    ascii,      // 00..7F
    cont_8x,    // 80..8F
    cont_9x,    // 90..9F
    cont_ab,    // A0..BF
    never,      // C0, C1 (overlong 2-byte leads), F5..FF (beyond U+10FFFF)
    lead2,      // C2..DF
    lead_e0,    // E0: second byte A0..BF, else overlong
    lead3,      // E1..EC, EE, EF
    lead_ed,    // ED: second byte 80..9F, else a surrogate D800..DFFF
    lead_f0,    // F0: second byte 90..BF, else overlong
    lead4,      // F1..F3
    lead_f4,    // F4: second byte 80..8F, else above U+10FFFF
};
constexpr std::size_t class_count = 12;

// States. Each is stored as a bit offset (state * 6) into a packed 64-bit row, see rows.
enum State : std::uint8_t {
    accept,     // between code points
    reject,     // sticky
    need1,      // one continuation byte to go
    need2,
    need3,
    after_e0,
    after_ed,
    after_f0,
    after_f4,
};
constexpr std::size_t state_count = 9;

constexpr unsigned bits = 6;  // per packed state; 9 states * 6 bits fit in a word
constexpr std::uint8_t off(State st) { return static_cast<std::uint8_t>(st * bits); }

constexpr std::array<std::uint8_t, 256> make_classes() {
    std::array<std::uint8_t, 256> c{};
    for (int b = 0; b < 256; ++b) {
        Class k = never;
        if (b <= 0x7F) k = ascii;
        else if (b <= 0x8F) k = cont_8x;
        else if (b <= 0x9F) k = cont_9x;
        else if (b <= 0xBF) k = cont_ab;
        else if (b <= 0xC1) k = never;
        else if (b <= 0xDF) k = lead2;
        else if (b == 0xE0) k = lead_e0;
        else if (b == 0xED) k = lead_ed;
        else if (b <= 0xEF) k = lead3;
        else if (b == 0xF0) k = lead_f0;
        else if (b <= 0xF3) k = lead4;
        else if (b == 0xF4) k = lead_f4;
        c[static_cast<std::size_t>(b)] = k;
    }
    return c;
}

constexpr std::array<std::uint8_t, state_count * class_count> make_transitions() {
    std::array<std::uint8_t, state_count * class_count> t{};
    for (auto& x : t) x = reject;
    auto set = [&t](State from, Class c, State to) { t[from * class_count + c] = to; };
    set(accept, ascii, accept);
    set(accept, lead2, need1);
    set(accept, lead_e0, after_e0);
    set(accept, lead3, need2);
    set(accept, lead_ed, after_ed);
    set(accept, lead_f0, after_f0);
    set(accept, lead4, need3);
    set(accept, lead_f4, after_f4);
    for (Class c : {cont_8x, cont_9x, cont_ab}) {
        set(need1, c, accept);
        set(need2, c, need1);
        set(need3, c, need2);
    }
    set(after_e0, cont_ab, need1);
    set(after_ed, cont_8x, need1);
    set(after_ed, cont_9x, need1);
    set(after_f0, cont_9x, need2);
    set(after_f0, cont_ab, need2);
    set(after_f4, cont_8x, need2);
    return t;
}

// "Shift DFA": rows[b] packs, for every state s, the offset of the state that byte b leads
// to, at bit offset s. A step is `(rows[b] >> state) & 63`: the load depends only on the
// input byte, so the loop-carried chain is one shift and one mask per byte instead of a
// table load.
constexpr std::array<std::uint64_t, 256> make_rows() {
    constexpr auto classes = make_classes();
    constexpr auto transitions = make_transitions();
    std::array<std::uint64_t, 256> table{};
    for (std::size_t b = 0; b < 256; ++b)
        for (std::size_t st = 0; st < state_count; ++st) {
            std::uint64_t next = transitions[st * class_count + classes[b]];
            table[b] |= (next * bits) << (st * bits);
        }
    return table;
}

constexpr auto rows = make_rows();
constexpr std::uint64_t high_bits = 0x8080808080808080ULL;

// Index of the first byte (in memory order) whose high bit is set in a nonzero mask.
inline unsigned first_high_byte(std::uint64_t m) noexcept {
    if constexpr (std::endian::native == std::endian::little)
        return static_cast<unsigned>(std::countr_zero(m)) / 8;
    else
        return static_cast<unsigned>(std::countl_zero(m)) / 8;
}

} // namespace

bool Utf8Validator::failed() const noexcept { return state_ == off(reject); }

bool Utf8Validator::feed(std::string_view chunk) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(chunk.data());
    const auto* end = p + chunk.size();
    std::uint64_t st = state_;
    if (st == off(reject)) return false;
    while (p != end) {
        if (st == off(accept) && *p < 0x80) {
            // Between code points, at an ASCII byte: skip ASCII a word at a time, landing on
            // the first non-ASCII byte of the word that has one. (Not tried when the next byte
            // is a lead byte: in non-Latin text that would cost a wasted load per character.)
            // 32 bytes a round while all of them are ASCII (four independent loads, one
            // test), then the word that holds the first non-ASCII byte is found below.
            while (end - p >= 32) {
                std::uint64_t w[4];
                std::memcpy(w, p, 32);
                if (((w[0] | w[1]) | (w[2] | w[3])) & high_bits) break;
                p += 32;
            }
            while (end - p >= 8) {
                std::uint64_t w;
                std::memcpy(&w, p, 8);
                if (std::uint64_t m = w & high_bits) {
                    p += first_high_byte(m);
                    break;
                }
                p += 8;
            }
            if (p == end) break;
        }
        st = (rows[*p++] >> st) & 63;
        if (st == off(reject)) break;
    }
    state_ = static_cast<std::uint8_t>(st);
    return st != off(reject);
}

bool valid_utf8(std::string_view bytes) noexcept {
    Utf8Validator v;
    return v.feed(bytes) && v.complete();
}

} // namespace herald::ws
