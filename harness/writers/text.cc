// Replacing what a format cannot carry (see text.h).
#include "text.h"

#include <cstdint>

namespace aioh {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Decodes one code point at s[i]; advances i past it. Returns false (and
// advances past the maximal invalid subpart) for an invalid sequence.
bool decode(std::string_view s, size_t& i, uint32_t& cp) {
  auto b = static_cast<unsigned char>(s[i]);
  if (b < 0x80) {
    cp = b;
    i++;
    return true;
  }
  int len;
  uint32_t min, lo = 0x80, hi = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) len = 2, cp = b & 0x1F, min = 0x80;
  else if (b >= 0xE0 && b <= 0xEF) len = 3, cp = b & 0x0F, min = 0x800;
  else if (b >= 0xF0 && b <= 0xF4) len = 4, cp = b & 0x07, min = 0x10000;
  else {
    i++;
    return false;
  }
  // The second byte's range excludes overlongs, surrogates and > U+10FFFF.
  if (b == 0xE0) lo = 0xA0;
  if (b == 0xED) hi = 0x9F;
  if (b == 0xF0) lo = 0x90;
  if (b == 0xF4) hi = 0x8F;
  i++;
  for (int k = 1; k < len; k++) {
    if (i >= s.size()) return false;
    auto c = static_cast<unsigned char>(s[i]);
    if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF)) return false;
    cp = (cp << 6) | (c & 0x3F);
    i++;
  }
  return cp >= min;
}

template <typename Emit>
void each_code_point(std::string_view s, Emit emit) {
  size_t i = 0;
  while (i < s.size()) {
    uint32_t cp = 0;
    if (decode(s, i, cp)) emit(cp, true);
    else emit(0xFFFD, false);
  }
}

// U+2400..U+241F picture the C0 controls, U+2421 DEL.
uint32_t control_picture(uint32_t cp) { return cp == 0x7F ? 0x2421 : 0x2400 + cp; }

}  // namespace

std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  each_code_point(s, [&](uint32_t cp, bool ok) {
    if (ok) append_utf8(out, cp);
    else out += kReplacement;
  });
  return out;
}

std::string xml_text(std::string_view s, bool attribute) {
  std::string out;
  out.reserve(s.size());
  each_code_point(s, [&](uint32_t cp, bool) {
    switch (cp) {
      case '&': out += "&amp;"; return;
      case '<': out += "&lt;"; return;
      case '>': out += "&gt;"; return;
      case '"': out += attribute ? "&quot;" : "\""; return;
      case '\t': out += attribute ? "&#9;" : "\t"; return;
      case '\n': out += attribute ? "&#10;" : "\n"; return;
      case '\r': out += "&#13;"; return;
    }
    if (cp < 0x20 || cp == 0x7F) append_utf8(out, control_picture(cp));
    else if (cp == 0xFFFE || cp == 0xFFFF) out += kReplacement;
    else append_utf8(out, cp);
  });
  return out;
}

std::string tap_line(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  each_code_point(s, [&](uint32_t cp, bool) {
    if (cp < 0x20 || cp == 0x7F) append_utf8(out, control_picture(cp));
    else if (cp == '#') append_utf8(out, 0xFF03);
    else append_utf8(out, cp);
  });
  return out;
}

}  // namespace aioh
