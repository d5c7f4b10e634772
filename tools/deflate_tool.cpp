// deflate_tool: herald's DEFLATE module on stdin/stdout, for the round trips against an
// independent implementation (Python's zlib, raw deflate) in tests/integration/test_deflate.py.
//
// Usage: deflate_tool compress LEVEL sync|finish   < raw > deflated
//        deflate_tool inflate LIMIT PIECE           < deflated > raw
//   inflate feeds the input PIECE bytes at a time (0 = whole) and exits 0 when the stream
//   ended or all input was taken (sync flush), 3 on invalid data, 4 when the output would pass
//   LIMIT bytes. Exit 2 on bad usage.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <span>
#include <string>
#include <string_view>

#include "deflate/deflater.hpp"
#include "deflate/inflater.hpp"

using namespace herald::deflate;

int main(int argc, char** argv) {
    if (argc != 4)
        return 2;
    const std::string_view mode = argv[1];
    const std::string in((std::istreambuf_iterator<char>(std::cin)),
                         std::istreambuf_iterator<char>());
    const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(in.data()),
                                              in.size());
    std::string out;
    int rc = 0;
    if (mode == "compress") {
        const std::string_view flush = argv[3];
        if (flush != "sync" && flush != "finish")
            return 2;
        Deflater(std::atoi(argv[2]))
            .compress(bytes, out, flush == "sync" ? Flush::sync : Flush::finish);
    } else if (mode == "inflate") {
        const auto limit = std::strtoull(argv[2], nullptr, 10);
        std::size_t piece = std::strtoull(argv[3], nullptr, 10);
        if (piece == 0)
            piece = bytes.size() + 1;
        Inflater inf;
        for (std::size_t at = 0; at < bytes.size() || at == 0; at += piece) {
            const auto part = bytes.subspan(at, std::min(piece, bytes.size() - at));
            const InflateResult r = inf.inflate(part, out, limit);
            if (r.status == InflateStatus::error)
                rc = 3;
            else if (r.status == InflateStatus::too_large)
                rc = 4;
            if (r.status != InflateStatus::need_more)
                break;
        }
    } else {
        return 2;
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    return rc;
}
