// OutputQueue: the bytes a connection still has to write, in order: its own strings, views
// of shared immutable bytes (a published message's encoding, kept alive by a shared_ptr),
// static views, and file ranges sent with sendfile(2). Flushed with writev/sendfile.
// Owns its chunks; not thread-safe (one connection, one loop thread).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

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
    void push(std::string bytes);
    // bytes must outlive the queue entry (string literals, long-lived tables).
    void push_static(std::string_view bytes);
    // bytes stay valid while keep is alive (e.g. a shared_ptr<const Message> and its encoding).
    void push_shared(std::shared_ptr<const void> keep, std::string_view bytes);
    void push_file(std::shared_ptr<const OpenFile> file, std::uint64_t offset, std::uint64_t length);

    bool empty() const noexcept { return head_ == chunks_.size(); }
    // Bytes held in memory for this queue (own strings only; shared and file bytes are not
    // copies, but they count against the connection's limit through pending_bytes()).
    std::size_t pending_bytes() const noexcept { return pending_; }
    // Total bytes successfully written since construction.
    std::uint64_t written() const noexcept { return written_; }

    // Writes as much as the socket takes. done = queue empty; would_block = socket full;
    // error = write failed (ec set; EPIPE/ECONNRESET are normal peer errors).
    IoStatus flush(int fd, std::error_code& ec);
    void clear() noexcept;

private:
    struct Chunk {
        std::string own;                     // own bytes (own_skip already written)
        std::size_t own_skip = 0;
        std::string_view view;               // remaining bytes of a shared or static chunk
        std::shared_ptr<const void> keep;
        std::shared_ptr<const OpenFile> file;
        std::uint64_t file_offset = 0, file_left = 0;
        // Offsets, not a view, for own bytes: a short string's bytes move with the Chunk.
        std::string_view bytes() const noexcept {
            return own.empty() ? view : std::string_view(own).substr(own_skip);
        }
        void advance(std::size_t n) noexcept {
            if (own.empty()) view.remove_prefix(n);
            else own_skip += n;
        }
    };
    void pop_front() noexcept;
    IoStatus flush_file(int fd, Chunk& c, std::error_code& ec);

    std::vector<Chunk> chunks_;  // chunks_[head_..] are pending
    std::size_t head_ = 0;
    std::size_t pending_ = 0;
    std::uint64_t written_ = 0;
};

} // namespace herald::net
