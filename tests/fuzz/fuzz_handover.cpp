// libFuzzer target: the records of a binary upgrade's hand-over socket (include/app/
// handover.hpp: listener, pid file, ready, end, channel, message and connection records), read
// by the new process from the old one. Properties, for any bytes:
//  - decode_record never reads past its input (libFuzzer's buffer and each prefix are
//    exact-size heap copies: ASan sees a read one byte past) and says need_more, error (with its reason) or done (with 8 <= consumed <= size);
//  - a done record's every prefix is need_more, never an error: header fields are checked as
//    their bytes arrive, so a valid record is never refused for arriving in pieces;
//  - the record is canonical: encoding what was decoded gives the same bytes after the
//    version field (the version is the one its type is written with), and decodes again to
//    the same record.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "app/handover.hpp"
#include "fuzz/fuzz_support.hpp"

namespace {

using namespace herald::app;
using herald::ParseStatus;
using herald::fuzz::require;

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    Record r;
    const RecordResult res = decode_record(in, r);
    if (res.status != ParseStatus::done) {
        require(res.consumed == 0, "consumed without a record");
        require((res.status == ParseStatus::error) == (res.error != RecordError::none),
                "an error without its reason, or a reason without an error");
        return 0;
    }
    require(res.error == RecordError::none, "done with an error");
    require(res.consumed >= handover_header_size && res.consumed <= size, "consumed out of range");
    const std::string_view record = in.substr(0, res.consumed);
    for (std::size_t cut : {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{3},
                            std::size_t{4}, handover_header_size - 1, handover_header_size,
                            res.consumed / 2, res.consumed - 1}) {
        if (cut >= res.consumed) continue;
        Record ignored;
        const herald::fuzz::Piece prefix(record.substr(0, cut));
        const RecordResult part = decode_record(prefix.view(), ignored);
        require(part.status == ParseStatus::need_more, "a prefix of a valid record refused");
    }
    const std::string again = encode_record(r);
    require(again.size() == record.size() && again.substr(2) == record.substr(2),
            "decoded record encodes to other bytes");
    Record r2;
    const RecordResult res2 = decode_record(again, r2);
    require(res2.status == ParseStatus::done && res2.consumed == again.size(),
            "an encoded record does not decode");
    require(encode_record(r2) == again, "decode(encode(r)) differs from r");
    return 0;
}
