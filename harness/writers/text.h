// Text that every consumer can carry. A reason, a source citation, a stderr
// tail or an argv element can hold any byte (a scenario's child prints what it
// likes, a user passes what they like), but JSON needs valid UTF-8, XML 1.0
// forbids most control characters outright (even as `&#x1b;`), and a KTAP or
// TAP line ends at a newline and treats `#` as the start of a directive. These
// helpers replace what a format cannot carry, so no byte can abort a writer or
// make its consumer reject the whole file.
#pragma once

#include <string>
#include <string_view>

namespace aioh {

// The text with every invalid UTF-8 sequence (a stray byte, an overlong or
// truncated sequence, a surrogate, a code point past U+10FFFF) replaced by
// U+FFFD, one per maximal invalid subpart as Unicode recommends.
std::string valid_utf8(std::string_view s);

// Character data or an attribute value for XML 1.0: valid UTF-8, markup
// escaped, and every character outside XML's Char production (C0 controls
// except tab/newline/CR, U+FFFE, U+FFFF) replaced by its visible Control
// Pictures form (U+241B for ESC) or U+FFFD. In an attribute, tab, newline and
// CR are written as character references so they survive attribute
// normalisation.
std::string xml_text(std::string_view s, bool attribute);

// One line of KTAP/TAP text: valid UTF-8, control characters (newlines
// included) shown as Control Pictures, and `#` (which would start a directive)
// replaced by U+FF03 FULLWIDTH NUMBER SIGN.
std::string tap_line(std::string_view s);

}  // namespace aioh
