// Unit tests for SHA-256 (core/sha256.hpp) and HMAC-SHA256 (core/hmac.hpp): FIPS 180-4 /
// NIST vectors, RFC 4231 test cases 1-7, incremental updates at every split, and agreement
// with Python's hashlib/hmac and `openssl dgst` over random inputs of many lengths.
#include <criterion/criterion.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include "core/hmac.hpp"
#include "core/sha256.hpp"

using herald::equal_constant_time;
using herald::hmac_sha256;
using herald::Sha256;

namespace {

// Criterion's string assertions evaluate their arguments after temporaries die: compare
// named strings.
void expect_str(const std::string& got, const std::string& want, const std::string& what) {
    cr_assert(got == want, "%s: got \"%s\", want \"%s\"", what.c_str(), got.c_str(),
              want.c_str());
}

std::string hex(const Sha256::Digest& d, std::size_t n = Sha256::digest_size) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        out += digits[d[i] >> 4];
        out += digits[d[i] & 15];
    }
    return out;
}

std::string hex_bytes(std::string_view s) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (char c : s) {
        out += digits[static_cast<unsigned char>(c) >> 4];
        out += digits[static_cast<unsigned char>(c) & 15];
    }
    return out;
}

std::string random_bytes(std::mt19937& rng, std::size_t n) {
    std::string s(n, '\0');
    for (char& c : s)
        c = static_cast<char>(rng() & 0xFF);
    return s;
}

// Runs a shell command and returns its standard output (at most 1 MiB).
std::string run(const std::string& command) {
    FILE* p = popen(command.c_str(), "r");
    cr_assert_not_null(p, "popen(%s)", command.c_str());
    std::string out;
    char buf[4096];
    std::size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0 && out.size() < (1u << 20))
        out.append(buf, n);
    int rc = pclose(p);
    cr_assert_eq(rc, 0, "%s exited with %d", command.c_str(), rc);
    return out;
}

std::string temp_file(const std::string& contents) {
    char path[] = "/tmp/herald-sha256-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, contents.data(), contents.size()),
                 static_cast<ssize_t>(contents.size()));
    close(fd);
    return path;
}

struct HashCase {
    const char* name;
    std::string message;
    const char* digest;
};

// FIPS 180-4 examples (NIST CSRC "SHA256.pdf", "SHA2_Additional.pdf").
const HashCase nist[] = {
    {"empty", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"abc", "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"two blocks", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    {"896 bits",
     "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqr"
     "lmnopqrsmnopqrstnopqrstu",
     "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    {"one byte 0xbd", "\xbd", "68325720aabd7c82f30f554b313d0570c95accbb7dc4b5aae11204c08ffe732b"},
    {"four bytes", "\xc9\x8c\x8e\x55",
     "7abc22c0ae5af26ce93dbb94433a0e0b2e119d014f8e7f65bd56c61ccccd9504"},
    {"55 zero bytes", std::string(55, '\0'),
     "02779466cdec163811d078815c633f21901413081449002f24aa3e80f0b88ef7"},
    {"56 zero bytes", std::string(56, '\0'),
     "d4817aa5497628e7c77e6b606107042bbba3130888c5f47a375e6179be789fbb"},
    {"57 zero bytes", std::string(57, '\0'),
     "65a16cb7861335d5ace3c60718b5052e44660726da4cd13bb745381b235a1785"},
    {"64 zero bytes", std::string(64, '\0'),
     "f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a92759fb4b"},
    {"1000 zero bytes", std::string(1000, '\0'),
     "541b3e9daa09b20bf85fa273e5cbd3e80185aa4ec298e765db87742b70138a53"},
    {"1000 x 0x41", std::string(1000, 'A'),
     "c2e686823489ced2017f6059b8b239318b6364f6dcd835d0a519105a1eadd6e4"},
    {"1005 x 0x55", std::string(1005, 'U'),
     "f4d62ddec0f3dd90ea1380fa16a5ff8dc4c54b21740650f24afc4120903552b0"},
    {"million a", std::string(1000000, 'a'),
     "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
};

struct HmacCase {
    const char* name;
    std::string key;
    std::string data;
    const char* mac; // RFC 4231 §4: test case 5 gives only the first 128 bits
};

std::string range_bytes(int first, int last) {
    std::string s;
    for (int i = first; i <= last; ++i)
        s += static_cast<char>(i);
    return s;
}

const HmacCase rfc4231[] = {
    {"case 1", std::string(20, '\x0b'), "Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
    {"case 2", "Jefe", "what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
    {"case 3", std::string(20, '\xaa'), std::string(50, '\xdd'),
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
    {"case 4", range_bytes(1, 25), std::string(50, '\xcd'),
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
    {"case 5", std::string(20, '\x0c'), "Test With Truncation", "a3b6167473100ee06e0c796c2955552b"},
    {"case 6", std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
    {"case 7", std::string(131, '\xaa'),
     "This is a test using a larger than block-size key and a larger than block-size data. The "
     "key needs to be hashed before being used by the HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
};

// Lengths for the comparisons with the reference tools: 0..300 and the padding edges of
// one, two and many blocks.
std::vector<std::size_t> reference_lengths() {
    std::vector<std::size_t> v;
    for (std::size_t n = 0; n <= 300; ++n)
        v.push_back(n);
    for (std::size_t n : {447u, 448u, 511u, 512u, 513u, 1000u, 4095u, 4096u, 4097u})
        v.push_back(n);
    return v;
}

} // namespace

Test(sha256, nist_vectors) {
    for (const HashCase& c : nist)
        expect_str(hex(Sha256::hash(c.message)), c.digest, c.name);
}

Test(sha256, incremental_update_at_every_split_gives_the_same_digest) {
    for (const HashCase& c : nist) {
        if (c.message.size() > 1000)
            continue;
        for (std::size_t cut = 0; cut <= c.message.size(); ++cut) {
            Sha256 s;
            s.update(std::string_view(c.message).substr(0, cut));
            s.update(std::string_view(c.message).substr(cut));
            expect_str(hex(s.final()), c.digest, std::string(c.name) + " split at " + std::to_string(cut));
        }
        Sha256 s;
        for (char ch : c.message)
            s.update(std::string_view(&ch, 1));
        expect_str(hex(s.final()), c.digest, std::string(c.name) + " byte by byte");
    }
}

Test(sha256, final_resets_for_the_next_message) {
    Sha256 s;
    s.update("garbage");
    (void)s.final();
    s.update("abc");
    expect_str(hex(s.final()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
               "abc after reuse");
}

Test(hmac_sha256, rfc4231_cases_1_to_7) {
    for (const HmacCase& c : rfc4231) {
        std::string mac = hex(hmac_sha256(c.key, c.data));
        std::string want = c.mac;
        expect_str(mac.substr(0, want.size()), want, c.name);
    }
}

Test(hmac_sha256, equal_constant_time_compares_every_byte) {
    cr_assert(equal_constant_time("", ""));
    cr_assert(equal_constant_time("abc", "abc"));
    cr_assert_not(equal_constant_time("abc", "abd"));
    cr_assert_not(equal_constant_time("xbc", "abc"));
    cr_assert_not(equal_constant_time("abc", "abcd"));
    cr_assert_not(equal_constant_time(std::string_view("a\0c", 3), std::string_view("a\0d", 3)));
}

// Python's hashlib and hmac, one process for every input: each line "key message" in hex.
Test(sha256, agrees_with_python_hashlib_and_hmac_over_random_inputs, .timeout = 60.0) {
    std::mt19937 rng(20261205);
    std::string lines;
    std::vector<std::string> want;
    for (std::size_t n : reference_lengths()) {
        std::string msg = random_bytes(rng, n);
        std::string key = random_bytes(rng, rng() % 150);
        lines += hex_bytes(key) + " " + hex_bytes(msg) + "\n";
        want.push_back(hex(Sha256::hash(msg)) + " " + hex(hmac_sha256(key, msg)));
    }
    std::string path = temp_file(lines);
    std::string out = run(
        "/usr/bin/python3 -c 'import sys,hashlib,hmac\n"
        "for line in open(sys.argv[1]):\n"
        "    k, m = (bytes.fromhex(x) for x in line.split(\" \"))\n"
        "    print(hashlib.sha256(m).hexdigest(), hmac.new(k, m, hashlib.sha256).hexdigest())\n"
        "' " +
        path);
    unlink(path.c_str());
    std::size_t at = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
        std::size_t eol = out.find('\n', at);
        cr_assert_neq(eol, std::string::npos, "python gave %zu lines, want %zu", i, want.size());
        expect_str(out.substr(at, eol - at), want[i], "input " + std::to_string(i));
        at = eol + 1;
    }
}

// `openssl dgst` at the block edges (one process per input, so only a few lengths).
Test(sha256, agrees_with_openssl_dgst_at_block_edges, .timeout = 60.0) {
    std::mt19937 rng(4231);
    for (std::size_t n : {0u, 1u, 55u, 56u, 63u, 64u, 65u, 119u, 120u, 128u, 300u}) {
        std::string msg = random_bytes(rng, n);
        std::string key = random_bytes(rng, n % 2 == 0 ? 32 : 100);
        std::string path = temp_file(msg);
        std::string digest = run("openssl dgst -sha256 -r " + path);
        std::string mac =
            run("openssl dgst -sha256 -mac HMAC -macopt hexkey:" + hex_bytes(key) + " -r " + path);
        unlink(path.c_str());
        expect_str(digest.substr(0, 64), hex(Sha256::hash(msg)), "sha256 of " + std::to_string(n));
        expect_str(mac.substr(0, 64), hex(hmac_sha256(key, msg)), "hmac of " + std::to_string(n));
    }
}
