// libFuzzer target: the DEFLATE compressor (deflate/deflater.hpp) against the decoder.
// Properties checked on every input:
//  - no crash, no sanitizer report;
//  - inflate(deflate(x)) == x at the fuzzer-chosen level, for a sync flush (the output ends
//    00 00 ff ff and the decoder waits at a block boundary) and for a finished stream (the
//    decoder reports the end exactly at the last byte);
//  - the output never grows past the stored-block bound (5 bytes per 64 KiB block plus the
//    flush), so incompressible data costs almost nothing extra;
//  - decoding the sync-flushed output fed in two pieces (fuzzer-chosen cut) gives x too.
// Input layout: [level u8][cut u16] then the bytes to compress.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "deflate/deflater.hpp"
#include "deflate/inflater.hpp"
#include "fuzz/fuzz_support.hpp"

namespace {

using herald::deflate::Deflater;
using herald::deflate::Flush;
using herald::deflate::Inflater;
using herald::deflate::InflateResult;
using herald::deflate::InflateStatus;
using herald::fuzz::require;

std::span<const std::uint8_t> bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    herald::fuzz::Input input(data, size);
    const int level = 1 + input.byte() % 9;
    const std::size_t raw_cut = input.u16();
    const std::string_view x = input.rest();
    const Deflater deflater(level);

    std::string synced;
    deflater.compress(bytes(x), synced, Flush::sync);
    require(synced.size() >= 5 && std::string_view(synced).substr(synced.size() - 4) ==
                                      std::string_view("\x00\x00\xff\xff", 4),
            "sync flush ends 00 00 ff ff");
    const std::size_t bound = x.size() + 5 * (x.size() / 65535 + 1) + 8;
    require(synced.size() <= bound, "output within the stored-block bound");
    {
        Inflater inf;
        std::string out;
        const InflateResult r = inf.inflate(bytes(synced), out, x.size());
        require(r.status == InflateStatus::need_more && r.consumed == synced.size(),
                "sync-flushed stream takes every byte");
        require(out == x, "inflate(deflate(x)) == x (sync)");
        require(inf.at_block_boundary(), "sync flush leaves a block boundary");
    }
    {
        const std::size_t cut = raw_cut % (synced.size() + 1);
        Inflater inf;
        std::string out;
        InflateResult r =
            inf.inflate(bytes(std::string_view(synced).substr(0, cut)), out, x.size());
        require(r.status == InflateStatus::need_more, "first piece: need_more");
        r = inf.inflate(bytes(std::string_view(synced).substr(cut)), out, x.size());
        require(r.status == InflateStatus::need_more && out == x, "split decode == x");
    }
    std::string finished;
    deflater.compress(bytes(x), finished, Flush::finish);
    Inflater inf;
    std::string out;
    const InflateResult r = inf.inflate(bytes(finished), out, x.size());
    require(r.status == InflateStatus::end_of_stream, "finished stream ends");
    require(r.consumed == finished.size(), "the end is the last byte");
    require(out == x, "inflate(deflate(x)) == x (finish)");
    return 0;
}
