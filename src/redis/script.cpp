// Script digests and channel key names.
#include "redis/script.hpp"

#include <openssl/sha.h>

#include "core/ascii.hpp"

namespace herald::redis {

Script make_script(std::string_view source) {
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(source.data()), source.size(), digest);
    Script s{source, {}};
    s.sha1.reserve(2 * SHA_DIGEST_LENGTH);
    for (unsigned char b : digest) {
        s.sha1.push_back(ascii::lower_hex[b >> 4]);
        s.sha1.push_back(ascii::lower_hex[b & 0xF]);
    }
    return s;
}

std::string channel_key(std::string_view prefix, std::string_view channel,
                        std::string_view suffix) {
    std::string key;
    key.reserve(prefix.size() + channel.size() + suffix.size() + 2);
    key.append("{").append(prefix).append(channel).append("}").append(suffix);
    return key;
}

} // namespace herald::redis
