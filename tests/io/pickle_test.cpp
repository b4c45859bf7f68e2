#include "genarm/io/pickle.hpp"

#include <cstdint>
#include <string>
#include <vector>

#include "genarm/io/zip_archive.hpp"
#include "io_test_helpers.hpp"
#include "torch_test_helpers.hpp"

namespace genarm::io {
namespace {

using genarm::testing::fixtures_dir;
using genarm::testing::kPkHooks;
using genarm::testing::kPkW;
using genarm::testing::pk_dict;
using genarm::testing::pk_global;
using genarm::testing::pk_int;
using genarm::testing::pk_ints;
using genarm::testing::pk_pid;
using genarm::testing::pk_str;
using genarm::testing::pk_tensor;
using namespace std::string_literals;

std::span<const std::byte> pk_span(const std::string& s) { return {reinterpret_cast<const std::byte*>(s.data()), s.size()}; }

std::vector<TorchTensorRecord> pk_read(const std::string& pickle, const PickleLimits& limits = {}) {
  return read_torch_state_dict(pk_span(pickle), "p.pkl", limits);
}

void expect_pickle_refused(const std::string& pickle, ErrorCategory category, const std::vector<std::string>& fragments,
                           const PickleLimits& limits = {}) {
  try {
    (void)pk_read(pickle, limits);
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), category) << e.what();
    EXPECT_EQ(std::string(e.what()).rfind("p.pkl: ", 0), 0u) << e.what();
    for (const auto& f : fragments) {
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << "message '" << e.what() << "' lacks '" << f << "'";
    }
  }
}

// data.pkl of a committed torch.save fixture.
std::string fixture_pickle(const std::string& file) {
  const ZipArchive zip = ZipArchive::open(fixtures_dir() / "torch" / "small" / file);
  const std::string prefix = zip.entries().front().name.substr(0, zip.entries().front().name.find('/') + 1);
  const auto b = zip.data(prefix + "data.pkl");
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// --- what torch.save writes ---

TEST(TorchPickle, ReadsWhatTorchSaveWrote) {
  for (const char* file : {"small.bin", "protocol4.bin"}) {
    SCOPED_TRACE(file);
    const auto records = pk_read(fixture_pickle(file));
    ASSERT_EQ(records.size(), 10u);
    std::vector<std::string> names;
    for (const auto& r : records) names.push_back(r.name);
    EXPECT_EQ(names, (std::vector<std::string>{"a", "tied", "a_t", "half", "bf16", "scalar", "empty", "param", "slice",
                                               "expanded"}));
    const auto& a = records[0];
    EXPECT_EQ(a.dtype, DType::kF32);
    EXPECT_EQ(a.storage_numel, 6u);
    EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(a.stride, (std::vector<int64_t>{3, 1}));
    EXPECT_EQ(a.storage_offset, 0);
    // The same tensor object twice (memo), and a transposed view: one storage.
    EXPECT_EQ(records[1].storage_key, a.storage_key);
    EXPECT_EQ(records[1].pickle_offset, a.pickle_offset);
    EXPECT_EQ(records[2].storage_key, a.storage_key);
    EXPECT_EQ(records[2].shape, (std::vector<int64_t>{3, 2}));
    EXPECT_EQ(records[2].stride, (std::vector<int64_t>{1, 3}));
    EXPECT_EQ(records[3].dtype, DType::kF16);
    EXPECT_EQ(records[4].dtype, DType::kBF16);
    EXPECT_TRUE(records[5].shape.empty());
    EXPECT_TRUE(records[5].stride.empty());
    EXPECT_EQ(records[6].shape, (std::vector<int64_t>{0, 4}));
    EXPECT_EQ(records[7].shape, (std::vector<int64_t>{2}));  // nn.Parameter through _rebuild_parameter
    EXPECT_EQ(records[8].storage_offset, 5);
    EXPECT_EQ(records[8].stride, (std::vector<int64_t>{4, 1}));
    EXPECT_EQ(records[8].storage_numel, 12u);
    EXPECT_EQ(records[9].stride, (std::vector<int64_t>{0, 1}));
  }
}

TEST(TorchPickle, ReadsTheOtherRebuildFunctionsAndWideIntegers) {
  const std::string p = pk_tensor("0", 4, 0, {4}, {1});
  const auto records = pk_read(pk_dict({
      {"param", pk_global("torch._utils", "_rebuild_parameter_with_state") + "(" + p + "\x88" + kPkHooks + "}t" + "R"},
      {"typed", pk_global("torch._tensor", "_rebuild_from_type_v2") + "(" + pk_global("torch._utils", "_rebuild_tensor_v2") +
                    pk_global("torch", "Tensor") + "(" + pk_pid("1", 3) + pk_int(0) + pk_ints({3}) + pk_ints({1}) + "\x89" +
                    kPkHooks + "t}tR"},
      // A 7th argument (metadata), and an offset beyond 32 bits through LONG1.
      {"meta", pk_global("torch._utils", "_rebuild_tensor_v2") + "(" + pk_pid("2", int64_t{1} << 34) +
                   pk_int(int64_t{1} << 33) + pk_ints({2}) + pk_ints({1}) + "\x89" + kPkHooks + "}tR"},
  }));
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].shape, (std::vector<int64_t>{4}));
  EXPECT_EQ(records[1].storage_key, "1");
  EXPECT_EQ(records[2].storage_offset, int64_t{1} << 33);
  EXPECT_EQ(records[2].storage_numel, uint64_t{1} << 34);
  // BUILD on the state dict (nn.Module's _metadata) is accepted and ignored; plain DICT too.
  const auto built = pk_read("\x80\x02" + pk_global("collections", "OrderedDict") + ")R(" + pk_str("w") + kPkW + "u}" +
                             pk_str("_metadata") + "}sb.");
  EXPECT_EQ(built.size(), 1u);
  EXPECT_EQ(pk_read("\x80\x02(" + pk_str("w") + kPkW + "d.").size(), 1u);
}

TEST(TorchPickle, EveryTruncationIsAFormatError) {
  const std::string p = fixture_pickle("small.bin");
  for (size_t n = 0; n < p.size(); ++n) {
    try {
      (void)pk_read(p.substr(0, n));
      ADD_FAILURE() << "accepted a prefix of " << n << " bytes";
    } catch (const Error& e) {
      EXPECT_EQ(e.category(), ErrorCategory::kFormat) << e.what();
    }
  }
}

// --- nothing is ever run ---

TEST(TorchPickle, CodeRunningGlobalsAreRefusedByNameAndOffset) {
  const std::string call_it = pk_str("echo pwned") + "\x85R.";
  expect_pickle_refused("\x80\x02" + pk_global("os", "system") + call_it, ErrorCategory::kUnsupported,
                        {"p.pkl: byte 2: global 'os.system' is not allowed", "nothing in a checkpoint is ever imported or run"});
  expect_pickle_refused("\x80\x02}" + pk_global("posix", "system") + call_it, ErrorCategory::kUnsupported,
                        {"byte 3: global 'posix.system' is not allowed"});
  expect_pickle_refused("\x80\x02" + pk_global("builtins", "eval") + call_it, ErrorCategory::kUnsupported,
                        {"byte 2: global 'builtins.eval' is not allowed"});
  expect_pickle_refused("\x80\x02" + pk_global("__builtin__", "getattr") + call_it, ErrorCategory::kUnsupported,
                        {"global '__builtin__.getattr' is not allowed"});
  // STACK_GLOBAL builds the name from strings on the stack.
  expect_pickle_refused("\x80\x04\x8c\x0asubprocess\x94\x8c\x05Popen\x94\x93"s + call_it, ErrorCategory::kUnsupported,
                        {"byte 23: global 'subprocess.Popen' is not allowed"});
  // Similar-looking names are not on the list.
  expect_pickle_refused("\x80\x02" + pk_global("torch", "load") + call_it, ErrorCategory::kUnsupported,
                        {"global 'torch.load' is not allowed"});
  expect_pickle_refused("\x80\x02" + pk_global("torch._utils", "_rebuild_tensor_v2 ") + call_it, ErrorCategory::kUnsupported,
                        {"global 'torch._utils._rebuild_tensor_v2 ' is not allowed"});
  expect_pickle_refused("\x80\x02" + pk_global("__torch__.MyModule", "Net") + call_it, ErrorCategory::kUnsupported,
                        {"global '__torch__.MyModule.Net' is not allowed", "TorchScript archive"});
  // Whitelisted classes are tags, not callables.
  expect_pickle_refused("\x80\x02" + pk_global("torch", "FloatStorage") + ")R.", ErrorCategory::kUnsupported,
                        {"byte 23: REDUCE calls the class torch.FloatStorage, which is not allowed"});
  expect_pickle_refused("\x80\x02)" + std::string(")R."), ErrorCategory::kFormat, {"byte 4: REDUCE calls a tuple of 0, not a global"});
  expect_pickle_refused("\x80\x02" + pk_global("torch", "Tensor") + ")\x81.", ErrorCategory::kUnsupported,
                        {"NEWOBJ of the global torch.Tensor is not allowed"});
}

TEST(TorchPickle, OpcodesOutsideTheStateDictSetAreRefused) {
  expect_pickle_refused("\x80\x02(" + std::string("ios\nsystem\n") + pk_str("x") + ".", ErrorCategory::kUnsupported,
                        {"p.pkl: byte 3: pickle opcode INST (0x69) is not supported in a torch state dict"});
  expect_pickle_refused("\x80\x02(" + pk_global("os", "system") + "o.", ErrorCategory::kUnsupported, {"global 'os.system'"});
  expect_pickle_refused("\x80\x02(o.", ErrorCategory::kUnsupported, {"byte 3: pickle opcode OBJ (0x6f)"});
  expect_pickle_refused("\x80\x02\x82\x01.", ErrorCategory::kUnsupported, {"byte 2: pickle opcode EXT1 (0x82)"});
  expect_pickle_refused("\x80\x02P0\n.", ErrorCategory::kUnsupported, {"pickle opcode PERSID (0x50)"});
  expect_pickle_refused("\x80\x02\x8f.", ErrorCategory::kUnsupported, {"pickle opcode EMPTY_SET (0x8f)"});
  expect_pickle_refused("\x80\x02}\xff.", ErrorCategory::kFormat, {"p.pkl: byte 3: unknown pickle opcode 0xff"});
  expect_pickle_refused("\x80\x06}.", ErrorCategory::kUnsupported, {"byte 0: pickle protocol 6 (at most 5 exists)"});
}

// --- malformed pickles ---

TEST(TorchPickle, MalformedStreamsAreFormatErrors) {
  expect_pickle_refused("", ErrorCategory::kFormat, {"byte 0: the pickle ends without STOP"});
  expect_pickle_refused("\x80\x02.", ErrorCategory::kFormat, {"byte 2: STOP with 0 values on the stack (expected 1)"});
  expect_pickle_refused("\x80\x02}}.", ErrorCategory::kFormat, {"STOP with 2 values on the stack"});
  expect_pickle_refused("\x80\x02(}.", ErrorCategory::kFormat, {"STOP with 1 MARKs still open"});
  expect_pickle_refused("\x80\x02}.junk", ErrorCategory::kFormat, {"4 bytes after STOP"});
  expect_pickle_refused("\x80\x02(\x85.", ErrorCategory::kFormat, {"byte 3: TUPLE1 on an empty stack"});  // not across a MARK
  expect_pickle_refused("\x80\x02t.", ErrorCategory::kFormat, {"TUPLE without a MARK"});
  expect_pickle_refused("\x80\x02h\x05.", ErrorCategory::kFormat, {"byte 2: memo index 5 was never stored"});
  expect_pickle_refused("\x80\x02}(Nu.", ErrorCategory::kFormat, {"SETITEMS with an odd number (1) of keys and values"});
  expect_pickle_refused("\x80\x02](NNu.", ErrorCategory::kFormat, {"SETITEMS on a list, not a dict"});
  expect_pickle_refused("\x80\x02}Na.", ErrorCategory::kFormat, {"APPEND to a dict, not a list"});
  expect_pickle_refused("\x80\x02]Nb.", ErrorCategory::kFormat, {"BUILD on a list (only a dict or a tensor)"});
  expect_pickle_refused("\x80\x02X\xff\xff\xff\x7f", ErrorCategory::kFormat, {"BINUNICODE of 2147483647 bytes exceeds the limit"});
  expect_pickle_refused("\x80\x02X\x05\x00\x00\x00" "ab"s, ErrorCategory::kFormat,
                        {"BINUNICODE needs 5 bytes but the pickle has 2 left (truncated data.pkl?)"});
  expect_pickle_refused("\x80\x02X\x02\x00\x00\x00\xc3\x28."s, ErrorCategory::kFormat, {"BINUNICODE text is not valid UTF-8"});
  expect_pickle_refused("\x80\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01."s, ErrorCategory::kFormat,
                        {"LONG1 integer wider than 64 bits"});
  expect_pickle_refused("\x80\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x80\x00."s, ErrorCategory::kFormat,
                        {"LONG1 integer wider than 64 bits"});
  expect_pickle_refused("\x80\x02\x95\xff\x00\x00\x00\x00\x00\x00\x00}."s, ErrorCategory::kFormat, {"FRAME of 255 bytes, but 2 are left"});
  expect_pickle_refused("\x80\x02" + std::string("cos\nsystem"), ErrorCategory::kFormat,
                        {"GLOBAL name is not terminated by a newline"});
}

TEST(TorchPickle, WideIntegersDecodeExactly) {
  // LONG1 of 9 bytes whose top byte only extends the sign is still a 64-bit integer.
  const std::string minus_two = "\x8a\x09\xfe\xff\xff\xff\xff\xff\xff\xff\xff";
  expect_pickle_refused("\x80\x02" + pk_global("torch._utils", "_rebuild_tensor_v2") + "(" + pk_pid("0", 4) + minus_two +
                            pk_ints({1}) + pk_ints({1}) + "\x89" + kPkHooks + "tR.",
                        ErrorCategory::kFormat, {"_rebuild_tensor_v2: storage offset is an int -2"});
}

// --- the state dict's shape ---

TEST(TorchPickle, TheResultMustBeADictOfTensors) {
  expect_pickle_refused("\x80\x02]" + pk_str("w") + "a.", ErrorCategory::kFormat,
                        {"p.pkl: the pickle holds a list, not a state dict (a dict of tensors)"});
  expect_pickle_refused("\x80\x02}(K\x01" + kPkW + "u.", ErrorCategory::kFormat, {"state dict key an int 1 is not a tensor name"});
  expect_pickle_refused(pk_dict({{"epoch", "K\x03"}}), ErrorCategory::kFormat,
                        {"state dict entry 'epoch' is an int 3, not a tensor"});
  expect_pickle_refused(pk_dict({{"w", kPkW}, {"w", kPkW}}), ErrorCategory::kFormat, {"tensor 'w' appears twice"});
  // Persistent ids and rebuild arguments are type-checked.
  expect_pickle_refused("\x80\x02(" + pk_str("file") + pk_str("/etc/passwd") + "tQ.", ErrorCategory::kFormat,
                        {"persistent id a tuple of 2 is not ('storage', type, key, location, numel)"});
  expect_pickle_refused("\x80\x02(" + pk_str("storage") + pk_global("collections", "OrderedDict") + pk_str("0") + pk_str("cpu") +
                            pk_int(4) + "tQ.",
                        ErrorCategory::kFormat, {"persistent id storage type is the global collections.OrderedDict"});
  expect_pickle_refused("\x80\x02" + pk_pid("0", -1) + ".", ErrorCategory::kFormat, {"persistent id numel is an int -1, not a size"});
  expect_pickle_refused(pk_dict({{"a", pk_tensor("0", 4, 0, {2}, {1})}, {"b", pk_tensor("0", 5, 0, {2}, {1})}}),
                        ErrorCategory::kFormat,
                        {"storage '0' is declared as torch.FloatStorage of 4 elements and again as torch.FloatStorage of 5"});
  expect_pickle_refused(pk_dict({{"a", pk_tensor("0", 4, 0, {2}, {1})}, {"b", pk_tensor("0", 4, 0, {2}, {1}, "HalfStorage")}}),
                        ErrorCategory::kFormat, {"and again as torch.HalfStorage of 4"});
  expect_pickle_refused(pk_dict({{"z", pk_tensor("0", 1, 0, {1}, {1}, "ComplexFloatStorage")}}), ErrorCategory::kUnsupported,
                        {"storage '0' is torch.ComplexFloatStorage (complex64), a type genarm cannot read"});
  expect_pickle_refused(pk_dict({{"w", pk_tensor("0", 4, 0, {2, 2}, {1})}}), ErrorCategory::kFormat,
                        {"_rebuild_tensor_v2: size has 2 dimensions but stride has 1"});
  expect_pickle_refused(pk_dict({{"w", pk_tensor("0", 4, 0, {2, -2}, {2, 1})}}), ErrorCategory::kFormat,
                        {"_rebuild_tensor_v2: size holds an int -2, not a non-negative integer"});
  expect_pickle_refused(pk_dict({{"w", pk_global("torch._utils", "_rebuild_tensor_v2") + "(" + pk_pid("0", 4) + "tR"}}),
                        ErrorCategory::kFormat, {"torch._utils._rebuild_tensor_v2 called with 1 arguments (expected from 6 to 7)"});
  expect_pickle_refused(pk_dict({{"w", pk_global("torch._utils", "_rebuild_parameter") + "(K\x01\x88" + kPkHooks + "tR"}}),
                        ErrorCategory::kFormat, {"torch._utils._rebuild_parameter of an int 1, not a tensor"});
  expect_pickle_refused(pk_dict({{"w", pk_global("torch._tensor", "_rebuild_from_type_v2") + "(" + pk_global("collections", "OrderedDict") +
                                           pk_global("torch", "Tensor") + ")}tR"}}),
                        ErrorCategory::kFormat, {"with function the global collections.OrderedDict, not a tensor rebuild function"});
}

// --- limits ---

TEST(TorchPickle, LimitsBoundWhatAPickleCanMakeUsHold) {
  PickleLimits tight;
  tight.max_objects = 100;
  expect_pickle_refused("\x80\x02" + std::string(200, 'N') + ".", ErrorCategory::kFormat,
                        {"byte 102: more than 100 values (the limit)"}, tight);
  tight = {};
  tight.max_stack = 10;
  expect_pickle_refused("\x80\x02N" + std::string(20, '2') + ".", ErrorCategory::kFormat,
                        {"more than 10 values on the stack (the limit)"}, tight);
  tight = {};
  tight.max_memo = 4;
  expect_pickle_refused("\x80\x02Nq\x09.", ErrorCategory::kFormat, {"memo index 9 exceeds the limit of 4"}, tight);
  expect_pickle_refused("\x80\x02N\x94\x94\x94\x94\x94.", ErrorCategory::kFormat, {"memo index 4 exceeds the limit of 4"}, tight);
  tight = {};
  tight.max_string_bytes = 3;
  expect_pickle_refused("\x80\x02" + pk_str("abcd") + ".", ErrorCategory::kFormat, {"BINUNICODE of 4 bytes exceeds the limit of 3"}, tight);
  // The defaults: deep nesting, by MARKs or by containers, ends in an error, not a stack overflow.
  expect_pickle_refused("\x80\x02" + std::string(100000, '(') + "N" + std::string(100000, 't') + ".", ErrorCategory::kFormat,
                        {"byte 258: more than 256 nested MARKs (the limit)"});
  expect_pickle_refused("\x80\x02N" + std::string(100000, '\x85') + ".", ErrorCategory::kFormat,
                        {"byte 66: values nested deeper than 64 levels"});
  expect_pickle_refused("\x80\x02]" + std::string(100000, ']') + std::string(100000, 'a') + ".", ErrorCategory::kFormat,
                        {"values nested deeper than 64 levels"});
  expect_pickle_refused("\x80\x02}" + std::string(100000, '}') + std::string(50000, 's') + ".", ErrorCategory::kFormat,
                        {"values nested deeper than 64 levels"});
  // A list appended to itself: a cycle in Python; here a depth that grows until it is refused.
  std::string cycle = "\x80\x02]q\0"s;
  for (int i = 0; i < 1000; ++i) cycle += "h\0a"s;
  expect_pickle_refused(cycle + ".", ErrorCategory::kFormat, {"values nested deeper than 64 levels"});
}

}  // namespace
}  // namespace genarm::io
