// GPT-2's reversible byte <-> printable-character mapping (bytes_to_unicode in the original
// encoder.py, `bytes_char` in HF tokenizers): printable Latin-1 bytes map to themselves, the 68
// others to U+0100.. in byte order, so that every byte sequence becomes visible text.
// Thread-safety: immutable tables, thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "genarm/core/utf8.hpp"

namespace genarm::tokenizer::detail {

struct ByteLevelTables {
  std::array<char32_t, 256> byte_to_char{};
  std::array<std::string, 256> byte_to_utf8{};
  std::array<int16_t, 0x144> char_to_byte{};  // -1 for characters outside the mapping

  ByteLevelTables() {
    char_to_byte.fill(-1);
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      byte_to_char[b] = printable ? b : next++;
    }
    for (uint32_t b = 0; b < 256; ++b) {
      utf8::append(byte_to_utf8[b], byte_to_char[b]);
      char_to_byte[byte_to_char[b]] = static_cast<int16_t>(b);
    }
  }
};

inline const ByteLevelTables& byte_level_tables() {
  static const ByteLevelTables tables;
  return tables;
}

// The byte a byte-level character stands for, or -1.
inline int byte_level_char_to_byte(char32_t c) {
  const auto& t = byte_level_tables();
  return c < t.char_to_byte.size() ? t.char_to_byte[c] : -1;
}

}  // namespace genarm::tokenizer::detail
