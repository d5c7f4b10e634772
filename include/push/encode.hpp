// Pure escapers and validators behind the push encodings: JSON strings (RFC 8259 §7), JavaScript
// string literals that are safe inside an HTML <script> element (HTML §4.12.1.3), SSE data lines
// (HTML §9.2.6), HTTP/1.1 chunk framing (RFC 9112 §7.1), and the checks for channel names and
// ?callback= values (channel names: config::is_valid_channel_name). No allocation beyond growing the caller's output string.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace herald::push {

inline constexpr std::size_t max_callback = 128;
inline constexpr std::string_view default_callback = "herald_push";
inline constexpr std::string_view callback_prefix = "herald_";

// ?callback= must be "herald_" followed by [A-Za-z0-9_]+, at most 128 bytes in all
// ("herald_push", "herald_cb_3_x9z"). The frame calls parent.NAME(...): a single name with this
// prefix can only reach a function the embedding page defined for herald, never a built-in
// sink (eval, setTimeout, document.write, location.assign) through a dotted path or a bare
// global, whoever chose the URL.
bool is_valid_callback(std::string_view s) noexcept;

// Appends s escaped for the inside of a JSON string (no quotes are added). Escapes '"', '\\',
// U+0000..U+001F (short forms \b \f \n \r \t where they exist), and U+2028/U+2029 so the result
// is also a valid JavaScript literal. Each maximal ill-formed UTF-8 subpart becomes \ufffd.
void append_json_escaped(std::string& out, std::string_view s);

// Appends s escaped for the inside of a double- or single-quoted JavaScript string literal that
// sits in an HTML <script> element. Besides backslash (\\) and \n \r \t, these become \uXXXX:
// < > / & " ' U+0000..U+001F U+007F U+2028 U+2029, so "</script>", "<!--" and line terminators
// can never appear in the output. Ill-formed UTF-8 becomes \ufffd, as in append_json_escaped.
void append_js_escaped(std::string& out, std::string_view s);

// Appends one "data: LINE\n" per line of data, splitting on "\r\n", "\n" and "\r" (HTML §9.2.6
// line ends). An empty message and a trailing line end each give an empty "data: " line, so a
// client reassembles exactly data with every line end turned into "\n". Bytes are otherwise
// copied as they are (the client's UTF-8 decoder replaces ill-formed sequences).
void append_sse_data(std::string& out, std::string_view data);

void append_decimal(std::string& out, std::uint64_t v);


// Appends "HEX\r\n" + payload + "\r\n".
void append_chunk(std::string& out, std::string_view payload);

// The per-subscriber head of an iframe call, "<script>parent.CALLBACK", as one complete chunk
// when chunked (see Message::iframe_call for how it pairs with the shared tail). callback must
// have passed is_valid_callback(). Built once per subscriber, not per message.
std::string iframe_call_prefix(std::string_view callback, bool chunked);

} // namespace herald::push
