// Unit tests for base64url without padding (core/base64url.hpp): RFC 4648 §10 vectors,
// round trips of every length, strict rejection (padding, bad characters, impossible
// lengths, non-zero pad bits), and agreement with Python's base64.urlsafe_b64encode; and for
// the standard padded encoder append_base64: RFC 4648 §10 vectors and agreement with Python's
// base64.b64encode.
#include <criterion/criterion.h>

#include <cstdio>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include "core/base64url.hpp"

using herald::base64url_decode;
using herald::base64url_encode;

using herald::append_base64;

namespace {

// Criterion's string assertions evaluate their arguments after temporaries die: compare
// named strings.
void expect_str(const std::string& got, const std::string& want, const std::string& what) {
    cr_assert(got == want, "%s: got \"%s\", want \"%s\"", what.c_str(), got.c_str(),
              want.c_str());
}

struct Vector {
    const char* bytes;
    const char* text;
};

// RFC 4648 §10 without the padding, plus bytes that use '-' and '_'.
const Vector vectors[] = {
    {"", ""},          {"f", "Zg"},          {"fo", "Zm8"},        {"foo", "Zm9v"},
    {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}, {"\xfb\xff", "-_8"},
    {"\xff\xfe\xfd", "__79"},
};

struct Bad {
    const char* name;
    const char* text;
};

const Bad bad[] = {
    {"padding", "Zg=="},
    {"one pad", "Zm8="},
    {"full-block padding", "Zm9v===="},
    {"standard '+'", "+_8"},
    {"standard '/'", "-/8"},
    {"space", "Zm 9v"},
    {"newline", "Zm9v\n"},
    {"dot", "Zm9v."},
    {"length 1", "Z"},
    {"length 5", "Zm9vY"},
    {"non-zero pad bits, 2 chars", "Zh"},
    {"non-zero pad bits, 3 chars", "Zm9"},
    {"high byte", "Zm\xc3\xa9"},
};

} // namespace

Test(base64url, rfc4648_vectors) {
    for (const Vector& v : vectors) {
        std::string bytes = v.bytes;
        expect_str(base64url_encode(bytes), v.text, "encode");
        std::string out;
        cr_assert(base64url_decode(v.text, out), "decode %s", v.text);
        cr_assert(out == bytes, "decode %s", v.text);
    }
}

Test(base64url, rejects_what_is_not_canonical_unpadded_base64url) {
    for (const Bad& b : bad) {
        std::string out;
        cr_assert_not(base64url_decode(b.text, out), "%s", b.name);
    }
    std::string out;
    cr_assert_not(base64url_decode(std::string_view("Zm\0v", 4), out), "NUL");
}

Test(base64url, round_trips_random_bytes_of_every_length) {
    std::mt19937 rng(7515);
    for (std::size_t n = 0; n <= 300; ++n) {
        std::string bytes(n, '\0');
        for (char& c : bytes)
            c = static_cast<char>(rng() & 0xFF);
        std::string text = base64url_encode(bytes);
        cr_assert_eq(text.size(), herald::base64url_encoded_size(n), "length %zu", n);
        std::string back;
        cr_assert(base64url_decode(text, back), "length %zu", n);
        cr_assert(back == bytes, "length %zu", n);
    }
}

namespace {

// Runs Python's base64 module function `fn` over each byte string (one per line, hex) and
// returns its output lines, '=' stripped when strip_pad.
std::string python_base64(const std::vector<std::string>& inputs, const char* fn, bool strip_pad) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string hex_lines;
    for (const std::string& bytes : inputs) {
        for (char c : bytes) {
            hex_lines += digits[static_cast<unsigned char>(c) >> 4];
            hex_lines += digits[static_cast<unsigned char>(c) & 15];
        }
        hex_lines += "\n";
    }
    char path[] = "/tmp/herald-b64-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, hex_lines.data(), hex_lines.size()),
                 static_cast<ssize_t>(hex_lines.size()));
    close(fd);
    std::string cmd = std::string("/usr/bin/python3 -c 'import sys,base64\n"
                                  "for l in open(sys.argv[1]):\n"
                                  "    print(base64.") +
                      fn + "(bytes.fromhex(l.strip())).decode()" +
                      (strip_pad ? ".rstrip(\"=\")" : "") + ")\n' " + path;
    FILE* p = popen(cmd.c_str(), "r");
    cr_assert_not_null(p);
    std::string theirs;
    char buf[4096];
    std::size_t got;
    while ((got = fread(buf, 1, sizeof buf, p)) > 0)
        theirs.append(buf, got);
    cr_assert_eq(pclose(p), 0);
    unlink(path);
    return theirs;
}

std::vector<std::string> random_inputs(unsigned seed, std::size_t max_len) {
    std::mt19937 rng(seed);
    std::vector<std::string> inputs;
    for (std::size_t n = 0; n <= max_len; ++n) {
        std::string bytes(n, '\0');
        for (char& c : bytes)
            c = static_cast<char>(rng() & 0xFF);
        inputs.push_back(std::move(bytes));
    }
    return inputs;
}

} // namespace

Test(base64url, agrees_with_python_urlsafe_b64encode, .timeout = 30.0) {
    const std::vector<std::string> inputs = random_inputs(4648, 100);
    std::string ours;
    for (const std::string& bytes : inputs)
        ours += base64url_encode(bytes) + "\n";
    const std::string theirs = python_base64(inputs, "urlsafe_b64encode", true);
    cr_assert(theirs == ours, "python:\n%s\nherald:\n%s", theirs.c_str(), ours.c_str());
}

// RFC 4648 §10, padded, plus bytes that use '+' and '/'; appends after what out holds.
Test(base64, rfc4648_vectors) {
    const Vector padded[] = {
        {"", ""},           {"f", "Zg=="},        {"fo", "Zm8="},         {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}, {"\xfb\xff", "+/8="},
        {"\xff\xfe\xfd", "//79"},
    };
    for (const Vector& v : padded) {
        std::string out = "x";
        append_base64(out, v.bytes);
        expect_str(out, "x" + std::string(v.text), v.bytes);
        cr_assert_eq(out.size() - 1, herald::base64_encoded_size(std::string_view(v.bytes).size()));
    }
    std::string nul;
    append_base64(nul, std::string_view("\0\0\0\0", 4));
    expect_str(nul, "AAAAAA==", "NUL bytes");
}

Test(base64, agrees_with_python_b64encode, .timeout = 30.0) {
    std::vector<std::string> inputs = random_inputs(4, 200);
    inputs.push_back(std::string(3000, '\xff'));
    std::string ours;
    for (const std::string& bytes : inputs) {
        append_base64(ours, bytes);
        ours += "\n";
    }
    const std::string theirs = python_base64(inputs, "b64encode", false);
    cr_assert(theirs == ours, "python:\n%s\nherald:\n%s", theirs.c_str(), ours.c_str());
}
