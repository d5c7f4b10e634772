// libFuzzer target: the compound cursor of channel-list requests (include/push/cursor.hpp).
// Properties, for any bytes:
//  - parse_cursor never reads past its input; when it accepts, the text is canonical: writing
//    the entries back (8 hex digits, ".", 12 hex digits, "-", the decimal seq, joined by ",")
//    gives exactly the input, no two entries share a hash, there are 1..max_cursor_entries;
//  - resolve_list_resume gives one resume point per name: for an accepted cursor, the entry of
//    the name's hash (foreign when its epoch is 0), none when it has none; for "" none; for "0"
//    the start; for anything else foreign for every name;
//  - append_cursor_entry of any name round-trips through parse_cursor.
// Input layout: [name count u8 (mod 4)] then that many names, each ending at '\n' (cut at 128
// bytes), then the cursor text.
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_support.hpp"
#include "push/cursor.hpp"

namespace {

using namespace herald::push;
using herald::fuzz::require;

std::string written(const std::vector<CursorEntry>& entries) {
    std::string out;
    for (const CursorEntry& e : entries) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%s%08" PRIx32 ".%012" PRIx64 "-%" PRIu64,
                      out.empty() ? "" : ",", e.hash, e.epoch, e.seq);
        out += buf;
    }
    return out;
}

void check_resolve(std::string_view text, bool parsed, const std::vector<CursorEntry>& entries,
                   const std::vector<std::string>& names) {
    std::vector<std::optional<Cursor>> out;
    resolve_list_resume(text, names, out);
    require(out.size() == names.size(), "one resume point per name");
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (text.empty()) {
            require(!out[i], "empty: none");
        } else if (text == "0") {
            require(out[i] && !out[i]->foreign && out[i]->epoch == 0 && out[i]->seq == 0, "0");
        } else if (!parsed) {
            require(out[i] && out[i]->foreign, "not a cursor: foreign");
        } else {
            const std::uint32_t h = channel_hash(names[i]);
            const CursorEntry* e = nullptr;
            for (const CursorEntry& c : entries)
                if (c.hash == h) e = &c;
            if (!e) require(!out[i], "no entry: none");
            else if (e->epoch == 0) require(out[i] && out[i]->foreign, "epoch 0: foreign");
            else
                require(out[i] && !out[i]->foreign && out[i]->epoch == e->epoch &&
                            out[i]->seq == e->seq,
                        "entry of its hash");
        }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    if (in.empty()) return 0;
    const std::size_t count = static_cast<unsigned char>(in[0]) % 4;
    in.remove_prefix(1);
    std::vector<std::string> names;
    for (std::size_t i = 0; i < count; ++i) {
        const std::size_t nl = in.find('\n');
        names.emplace_back(in.substr(0, std::min<std::size_t>(nl, 128)));
        in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);
    }
    std::vector<CursorEntry> entries;
    bool parsed;
    {
        herald::fuzz::Piece piece(in);
        parsed = parse_cursor(piece.view(), entries);
    }
    if (parsed) {
        require(!entries.empty() && entries.size() <= max_cursor_entries, "entry count");
        require(written(entries) == in, "accepted text is canonical");
    }
    check_resolve(in, parsed, entries, names);

    std::string c;
    std::uint64_t seq = size;
    for (const std::string& n : names) append_cursor_entry(c, n, seq * 7919 & 0xffffffffffff, seq);
    if (!c.empty()) {
        std::vector<CursorEntry> back;
        // Two names of one hash make an ambiguous cursor, which is refused.
        bool distinct = true;
        for (std::size_t i = 0; i < names.size(); ++i)
            for (std::size_t j = 0; j < i; ++j)
                if (channel_hash(names[i]) == channel_hash(names[j])) distinct = false;
        require(parse_cursor(c, back) == distinct, "written cursor parses");
        if (distinct) require(written(back) == c, "round trip");
    }
    return 0;
}
