// OutputQueue: the bytes a connection still has to write, in order: its own strings, views
// of shared immutable bytes (a published message's encoding, kept alive by a shared_ptr),
// static views, and file ranges sent with sendfile(2). Flushed with writev/sendfile.
// Owns its chunks; not thread-safe (one connection, one loop thread).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

#include "core/clock.hpp"
#include "core/histogram.hpp"

namespace herald::net {

// An open regular file shared by the open-file cache and queued responses.
struct OpenFile {
    int fd = -1;
    ~OpenFile();
    OpenFile() = default;
    OpenFile(const OpenFile&) = delete;
    OpenFile& operator=(const OpenFile&) = delete;
};

enum class IoStatus : std::uint8_t { done, would_block, error };

class OutputQueue {
public:
    OutputQueue() = default;
    ~OutputQueue() { clear(); }
    OutputQueue(const OutputQueue&) = delete;
    OutputQueue& operator=(const OutputQueue&) = delete;

    void push(std::string bytes);
    // Copies the parts, in order, behind the bytes of the last chunk when it is an append
    // block with room for them, else into a new block with room for more (4 times the parts,
    // or twice the last block while a run goes on; at most append_room, or the parts' size
    // when larger): a run of replies leaves in a few contiguous buffers, with no allocation
    // per reply. A block is never grown: each one before the last is full but for less than
    // the reply that did not fit, so what appends hold beyond pending_bytes() is at most that
    // per block plus the last block's room (tested:
    // appends_reserve_at_most_append_room_beyond_what_is_pending).
    void append(std::string_view a, std::string_view b = {}, std::string_view c = {});
    static constexpr std::size_t append_room = 64 * 1024;
    // Queues n bytes the way append would copy them and returns where they go: the caller
    // writes all n there before anything else is queued or flushed (a WebSocket echo unmasks
    // a payload straight into it).
    char* append_space(std::size_t n);
    // Takes back the last n bytes of the last append (or append_space): bytes the caller
    // found it must not send. Nothing may have been queued or flushed since.
    void unappend(std::size_t n) noexcept;
    // bytes must outlive the queue entry (string literals, long-lived tables).
    void push_static(std::string_view bytes);
    // bytes stay valid while keep is alive (e.g. a shared_ptr<const Message> and its encoding).
    void push_shared(std::shared_ptr<const void> keep, std::string_view bytes);
    void push_file(std::shared_ptr<const OpenFile> file, std::uint64_t offset, std::uint64_t length);
    // Marks the last queued chunk as the end of a delivery published at `published`: when its
    // last byte is handed to the socket, flush() records the time since then in latency (which
    // must outlive the queue entry). No-op on an empty queue.
    void stamp_delivery(Clock::time_point published, Histogram& latency) noexcept;
    // Keeps *total up to date with pending_bytes() (push adds, flush and clear subtract): the
    // owner's sum over all its queues, written by this queue's thread only (relaxed load and
    // store), readable from any. total must outlive the queue.
    void count_into(std::atomic<std::uint64_t>* total) noexcept { total_ = total; }

    bool empty() const noexcept { return head_ == chunks_.size(); }
    // Chunks still queued (what a flush hands writev as iovecs).
    std::size_t chunk_count() const noexcept { return chunks_.size() - head_; }
    // Bytes the queued own chunks (pushed strings, append blocks) hold allocated: pending own
    // bytes plus the room appends left. Walks the queue.
    std::size_t reserved_bytes() const noexcept;
    // Bytes queued in memory and not yet written: own strings, static and shared views (shared
    // bytes are not copies, but they count). File ranges are not counted. The connection's
    // output limits (output_queue_limit, ws_max_queue) are compared against this.
    std::size_t pending_bytes() const noexcept { return pending_; }
    // Total bytes successfully written since construction.
    std::uint64_t written() const noexcept { return written_; }

    // Writes as much as the socket takes. done = queue empty; would_block = socket full;
    // error = write failed (ec set; EPIPE/ECONNRESET are normal peer errors). now is the time
    // recorded for stamped deliveries that complete (the caller reads the clock once per
    // batch of flushes); the epoch means "read the clock if one completes".
    IoStatus flush(int fd, std::error_code& ec, Clock::time_point now = {});
    void clear() noexcept;

private:
    struct Chunk {
        std::string own;                     // pushed bytes (own_skip already written)
        std::size_t own_skip = 0;
        std::string_view view;               // remaining bytes of a shared, static or block chunk
        std::unique_ptr<char[]> block;       // appends' buffer: view covers its unwritten bytes
        std::size_t block_room = 0;          // block bytes behind view's end, free for appends
        std::shared_ptr<const void> keep;
        std::shared_ptr<const OpenFile> file;
        std::uint64_t file_offset = 0, file_left = 0;
        Histogram* latency = nullptr;        // stamped: the last chunk of a delivery
        Clock::time_point published{};
        // Offsets, not a view, for own bytes: a short string's bytes move with the Chunk.
        std::string_view bytes() const noexcept {
            return own.empty() ? view : std::string_view(own).substr(own_skip);
        }
        void advance(std::size_t n) noexcept {
            if (own.empty()) view.remove_prefix(n);
            else own_skip += n;
        }
    };
    void pop_front(Clock::time_point& now) noexcept;
    void sub_pending(std::size_t n) noexcept;
    void add_total(std::size_t n, bool up) noexcept;
    IoStatus flush_file(int fd, Chunk& c, std::error_code& ec, Clock::time_point& now);

    std::vector<Chunk> chunks_;  // chunks_[head_..] are pending
    std::size_t head_ = 0;
    std::size_t pending_ = 0;
    std::uint64_t written_ = 0;
    std::atomic<std::uint64_t>* total_ = nullptr;
};

} // namespace herald::net
