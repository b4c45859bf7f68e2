// genarm::utf8 — decoding, encoding and validation of UTF-8 byte strings.
//
// Ill-formed input is handled the way Rust's String::from_utf8_lossy and the WHATWG encoding
// standard do it (which is what Hugging Face `tokenizers` returns from a decode): every *maximal
// subpart* of an ill-formed sequence (Unicode 15, section 3.9, "U+FFFD Substitution of Maximal
// Subparts") becomes one U+FFFD. For example "\xE6\x97" (a truncated 3-byte sequence) is one
// U+FFFD, while "\xC0\xAF" (two bytes that cannot start or continue anything) is two.
// Thread-safety: free functions without state, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace genarm::utf8 {

inline constexpr char32_t kReplacementChar = 0xFFFD;
inline constexpr std::string_view kReplacementUtf8 = "\xEF\xBF\xBD";
inline constexpr char32_t kMaxCodePoint = 0x10FFFF;

// One decoding step.
struct Decoded {
  char32_t code_point;  // the scalar value, or kReplacementChar when !valid
  uint32_t length;      // bytes consumed: the sequence, or the maximal ill-formed subpart (>= 1)
  bool valid;
};

namespace detail {
inline bool is_continuation(unsigned char b) { return (b & 0xC0) == 0x80; }
}  // namespace detail

namespace detail {
inline Decoded decode_multibyte(std::string_view s, size_t pos) noexcept {
  // Copy the (at most four) bytes of the sequence: the checks below then read a local array.
  unsigned char b[4] = {0, 0, 0, 0};
  const size_t avail = s.size() - pos < 4 ? s.size() - pos : 4;
  std::memcpy(b, s.data() + pos, avail);
  const auto cont = [&](size_t i) { return i < avail && detail::is_continuation(b[i]); };
  const Decoded bad1{kReplacementChar, 1, false};
  if (b[0] < 0x80) return {b[0], 1, true};
  if (b[0] < 0xC2) return bad1;  // a continuation byte, or an overlong 2-byte lead
  if (b[0] < 0xE0) {
    if (cont(1)) return {static_cast<char32_t>(((b[0] & 0x1F) << 6) | (b[1] & 0x3F)), 2, true};
    return bad1;
  }
  if (b[0] < 0xF0) {
    // The second byte's range excludes overlongs (E0) and surrogates (ED).
    const unsigned char lo = b[0] == 0xE0 ? 0xA0 : 0x80;
    const unsigned char hi = b[0] == 0xED ? 0x9F : 0xBF;
    if (avail < 2 || b[1] < lo || b[1] > hi) return bad1;
    if (!cont(2)) return {kReplacementChar, 2, false};
    return {static_cast<char32_t>(((b[0] & 0x0F) << 12) | ((b[1] & 0x3F) << 6) | (b[2] & 0x3F)),
            3, true};
  }
  if (b[0] < 0xF5) {
    // The second byte's range excludes overlongs (F0) and values above U+10FFFF (F4).
    const unsigned char lo = b[0] == 0xF0 ? 0x90 : 0x80;
    const unsigned char hi = b[0] == 0xF4 ? 0x8F : 0xBF;
    if (avail < 2 || b[1] < lo || b[1] > hi) return bad1;
    if (!cont(2)) return {kReplacementChar, 2, false};
    if (!cont(3)) return {kReplacementChar, 3, false};
    return {static_cast<char32_t>(((b[0] & 0x07) << 18) | ((b[1] & 0x3F) << 12) |
                                  ((b[2] & 0x3F) << 6) | (b[3] & 0x3F)),
            4, true};
  }
  return bad1;
}
}  // namespace detail

// Decodes the sequence that starts at s[pos]; requires pos < s.size().
inline Decoded decode(std::string_view s, size_t pos) noexcept {
  const auto b0 = static_cast<unsigned char>(s[pos]);
  if (b0 < 0x80) return {b0, 1, true};
  return detail::decode_multibyte(s, pos);
}

// Decodes a sequence already known to be well-formed (hot loops over validated text).
inline char32_t decode_valid(const char* p, uint32_t& length) noexcept {
  const auto b0 = static_cast<unsigned char>(p[0]);
  if (b0 < 0x80) {
    length = 1;
    return b0;
  }
  const auto b1 = static_cast<unsigned char>(p[1]) & 0x3Fu;
  if (b0 < 0xE0) {
    length = 2;
    return ((b0 & 0x1Fu) << 6) | b1;
  }
  const auto b2 = static_cast<unsigned char>(p[2]) & 0x3Fu;
  if (b0 < 0xF0) {
    length = 3;
    return ((b0 & 0x0Fu) << 12) | (b1 << 6) | b2;
  }
  length = 4;
  return ((b0 & 0x07u) << 18) | (b1 << 12) | (b2 << 6) | (static_cast<unsigned char>(p[3]) & 0x3Fu);
}

// Byte length of the sequence whose lead byte is `lead`, for well-formed text.
inline uint32_t sequence_length(unsigned char lead) noexcept {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

// Bytes needed to encode `cp` (surrogates and out-of-range values count as U+FFFD: 3).
inline uint32_t encoded_length(char32_t cp) noexcept {
  if (cp < 0x80) return 1;
  if (cp < 0x800) return 2;
  if (cp < 0x10000) return 3;
  if (cp <= kMaxCodePoint) return 4;
  return 3;
}

// Appends the UTF-8 encoding of `cp`; a surrogate or a value above U+10FFFF becomes U+FFFD.
inline void append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    const char bytes[2] = {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
    out.append(bytes, 2);
  } else if (cp < 0x10000) {
    if (cp >= 0xD800 && cp <= 0xDFFF) {
      out.append(kReplacementUtf8);
      return;
    }
    const char bytes[3] = {static_cast<char>(0xE0 | (cp >> 12)),
                           static_cast<char>(0x80 | ((cp >> 6) & 0x3F)),
                           static_cast<char>(0x80 | (cp & 0x3F))};
    out.append(bytes, 3);
  } else if (cp <= kMaxCodePoint) {
    const char bytes[4] = {static_cast<char>(0xF0 | (cp >> 18)),
                           static_cast<char>(0x80 | ((cp >> 12) & 0x3F)),
                           static_cast<char>(0x80 | ((cp >> 6) & 0x3F)),
                           static_cast<char>(0x80 | (cp & 0x3F))};
    out.append(bytes, 4);
  } else {
    out.append(kReplacementUtf8);
  }
}

inline std::string encode(char32_t cp) {
  std::string out;
  append(out, cp);
  return out;
}

// Offset of the first byte of the first ill-formed sequence, or std::string_view::npos.
inline size_t find_invalid(std::string_view s) noexcept {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    // ASCII runs dominate real text: test eight bytes at a time.
    while (i + 8 <= n) {
      uint64_t word;
      std::memcpy(&word, s.data() + i, 8);
      if (word & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= n) break;
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const Decoded d = decode(s, i);
    if (!d.valid) return i;
    i += d.length;
  }
  return std::string_view::npos;
}

inline bool is_valid(std::string_view s) noexcept { return find_invalid(s) == std::string_view::npos; }

// Appends `bytes` decoded leniently: each maximal ill-formed subpart becomes one U+FFFD.
inline void append_lossy(std::string& out, std::string_view bytes) {
  size_t i = 0;
  size_t run = 0;  // start of the current well-formed run, copied in one go
  while (i < bytes.size()) {
    if (static_cast<unsigned char>(bytes[i]) < 0x80) {
      ++i;
      continue;
    }
    const Decoded d = decode(bytes, i);
    if (d.valid) {
      i += d.length;
      continue;
    }
    out.append(bytes.substr(run, i - run));
    out.append(kReplacementUtf8);
    i += d.length;
    run = i;
  }
  out.append(bytes.substr(run));
}

inline std::string from_utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  append_lossy(out, bytes);
  return out;
}

// True when `s` ends with the encoding of U+FFFD.
inline bool ends_with_replacement(std::string_view s) noexcept {
  return s.size() >= 3 && s.substr(s.size() - 3) == kReplacementUtf8;
}

}  // namespace genarm::utf8
