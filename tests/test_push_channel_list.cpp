// The channel list of a multiplexed request ("news,chat,ticker"): what split_channel_list takes,
// what it refuses, and the reason it gives.
#include <criterion/criterion.h>

#include <string>
#include <vector>

#include "push/strategy.hpp"

using herald::push::split_channel_list;

namespace {

std::vector<std::string> split_ok(std::string_view list, std::uint32_t max = 16) {
    std::vector<std::string> out;
    std::string why;
    cr_assert(split_channel_list(list, max, out, why), "refused \"%s\": %s",
              std::string(list).c_str(), why.c_str());
    return out;
}

std::string split_refused(std::string_view list, std::uint32_t max = 16) {
    std::vector<std::string> out;
    std::string why;
    cr_assert(!split_channel_list(list, max, out, why), "took \"%s\"", std::string(list).c_str());
    cr_assert(!why.empty());
    return why;
}

} // namespace

Test(push_channel_list, keeps_order_and_names) {
    auto v = split_ok("news,chat,ticker");
    cr_assert_eq(v.size(), 3u);
    cr_expect(v[0] == "news" && v[1] == "chat" && v[2] == "ticker");
    auto w = split_ok("a:b.c,x_y-z");
    cr_assert_eq(w.size(), 2u);
    cr_expect(w[0] == "a:b.c" && w[1] == "x_y-z");
    cr_expect_eq(split_ok("solo").size(), 1u);
}

Test(push_channel_list, refuses_empty_entries) {
    for (const char* l : {",a", "a,", "a,,b", ",", ""})
        cr_expect(split_refused(l).find("empty entry") != std::string::npos, "%s", l);
}

Test(push_channel_list, refuses_invalid_names) {
    for (const char* l : {"a,b c", "a,b/c", "a,..", "., a", "a,%2C"})
        cr_expect(split_refused(l).find("not a channel name") != std::string::npos, "%s", l);
    cr_expect(!split_refused("a," + std::string(129, 'x')).empty());
}

Test(push_channel_list, refuses_repeats) {
    cr_expect_eq(split_refused("a,b,a"), std::string("a channel list names \"a\" twice"));
}

Test(push_channel_list, bounded_by_max) {
    cr_expect_eq(split_ok("a,b,c", 3).size(), 3u);
    cr_expect_eq(split_refused("a,b,c,d", 3),
                 std::string("a channel list has more than 3 channels "
                             "(max_channels_per_connection)"));
    std::string many;
    for (int i = 0; i < 255; ++i) many += (i ? "," : "") + std::to_string(i);
    cr_expect_eq(split_ok(many, 255).size(), 255u);
    cr_expect(!split_refused(many + ",x", 255).empty());
}
