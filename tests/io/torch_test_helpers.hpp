// Test helpers for torch.save files: a pickle assembler that writes the opcodes torch.save emits
// (so that tests can state a hostile or unusual data.pkl byte by byte) and a writer of
// torch.save-shaped zip archives around it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "zip_test_helpers.hpp"

namespace genarm::testing {

// Opcodes as torch.save writes them (protocol 2): BINUNICODE, BININT / LONG1, GLOBAL, ...
inline std::string pk_u32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[static_cast<size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}
inline std::string pk_str(const std::string& s) { return "X" + pk_u32(static_cast<uint32_t>(s.size())) + s; }
inline std::string pk_int(int64_t v) {
  if (v >= INT32_MIN && v <= INT32_MAX) return "J" + pk_u32(static_cast<uint32_t>(static_cast<int32_t>(v)));
  std::string s = "\x8a\x08";
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff));
  return s;
}
inline std::string pk_ints(const std::vector<int64_t>& v) {
  std::string s = "(";
  for (const int64_t x : v) s += pk_int(x);
  return s + "t";
}
inline std::string pk_global(const std::string& module, const std::string& name) { return "c" + module + "\n" + name + "\n"; }
inline std::string pk_pid(const std::string& key, int64_t numel, const std::string& type = "FloatStorage") {
  return "(" + pk_str("storage") + pk_global("torch", type) + pk_str(key) + pk_str("cpu") + pk_int(numel) + "tQ";
}
inline const std::string kPkHooks = pk_global("collections", "OrderedDict") + ")R";
inline std::string pk_tensor(const std::string& key, int64_t numel, int64_t offset, const std::vector<int64_t>& shape,
                             const std::vector<int64_t>& stride, const std::string& type = "FloatStorage") {
  return pk_global("torch._utils", "_rebuild_tensor_v2") + "(" + pk_pid(key, numel, type) + pk_int(offset) +
         pk_ints(shape) + pk_ints(stride) + "\x89" + kPkHooks + "tR";
}
// {name: value, ...} as protocol 2 with SETITEMS.
inline std::string pk_dict(const std::vector<std::pair<std::string, std::string>>& items) {
  std::string s = "\x80\x02}(";
  for (const auto& [k, v] : items) s += pk_str(k) + v;
  return s + "u.";
}
inline const std::string kPkW = pk_tensor("0", 4, 0, {2, 2}, {2, 1});

// A torch.save-shaped archive: <prefix>/data.pkl, <prefix>/data/<key> for each storage, and
// <prefix>/version, stored with data descriptors and 64-byte aligned as torch writes them.
inline std::string torch_archive(const std::string& pickle, const std::map<std::string, std::string>& storages,
                                 const ZipBuildOptions& options = {}, const std::string& prefix = "archive") {
  std::vector<ZipBuildEntry> entries = {{prefix + "/data.pkl", pickle, 0, 8}};
  for (const auto& [key, bytes] : storages) entries.push_back({prefix + "/data/" + key, bytes, 0, 8});
  entries.push_back({prefix + "/version", "3\n", 0, 8});
  return build_zip(entries, options).bytes;
}

}  // namespace genarm::testing
