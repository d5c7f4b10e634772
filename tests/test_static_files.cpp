// Unit tests for static-file logic (http/static_files.hpp, http/response.hpp): byte ranges,
// ETag lists, conditional GET, HTTP dates, and the open-file cache's root containment.
#include <criterion/criterion.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/response.hpp"
#include "http/static_files.hpp"

using namespace herald;
using namespace herald::http;

namespace {
struct RangeCase {
    const char* name;
    const char* header;
    std::uint64_t size;
    ByteRange::Kind kind;
    std::uint64_t first, last;
};
const RangeCase range_cases[] = {
    {"simple", "bytes=2-5", 10, ByteRange::Kind::ok, 2, 5},
    {"open end", "bytes=7-", 10, ByteRange::Kind::ok, 7, 9},
    {"last past end is clamped", "bytes=7-100", 10, ByteRange::Kind::ok, 7, 9},
    {"suffix", "bytes=-3", 10, ByteRange::Kind::ok, 7, 9},
    {"suffix longer than file", "bytes=-30", 10, ByteRange::Kind::ok, 0, 9},
    {"first past end", "bytes=10-20", 10, ByteRange::Kind::unsatisfiable, 0, 0},
    {"zero suffix", "bytes=-0", 10, ByteRange::Kind::unsatisfiable, 0, 0},
    {"empty file", "bytes=0-", 0, ByteRange::Kind::unsatisfiable, 0, 0},
    {"several ranges ignored", "bytes=0-1,4-5", 10, ByteRange::Kind::none, 0, 0},
    {"other unit ignored", "items=0-1", 10, ByteRange::Kind::none, 0, 0},
    {"reversed ignored", "bytes=5-2", 10, ByteRange::Kind::none, 0, 0},
    {"garbage ignored", "bytes=a-b", 10, ByteRange::Kind::none, 0, 0},
    {"no dash ignored", "bytes=5", 10, ByteRange::Kind::none, 0, 0},
    {"overflow ignored", "bytes=99999999999999999999-", 10, ByteRange::Kind::none, 0, 0},
};
} // namespace

Test(static_files, parses_single_byte_ranges) {
    for (const RangeCase& c : range_cases) {
        ByteRange r = parse_range(c.header, c.size);
        cr_assert(r.kind == c.kind, "%s: kind", c.name);
        if (c.kind == ByteRange::Kind::ok) {
            cr_assert_eq(r.first, c.first, "%s: first", c.name);
            cr_assert_eq(r.last, c.last, "%s: last", c.name);
        }
    }
}

Test(static_files, etag_lists_match_weakly) {
    std::string etag = make_etag(0x5f00, 0x10);
    cr_assert_str_eq(etag.c_str(), "\"5f00-10\"");
    cr_assert(etag_list_matches("\"5f00-10\"", etag));
    cr_assert(etag_list_matches("\"a\", \"5f00-10\"", etag));
    cr_assert(etag_list_matches("W/\"5f00-10\"", etag));
    cr_assert(etag_list_matches("*", etag));
    cr_assert_not(etag_list_matches("\"5f00-11\"", etag));
    cr_assert_not(etag_list_matches("", etag));
}

Test(static_files, if_none_match_wins_over_if_modified_since) {
    std::string etag = make_etag(1000, 5);
    std::string later = http_date(2000), earlier = http_date(500);
    cr_assert(not_modified("", later, etag, 1000));
    cr_assert_not(not_modified("", earlier, etag, 1000));
    cr_assert_not(not_modified("\"other\"", later, etag, 1000));  // RFC 9110 §13.2.2
    cr_assert(not_modified(etag, earlier, etag, 1000));
    cr_assert_not(not_modified("", "not a date", etag, 1000));
    cr_assert_not(not_modified("", "", etag, 1000));
}

Test(static_files, http_dates_round_trip) {
    std::string date = http_date(784111777);  // a named string: the macro reads it lazily
    cr_assert_str_eq(date.c_str(), "Sun, 06 Nov 1994 08:49:37 GMT");
    cr_assert_eq(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
    cr_assert_eq(parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT"), -1);
}

// RFC 9110 §5.6.7: a recipient must accept the two obsolete forms as well.
Test(static_files, http_dates_in_every_form) {
    static const struct {
        const char* name;
        const char* date;
        std::time_t want;
    } cases[] = {
        {"imf", "Sun, 06 Nov 1994 08:49:37 GMT", 784111777},
        {"rfc850", "Sunday, 06-Nov-94 08:49:37 GMT", 784111777},
        {"asctime_one_digit_day", "Sun Nov  6 08:49:37 1994", 784111777},
        {"asctime_two_digit_day", "Thu Nov 10 08:49:37 1994", 784111777 + 4 * 86400},
        {"rfc850_recent", "Friday, 05-Dec-25 00:00:00 GMT", 1764892800},
        {"imf_no_gmt", "Sun, 06 Nov 1994 08:49:37", -1},
        {"imf_extra", "Sun, 06 Nov 1994 08:49:37 GMT ", -1},
        {"imf_bad_hour", "Sun, 06 Nov 1994 24:49:37 GMT", -1},
        {"imf_day_zero", "Sun, 00 Nov 1994 08:49:37 GMT", -1},
        {"rfc850_short_day", "Sun, 06-Nov-94 08:49:37 GMT", -1},
        {"asctime_no_pad", "Sun Nov 6 08:49:37 1994", -1},
        {"asctime_gmt", "Sun Nov  6 08:49:37 1994 GMT", -1},
        {"empty", "", -1},
        {"short", "Sun", -1},
    };
    for (const auto& c : cases)
        cr_expect_eq(parse_http_date(c.date), c.want, "%s: \"%s\" -> %lld", c.name, c.date,
                     static_cast<long long>(parse_http_date(c.date)));
}

// RFC 9110 §13.1.1, §13.1.4, §13.2.2: If-Match (strong), else If-Unmodified-Since -> 412.
Test(static_files, preconditions_if_match_then_if_unmodified_since) {
    std::string etag = make_etag(1000, 5);
    std::string later = http_date(2000), earlier = http_date(500);
    cr_expect_not(precondition_failed("", "", etag, 1000));
    cr_expect_not(precondition_failed(etag, "", etag, 1000));
    cr_expect_not(precondition_failed("\"x\", " + etag, "", etag, 1000));
    cr_expect_not(precondition_failed("*", "", etag, 1000));
    cr_expect(precondition_failed("\"x\"", "", etag, 1000));
    cr_expect(precondition_failed("W/" + etag, "", etag, 1000), "weak tags never match If-Match");
    cr_expect_not(precondition_failed("", later, etag, 1000));
    cr_expect(precondition_failed("", earlier, etag, 1000));
    cr_expect_not(precondition_failed("", "not a date", etag, 1000));
    cr_expect_not(precondition_failed(etag, earlier, etag, 1000), "If-Match wins");
    cr_expect(precondition_failed("", "Sunday, 06-Nov-94 08:49:37 GMT", etag, 800000000),
              "rfc850");
}

namespace {
std::string make_tree() {
    char tmpl[] = "/tmp/herald-static-XXXXXX";
    std::string dir = ::mkdtemp(tmpl);
    ::mkdir((dir + "/root").c_str(), 0755);
    ::mkdir((dir + "/root/sub").c_str(), 0755);
    auto write = [](const std::string& p, const char* s) {
        FILE* f = std::fopen(p.c_str(), "w");
        std::fputs(s, f);
        std::fclose(f);
    };
    write(dir + "/root/a.txt", "hello");
    write(dir + "/secret.txt", "secret");
    cr_assert_eq(::symlink((dir + "/secret.txt").c_str(), (dir + "/root/out").c_str()), 0);
    cr_assert_eq(::symlink((dir + "/root/a.txt").c_str(), (dir + "/root/in").c_str()), 0);
    return dir;
}
} // namespace

Test(static_files, cache_serves_inside_root_only) {
    std::string dir = make_tree();
    char real[4096];
    cr_assert(::realpath((dir + "/root").c_str(), real));
    std::string root = real;
    FileCache cache;
    ManualClock clock;
    std::shared_ptr<const FileInfo> info;
    cr_assert(cache.open(root, "/a.txt", clock.now(), info) == FileCache::Result::ok);
    cr_assert_eq(info->size, 5u);
    cr_assert(cache.open(root, "/in", clock.now(), info) == FileCache::Result::ok);
    cr_assert(cache.open(root, "/out", clock.now(), info) == FileCache::Result::forbidden);
    cr_assert(cache.open(root, "/nope", clock.now(), info) == FileCache::Result::not_found);
    cr_assert(cache.open(root, "/sub", clock.now(), info) == FileCache::Result::directory);
}

Test(static_files, cache_revalidates_after_its_period) {
    std::string dir = make_tree();
    char real[4096];
    cr_assert(::realpath((dir + "/root").c_str(), real));
    std::string root = real;
    FileCache cache(std::chrono::seconds(1));
    ManualClock clock;
    std::shared_ptr<const FileInfo> info;
    cr_assert(cache.open(root, "/a.txt", clock.now(), info) == FileCache::Result::ok);
    ::unlink((root + "/a.txt").c_str());
    cr_assert(cache.open(root, "/a.txt", clock.now(), info) == FileCache::Result::ok);  // cached
    clock.advance(std::chrono::milliseconds(1001));
    cr_assert(cache.open(root, "/a.txt", clock.now(), info) == FileCache::Result::not_found);
}

namespace {
int open_fds() {
    int n = 0;
    for (int fd = 0; fd < 4096; ++fd)
        if (::fcntl(fd, F_GETFD) != -1) ++n;
    return n;
}
std::string real_root(const std::string& dir) {
    char real[4096];
    cr_assert(::realpath((dir + "/root").c_str(), real));
    return real;
}
} // namespace

// A name longer than NAME_MAX is a file that does not exist, not a forbidden one.
Test(static_files, cache_name_too_long_is_not_found) {
    std::string root = real_root(make_tree());
    FileCache cache;
    ManualClock clock;
    std::shared_ptr<const FileInfo> info;
    std::string path = "/" + std::string(300, 'a');
    cr_assert(cache.open(root, path, clock.now(), info) == FileCache::Result::not_found);
    cr_assert(cache.open(root, path + "/b", clock.now(), info) == FileCache::Result::not_found);
}

// Out of fds: unavailable (503), not forbidden, and nothing cached.
Test(static_files, cache_out_of_fds_is_unavailable) {
    std::string root = real_root(make_tree());
    FileCache cache;
    ManualClock clock;
    std::shared_ptr<const FileInfo> info;
    // One successful open first: UBSan checks each dynamic type the first time it is used,
    // through a pipe, which needs an fd that this test is about to take away.
    cr_assert(cache.open(root, "/in", clock.now(), info) == FileCache::Result::ok);
    struct rlimit rl = {static_cast<rlim_t>(open_fds() + 8), static_cast<rlim_t>(open_fds() + 8)};
    cr_assert_eq(::setrlimit(RLIMIT_NOFILE, &rl), 0);
    std::vector<int> taken;  // every fd the limit still allows, gaps below it included
    for (int fd; (fd = ::dup(0)) >= 0;) taken.push_back(fd);
    cr_assert_eq(errno, EMFILE);
    FileCache::Result r = cache.open(root, "/a.txt", clock.now(), info);
    for (int fd : taken) ::close(fd);
    cr_assert(r == FileCache::Result::unavailable);
    cr_assert_eq(cache.size(), 1u);
}

// Expired entries (and their fds) go once a validity period has passed, and the cache never
// holds more than a share of the fd limit.
Test(static_files, cache_bounded_by_fd_limit_and_expiry) {
    std::string dir = make_tree();
    std::string root = real_root(dir);
    for (int i = 0; i < 300; ++i) {
        std::string p = root + "/f" + std::to_string(i);
        FILE* f = std::fopen(p.c_str(), "w");
        cr_assert(f);
        std::fclose(f);
    }
    struct rlimit rl = {512, 512};
    cr_assert_eq(::setrlimit(RLIMIT_NOFILE, &rl), 0);
    FileCache cache(std::chrono::seconds(1));
    ManualClock clock;
    int before = open_fds();
    for (int i = 0; i < 300; ++i) {
        std::shared_ptr<const FileInfo> info;
        cr_assert(cache.open(root, "/f" + std::to_string(i), clock.now(), info) ==
                  FileCache::Result::ok);
        cr_assert_leq(cache.size(), 512u / FileCache::fd_share);
    }
    cr_assert_leq(open_fds() - before, 128);
    clock.advance(std::chrono::milliseconds(1001));
    std::shared_ptr<const FileInfo> info;
    cr_assert(cache.open(root, "/a.txt", clock.now(), info) == FileCache::Result::ok);
    cr_assert_eq(cache.size(), 1u, "expired entries swept: %zu left", cache.size());
    info.reset();
    cr_assert_leq(open_fds() - before, 1);
}
