// Unit tests for the state of a channel-list request (push/list.hpp): where each channel
// stands (settle), which channel an answer-one strategy answers (pick_pending), the compound
// cursor of every position, and the per-channel missed signal.
#include <criterion/criterion.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "push/cursor.hpp"
#include "push/list.hpp"
#include "push/message.hpp"

using namespace std::chrono_literals;
using herald::push::Cursor;
using herald::push::ListEntry;
using herald::push::Message;
using herald::push::Target;

namespace {

constexpr std::uint64_t E = 0x0123456789ab;

std::shared_ptr<const Message> msg(const char* channel, std::uint64_t id, int at_ms) {
    auto m = std::make_shared<Message>(channel, "x", "text/plain");
    m->id = id;
    m->epoch = E;
    m->published_at = std::chrono::system_clock::time_point(std::chrono::milliseconds(at_ms));
    return m;
}

ListEntry entry(const char* channel, std::uint64_t last_id) {
    ListEntry e;
    e.channel = channel;
    e.history.epoch = E;
    e.history.last_id = last_id;
    return e;
}

} // namespace

Test(push_list, entries_take_their_resume_points) {
    Target t;
    t.channels = {"a", "b"};
    t.list_since = {Cursor{E, 4, false}, std::nullopt};
    const auto entries = herald::push::make_list_entries(t);
    cr_assert_eq(entries.size(), 2u);
    cr_assert(entries[0].since && entries[0].since->seq == 4);
    cr_assert_not(entries[1].since.has_value());
}

Test(push_list, settle_positions) {
    ListEntry up_to_date = entry("a", 7);
    herald::push::settle(up_to_date);
    cr_assert(up_to_date.epoch == E && up_to_date.seq == 7);

    ListEntry pending = entry("b", 9);
    pending.history.messages = {msg("b", 8, 1), msg("b", 9, 2)};
    herald::push::settle(pending);
    cr_assert_eq(pending.seq, 7u);  // before its first pending message

    // A missed signal still owed keeps the client's own point (foreign: epoch 0).
    ListEntry missed = entry("c", 9);
    missed.since = Cursor{0x0000000000aa, 3, false};
    missed.history.missed = true;
    missed.history.messages = {msg("c", 9, 1)};
    herald::push::settle(missed);
    cr_assert(missed.epoch == 0xaa && missed.seq == 3);
    missed.since = Cursor{0, 0, true};
    herald::push::settle(missed);
    cr_assert(missed.epoch == 0 && missed.seq == 0);

    std::vector<ListEntry> all = {up_to_date, pending, missed};
    const std::string c = herald::push::list_cursor(all);
    std::string want;
    herald::push::append_cursor_entry(want, "a", E, 7);
    herald::push::append_cursor_entry(want, "b", E, 7);
    herald::push::append_cursor_entry(want, "c", 0, 0);
    cr_assert_eq(c, want);
}

Test(push_list, picks_the_first_published_then_list_order_then_missed) {
    std::vector<ListEntry> es = {entry("a", 0), entry("b", 0), entry("c", 0)};
    cr_assert_eq(herald::push::pick_pending(es), std::string::npos);
    es[2].history.missed = true;
    cr_assert_eq(herald::push::pick_pending(es), 2u);  // nothing buffered, but missed
    es[1].history.messages = {msg("b", 1, 20)};
    es[2].history.messages = {msg("c", 1, 10)};
    cr_assert_eq(herald::push::pick_pending(es), 2u);
    es[0].history.messages = {msg("a", 1, 10)};
    cr_assert_eq(herald::push::pick_pending(es), 0u);  // a tie: list order
}

Test(push_list, missed_json_names_the_channel) {
    ListEntry e = entry("chat", 12);
    e.since = Cursor{E, 5, false};
    e.history.missed = true;
    e.history.first_id = 9;
    cr_assert_eq(herald::push::list_missed_json(e),
                 std::string("{\"channel\":\"chat\",\"since\":\"0123456789ab-5\","
                             "\"first\":\"0123456789ab-9\"}"));
}
