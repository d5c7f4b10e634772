// libFuzzer target: HS256 JWT verification (include/auth/jwt.hpp), its JSON reader
// (include/auth/json_reader.hpp) and base64url (include/core/base64url.hpp). Properties, for
// any bytes:
//  - verify() of the bytes as a token never crashes; a token it accepts has only patterns
//    with a '*' at most at the end, and its signature is the HMAC of its first two parts;
//  - base64url: a decoded text encodes back to the same text (one encoding per byte string),
//    and any bytes encode to a text that decodes back to them;
//  - the bytes as the payload of a token signed with the verifier's key: verify() never says
//    malformed, bad header or bad signature (unless the payload is empty: an empty part is
//    malformed), and accepts it only if the payload is one JSON
//    object as the reader skips it.
// Input layout: the whole input is the token / payload (no parameters).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "auth/json_reader.hpp"
#include "auth/jwt.hpp"
#include "core/base64url.hpp"
#include "core/hmac.hpp"
#include "fuzz/fuzz_support.hpp"

namespace {

using namespace herald;
using herald::fuzz::require;

const std::string key = "fuzz-key-0123456789abcdef0123456789";

bool patterns_ok(const std::vector<std::string>& patterns) {
    for (const std::string& p : patterns) {
        std::size_t star = p.find('*');
        if (p.empty() || (star != std::string::npos && star + 1 != p.size()))
            return false;
    }
    return true;
}

bool is_one_object(std::string_view json) {
    auth::JsonReader r(json);
    std::string name;
    while (r.next_member(name))
        if (!r.skip_value())
            return false;
    return r.ok();
}

std::string sign(std::string_view header, std::string_view payload) {
    std::string input = base64url_encode(header) + "." + base64url_encode(payload);
    Sha256::Digest mac = hmac_sha256(key, input);
    return input + "." +
           base64url_encode({reinterpret_cast<const char*>(mac.data()), mac.size()});
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Piece piece(std::string_view(reinterpret_cast<const char*>(data), size));
    std::string_view in = piece.view();
    static const auth::JwtVerifier verifier = *auth::JwtVerifier::create(key, 30);
    constexpr std::int64_t now = 1700000000;

    auth::JwtClaims claims;
    if (verifier.verify(in, now, claims) == auth::JwtError::none) {
        require(patterns_ok(claims.channels) && patterns_ok(claims.publish),
                "accepted token has a bad pattern");
        std::size_t dot2 = in.rfind('.');
        std::string sig;
        require(base64url_decode(in.substr(dot2 + 1), sig), "accepted signature decodes");
        Sha256::Digest mac = hmac_sha256(key, in.substr(0, dot2));
        require(sig == std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()),
                "accepted signature is the HMAC");
    }

    std::string decoded;
    if (base64url_decode(in, decoded))
        require(base64url_encode(decoded) == in, "base64url decode/encode round trip");
    std::string back;
    require(base64url_decode(base64url_encode(in), back) && back == in,
            "base64url encode/decode round trip");

    if (!in.empty() && in.size() <= 4096) { // an empty part is malformed by design
        std::string token = sign(R"({"alg":"HS256"})", in);
        auth::JwtError e = verifier.verify(token, now, claims);
        require(e != auth::JwtError::malformed && e != auth::JwtError::bad_header &&
                    e != auth::JwtError::bad_signature && e != auth::JwtError::too_long,
                "signed token with any payload passes the signature check");
        if (e == auth::JwtError::none)
            require(is_one_object(in), "accepted payload is one JSON object");
    }
    return 0;
}
