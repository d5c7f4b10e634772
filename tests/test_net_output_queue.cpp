// Unit tests for net/output_queue: own, static, shared and file chunks leave in order across
// partial writes (a socketpair with a small send buffer), what pending_bytes() counts, when
// shared bytes are released, and the errors a flush reports.
#include <criterion/criterion.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <system_error>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.hpp"
#include "core/histogram.hpp"
#include "core/unique_fd.hpp"
#include "net/output_queue.hpp"

using namespace herald;
using namespace herald::net;

namespace {

// A connected AF_UNIX stream pair: `ours` is non-blocking with a small send buffer, so a
// flush of a few hundred KiB stops part-way through a chunk many times.
struct Pair {
    UniqueFd ours, peer;
    Pair() {
        int sv[2];
        cr_assert_eq(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
        ours = UniqueFd(sv[0]);
        peer = UniqueFd(sv[1]);
        int small = 4096;
        cr_assert_eq(::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    }
    // Everything the peer can read now.
    std::string drain() const {
        std::string got;
        char buf[65536];
        for (;;) {
            ssize_t n = ::read(peer.get(), buf, sizeof buf);
            if (n <= 0) break;
            got.append(buf, static_cast<std::size_t>(n));
        }
        return got;
    }
};

// A regular file holding bytes, unlinked at once; the queue's OpenFile owns the fd.
std::shared_ptr<OpenFile> file_with(const std::string& bytes) {
    char path[] = "/tmp/herald_oq_XXXXXX";
    int fd = ::mkstemp(path);
    cr_assert(fd >= 0);
    ::unlink(path);
    cr_assert_eq(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    auto f = std::make_shared<OpenFile>();
    f->fd = fd;
    return f;
}

// n bytes of a pattern that does not repeat on any power-of-two boundary.
std::string pattern(std::size_t n, char seed) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i)
        s[i] = static_cast<char>('a' + (seed + i * 7 + i / 251) % 26);
    return s;
}

// Flushes until done, draining the peer between tries; returns what the peer received and
// counts the flushes that stopped part-way.
std::string flush_all(OutputQueue& q, const Pair& p, int& stops) {
    std::string got;
    for (int round = 0; round < 100000; ++round) {
        std::error_code ec;
        IoStatus st = q.flush(p.ours.get(), ec);
        cr_assert(st != IoStatus::error, "flush: %s", ec.message().c_str());
        got += p.drain();
        if (st == IoStatus::done) return got;
        ++stops;
    }
    cr_assert_fail("the queue never drained");
    return got;
}

} // namespace

Test(output_queue, every_kind_of_chunk_leaves_in_order_across_partial_writes, .timeout = 10.0) {
    Pair p;
    OutputQueue q;
    const std::string own1 = pattern(70'001, 1);
    auto shared = std::make_shared<const std::string>(pattern(150'003, 2));
    static const std::string_view literal = "static bytes between two files";
    const std::string file_bytes = pattern(200'017, 3);
    auto file = file_with(file_bytes);
    const std::string own2 = pattern(33'333, 4);

    q.push(own1);
    q.push_shared(shared, *shared);
    q.push_static(literal);
    q.push_file(file, 17, 120'000);  // a range, not the whole file
    q.push_file(file, 0, 5);         // two file chunks in a row
    q.push(own2);
    cr_expect_eq(shared.use_count(), 2, "the queue keeps the shared bytes alive");

    int stops = 0;
    std::string got = flush_all(q, p, stops);
    std::string want = own1 + *shared + std::string(literal) + file_bytes.substr(17, 120'000) +
                       file_bytes.substr(0, 5) + own2;
    cr_expect_gt(stops, 10, "the small send buffer split the flush (%d stops)", stops);
    cr_assert_eq(got.size(), want.size());
    cr_expect(got == want, "bytes arrive in queue order, each exactly once");
    cr_expect(q.empty());
    cr_expect_eq(q.written(), want.size());
    cr_expect_eq(q.pending_bytes(), 0u);
    cr_expect_eq(shared.use_count(), 1, "a written shared chunk is released");
    cr_expect_eq(file.use_count(), 1, "a written file chunk is released");
}

Test(output_queue, a_shared_chunk_stays_alive_while_part_of_it_is_unwritten, .timeout = 10.0) {
    Pair p;
    OutputQueue q;
    auto shared = std::make_shared<const std::string>(pattern(300'000, 5));
    q.push_shared(shared, *shared);
    std::error_code ec;
    cr_assert_eq(q.flush(p.ours.get(), ec), IoStatus::would_block);
    cr_expect_gt(q.written(), 0u);
    cr_expect_lt(q.written(), shared->size());
    cr_expect_eq(shared.use_count(), 2);
    cr_expect_eq(q.pending_bytes(), shared->size() - q.written());
    int stops = 0;
    std::string got = p.drain() + flush_all(q, p, stops);
    cr_expect(got == *shared);
    cr_expect_eq(shared.use_count(), 1);
}

Test(output_queue, pending_bytes_counts_memory_chunks_not_file_ranges, .timeout = 10.0) {
    OutputQueue q;
    auto file = file_with("0123456789");
    q.push("own");
    q.push_static("static");
    q.push_shared(std::make_shared<const int>(0), "shared");
    q.push_file(file, 0, 10);
    cr_expect_eq(q.pending_bytes(), 3u + 6u + 6u);
    q.push("");  // empty chunks are not queued
    q.push_file(file, 0, 0);
    cr_expect_eq(q.pending_bytes(), 15u);
    q.clear();
    cr_expect(q.empty());
    cr_expect_eq(q.pending_bytes(), 0u);
    cr_expect_eq(file.use_count(), 1, "clear() releases the file");
}

Test(output_queue, a_peer_that_closed_is_a_write_error, .timeout = 10.0) {
    Pair p;
    OutputQueue q;
    q.push("hello");
    p.peer.reset();
    std::error_code ec;
    cr_expect_eq(q.flush(p.ours.get(), ec), IoStatus::error);
    cr_expect(ec == std::errc::broken_pipe || ec == std::errc::connection_reset, "%s",
              ec.message().c_str());
}

Test(output_queue, a_file_shorter_than_its_range_is_an_error, .timeout = 10.0) {
    Pair p;
    OutputQueue q;
    q.push_file(file_with("short"), 0, 100);  // the file shrank after the range was queued
    std::error_code ec;
    cr_expect_eq(q.flush(p.ours.get(), ec), IoStatus::error);
    cr_expect(ec == std::errc::io_error, "%s", ec.message().c_str());
    cr_expect(p.drain() == "short", "what the file had was sent");
}

// Replies appended in a run share one buffer (one iovec, no allocation each), never behind a
// stamped delivery or a partly written chunk, and leave in order across partial writes.
Test(output_queue, appended_replies_share_buffers_and_leave_in_order, .timeout = 10.0) {
    Pair p;
    OutputQueue q;
    std::string want;
    int stops = 0;
    std::string got;
    for (std::size_t i = 0; i < 2000; ++i) {
        const std::string head = pattern(1 + i % 13, 'h');
        const std::string body = pattern(i * 37 % 5000, static_cast<char>(i));
        q.append(head, i % 3 == 0 ? "prefix:" : "", body);
        want += head + (i % 3 == 0 ? "prefix:" : "") + body;
        if (i % 500 == 499) {  // a static chunk between runs, then a partial write
            q.push_static("|static|");
            want += "|static|";
            std::error_code ec;
            cr_assert_eq(q.flush(p.ours.get(), ec), IoStatus::would_block);
            got += p.drain();
        }
    }
    cr_expect_eq(q.pending_bytes(), want.size() - q.written());
    cr_expect_lt(q.chunk_count(), 2000u / 2, "runs of appends share chunks (%zu for 2000)",
                 q.chunk_count());
    got += p.drain();
    got += flush_all(q, p, stops);
    cr_assert_eq(got.size(), want.size());
    cr_expect(got == want, "bytes arrive in append order, each exactly once");
    cr_expect_eq(q.pending_bytes(), 0u);
}

Test(output_queue, an_append_never_joins_a_stamped_or_partly_written_chunk, .timeout = 10.0) {
    OutputQueue q;
    Histogram latency;
    q.append("reply one", "", "");
    q.append("reply two", "", "");
    cr_expect_eq(q.chunk_count(), 1u, "two small replies share a chunk");
    q.stamp_delivery(Clock::system().now(), latency);
    q.append("after the stamp", "", "");
    cr_expect_eq(q.chunk_count(), 2u, "the stamped delivery ends where it was stamped");
    cr_expect_eq(q.pending_bytes(), 9u + 9u + 15u);

    Pair p;
    OutputQueue big;
    big.append(pattern(300'000, 9), "", "");
    std::error_code ec;
    cr_assert_eq(big.flush(p.ours.get(), ec), IoStatus::would_block);
    big.append("tail", "", "");
    cr_expect_eq(big.chunk_count(), 2u, "no append behind bytes a flush left half written");
    int stops = 0;
    std::string got = p.drain() + flush_all(big, p, stops);
    cr_expect(got == pattern(300'000, 9) + "tail");

    Pair p2;
    int stops2 = 0;
    std::string got2 = flush_all(q, p2, stops2);
    cr_expect(got2 == "reply onereply twoafter the stamp");
    cr_expect_eq(latency.snapshot().count, 1u, "the stamp was recorded once");
}

// append_space hands out the bytes append would have copied, in the same blocks; unappend
// takes the last ones back (a reply found invalid after it was written), dropping a block that
// held only them, and the counts follow.
Test(output_queue, append_space_is_written_in_place_and_unappend_takes_it_back, .timeout = 10.0) {
    std::atomic<std::uint64_t> total{0};
    OutputQueue q;
    q.count_into(&total);
    q.append("head:", "", "");
    char* at = q.append_space(6);
    std::memcpy(at, "body-1", 6);
    cr_expect_eq(q.chunk_count(), 1u, "behind the append, in its block");
    at = q.append_space(7);
    std::memcpy(at, "dropped", 7);
    q.unappend(7);
    cr_expect_eq(q.pending_bytes(), 11u);
    cr_expect_eq(total.load(), 11u);
    q.push_static("|static|");
    at = q.append_space(5);  // a block of its own after the static chunk
    std::memcpy(at, "gone!", 5);
    cr_expect_eq(q.chunk_count(), 3u);
    q.unappend(5);
    cr_expect_eq(q.chunk_count(), 2u, "a block that held only the taken-back bytes is dropped");
    cr_expect_eq(q.pending_bytes(), 19u);
    q.append("tail", "", "");
    Pair p;
    int stops = 0;
    std::string got = flush_all(q, p, stops);
    cr_expect(got == "head:body-1|static|tail", "%s", got.c_str());
    cr_expect_eq(total.load(), 0u);

    OutputQueue only;
    std::memcpy(only.append_space(3), "abc", 3);
    only.unappend(3);
    cr_expect(only.empty() && only.pending_bytes() == 0 && only.chunk_count() == 0);
    only.append("next", "", "");
    Pair p2;
    cr_expect(flush_all(only, p2, stops) == "next");
}

// What appends cost in memory: a run doubles the next chunk's room up to append_room (64 KiB),
// never more; every chunk but the last is full but for less than the reply that did not fit;
// a reply larger than append_room gets a chunk of its own size; a lone reply, 4 times its size.
Test(output_queue, appends_reserve_at_most_append_room_beyond_what_is_pending) {
    OutputQueue lone;
    lone.append(pattern(1000, 1));
    cr_expect_leq(lone.reserved_bytes(), 4000u, "a lone reply: %zu", lone.reserved_bytes());

    OutputQueue q;
    const std::string reply = pattern(100, 2);
    for (int i = 0; i < 10'000; ++i) q.append(reply);
    const std::size_t pending = q.pending_bytes();
    cr_assert_eq(pending, 1'000'000u);
    cr_expect_leq(q.reserved_bytes(), pending + OutputQueue::append_room + q.chunk_count() * 100,
                  "%zu reserved for %zu pending in %zu chunks", q.reserved_bytes(), pending,
                  q.chunk_count());
    cr_expect_leq(q.reserved_bytes(), q.chunk_count() * OutputQueue::append_room,
                  "no chunk above append_room");
    cr_expect_lt(q.chunk_count(), 30u, "the room doubled: %zu chunks", q.chunk_count());

    const std::size_t before = q.reserved_bytes();
    q.append(pattern(300'000, 3));  // larger than append_room: its own size, not twice
    cr_expect_leq(q.reserved_bytes() - before, 300'000u + 64u);
    cr_expect_geq(q.reserved_bytes() - before, 300'000u);
}
