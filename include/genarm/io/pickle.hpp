// Reading the data.pkl of a torch.save archive without executing anything: a pickle
// *interpreter* that knows the opcodes torch.save emits (protocol 2, plus the protocol 3-5 ones
// a custom pickle_protocol adds: FRAME, MEMOIZE, STACK_GLOBAL, SHORT_BINUNICODE, BINBYTES...)
// and a whitelist of globals that are recognised as tags, never imported or called:
//   collections.OrderedDict                  -> an empty dict
//   torch._utils._rebuild_tensor_v2          -> a tensor record (storage, offset, shape, stride)
//   torch._utils._rebuild_parameter[_with_state], torch._tensor._rebuild_from_type_v2
//                                            -> the tensor they wrap
//   torch.<Type>Storage (in persistent ids)  -> the storage's element type
// Anything else — GLOBAL os.system, builtins.eval, an unknown opcode, a REDUCE of something that
// is not on the list — is an Error naming it and its byte offset, raised when it is read: the
// pickle is never run. Memory is bounded (values created, memo, stack, marks, nesting depth,
// string lengths: PickleLimits), and values live in one arena indexed by number, so hostile
// nesting or cycles (a list appended to itself) cost neither stack nor leaks.
// Format: https://github.com/python/cpython/blob/main/Lib/pickletools.py ; torch side:
// torch/serialization.py (_save, persistent_id) and torch/_tensor.py (__reduce_ex__).
// Thread-safety: pure functions, thread-safe.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "genarm/core/dtype.hpp"
#include "genarm/core/error.hpp"
#include "genarm/core/utf8.hpp"

namespace genarm::io {

// Bounds on what a data.pkl may make the interpreter hold. A real state dict creates about 17
// values per tensor, nests 4 levels, memoizes about 10 values per tensor, and its strings are
// tensor names and storage keys.
struct PickleLimits {
  size_t max_objects = size_t{1} << 22;       // values created (~250k tensors)
  size_t max_memo = size_t{1} << 22;          // memo entries, and the largest memo index
  size_t max_stack = size_t{1} << 20;         // values on the stack (pickle batches items by 1000)
  size_t max_marks = 256;                     // MARKs open at once (torch.save: 3)
  size_t max_depth = 64;                      // nesting of containers (torch.save: 4)
  size_t max_string_bytes = size_t{1} << 24;  // one str or bytes value
};

// One tensor as torch.save describes it: a strided view, counted in elements, of a storage
// stored as the zip entry <archive>/data/<storage_key>.
struct TorchTensorRecord {
  std::string name;
  std::string storage_key;
  DType dtype = DType::kF32;
  uint64_t storage_numel = 0;  // elements in the storage
  int64_t storage_offset = 0;
  std::vector<int64_t> shape;
  std::vector<int64_t> stride;
  size_t pickle_offset = 0;  // byte of the opcode that rebuilt it, for messages
};

namespace detail {

// The torch storage classes a persistent id may name, with the element type of each; the
// types genarm has no DType for are refused by name.
struct TorchStorageType {
  std::string_view name;
  std::optional<DType> dtype;
  std::string_view torch_dtype;
};
inline constexpr TorchStorageType kTorchStorageTypes[] = {
    {"FloatStorage", DType::kF32, "float32"},       {"HalfStorage", DType::kF16, "float16"},
    {"BFloat16Storage", DType::kBF16, "bfloat16"},  {"DoubleStorage", DType::kF64, "float64"},
    {"LongStorage", DType::kI64, "int64"},          {"IntStorage", DType::kI32, "int32"},
    {"ShortStorage", DType::kI16, "int16"},         {"CharStorage", DType::kI8, "int8"},
    {"ByteStorage", DType::kU8, "uint8"},           {"BoolStorage", DType::kBool, "bool"},
    {"Float8_e4m3fnStorage", DType::kF8E4M3, "float8_e4m3fn"},
    {"Float8_e5m2Storage", DType::kF8E5M2, "float8_e5m2"},
    {"ComplexFloatStorage", std::nullopt, "complex64"},   {"ComplexDoubleStorage", std::nullopt, "complex128"},
    {"ComplexHalfStorage", std::nullopt, "complex32"},    {"QInt8Storage", std::nullopt, "qint8"},
    {"QUInt8Storage", std::nullopt, "quint8"},            {"QInt32Storage", std::nullopt, "qint32"},
    {"QUInt4x2Storage", std::nullopt, "quint4x2"},        {"QUInt2x4Storage", std::nullopt, "quint2x4"},
    {"UntypedStorage", std::nullopt, "untyped bytes"},
};

enum class PyGlobal : uint8_t {
  kOrderedDict,
  kRebuildTensorV2,
  kRebuildParameter,
  kRebuildParameterWithState,
  kRebuildFromTypeV2,
  kTensorClass,  // torch.Tensor, torch.nn.parameter.Parameter: the type argument of _rebuild_from_type_v2
  kStorageType,  // kTorchStorageTypes[storage_type]
};

// The whitelist: the global `module.name` as a tag, or nullopt.
inline std::optional<std::pair<PyGlobal, size_t>> find_pickle_global(std::string_view module, std::string_view name) {
  if (module == "collections" && name == "OrderedDict") return std::pair{PyGlobal::kOrderedDict, size_t{0}};
  if (module == "torch._utils") {
    if (name == "_rebuild_tensor_v2") return std::pair{PyGlobal::kRebuildTensorV2, size_t{0}};
    if (name == "_rebuild_parameter") return std::pair{PyGlobal::kRebuildParameter, size_t{0}};
    if (name == "_rebuild_parameter_with_state") return std::pair{PyGlobal::kRebuildParameterWithState, size_t{0}};
  }
  if (module == "torch._tensor" && name == "_rebuild_from_type_v2") return std::pair{PyGlobal::kRebuildFromTypeV2, size_t{0}};
  if ((module == "torch" && name == "Tensor") || (module == "torch._tensor" && name == "Tensor") ||
      (module == "torch.nn.parameter" && name == "Parameter")) {
    return std::pair{PyGlobal::kTensorClass, size_t{0}};
  }
  if (module == "torch") {
    for (size_t i = 0; i < std::size(kTorchStorageTypes); ++i) {
      if (kTorchStorageTypes[i].name == name) return std::pair{PyGlobal::kStorageType, i};
    }
  }
  return std::nullopt;
}

// Every opcode of pickle protocols 0-5, for messages ("opcode INST ('i')").
inline std::string_view pickle_opcode_name(uint8_t op) {
  switch (op) {
    case '(': return "MARK";          case '.': return "STOP";           case '0': return "POP";
    case '1': return "POP_MARK";      case '2': return "DUP";            case 'F': return "FLOAT";
    case 'I': return "INT";           case 'J': return "BININT";         case 'K': return "BININT1";
    case 'L': return "LONG";          case 'M': return "BININT2";        case 'N': return "NONE";
    case 'P': return "PERSID";        case 'Q': return "BINPERSID";      case 'R': return "REDUCE";
    case 'S': return "STRING";        case 'T': return "BINSTRING";      case 'U': return "SHORT_BINSTRING";
    case 'V': return "UNICODE";       case 'X': return "BINUNICODE";     case 'a': return "APPEND";
    case 'b': return "BUILD";         case 'c': return "GLOBAL";         case 'd': return "DICT";
    case '}': return "EMPTY_DICT";    case 'e': return "APPENDS";        case 'g': return "GET";
    case 'h': return "BINGET";        case 'i': return "INST";           case 'j': return "LONG_BINGET";
    case 'l': return "LIST";          case ']': return "EMPTY_LIST";     case 'o': return "OBJ";
    case 'p': return "PUT";           case 'q': return "BINPUT";         case 'r': return "LONG_BINPUT";
    case 's': return "SETITEM";       case 't': return "TUPLE";          case ')': return "EMPTY_TUPLE";
    case 'u': return "SETITEMS";      case 'G': return "BINFLOAT";       case 0x80: return "PROTO";
    case 0x81: return "NEWOBJ";       case 0x82: return "EXT1";          case 0x83: return "EXT2";
    case 0x84: return "EXT4";         case 0x85: return "TUPLE1";        case 0x86: return "TUPLE2";
    case 0x87: return "TUPLE3";       case 0x88: return "NEWTRUE";       case 0x89: return "NEWFALSE";
    case 0x8a: return "LONG1";        case 0x8b: return "LONG4";         case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES"; case 0x8c: return "SHORT_BINUNICODE"; case 0x8d: return "BINUNICODE8";
    case 0x8e: return "BINBYTES8";    case 0x8f: return "EMPTY_SET";     case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";    case 0x92: return "NEWOBJ_EX";     case 0x93: return "STACK_GLOBAL";
    case 0x94: return "MEMOIZE";      case 0x95: return "FRAME";         case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";  case 0x98: return "READONLY_BUFFER";
    default: return "";
  }
}

// Interprets one pickle into values in an arena; the torch state dict is read off the result.
class TorchUnpickler {
 public:
  TorchUnpickler(std::span<const std::byte> bytes, const std::string& origin, const PickleLimits& limits)
      : bytes_(bytes), origin_(origin), limits_(limits) {}

  std::vector<TorchTensorRecord> run() {
    const uint32_t root = interpret();
    return state_dict(root);
  }

 private:
  enum class Kind : uint8_t { kNone, kBool, kInt, kFloat, kStr, kBytes, kTuple, kList, kDict, kGlobal, kStorage, kTensor };

  struct Value {
    Kind kind = Kind::kNone;
    uint32_t depth = 1;  // 1 for scalars; containers: 1 + their deepest element when it was added
    int64_t i = 0;       // int, bool; kGlobal: PyGlobal; kStorage / kTensor: index in storages_ / tensors_
    size_t aux = 0;      // kGlobal: kTorchStorageTypes index
    double f = 0;
    std::string s;                // str, bytes; kGlobal: "module.name"
    std::vector<uint32_t> items;  // tuple and list elements; dict: key, value, key, value...
  };
  struct Storage {
    std::string key;
    DType dtype;
    uint64_t numel;
    size_t type;  // kTorchStorageTypes index
  };
  struct Tensor {
    uint32_t storage;  // index in storages_
    int64_t offset;
    std::vector<int64_t> shape;
    std::vector<int64_t> stride;
    size_t pickle_offset;
  };

  template <typename... Args>
  [[noreturn]] void bad(const Args&... args) const {
    fail(ErrorCategory::kFormat, origin_, ": byte ", op_offset_, ": ", args...);
  }
  template <typename... Args>
  [[noreturn]] void refuse(const Args&... args) const {
    fail(ErrorCategory::kUnsupported, origin_, ": byte ", op_offset_, ": ", args...);
  }

  // --- reading the byte stream ---
  std::span<const std::byte> take(size_t n, std::string_view what) {
    if (n > bytes_.size() - pos_) {
      bad(what, " needs ", n, " bytes but the pickle has ", bytes_.size() - pos_, " left (truncated data.pkl?)");
    }
    const auto out = bytes_.subspan(pos_, n);
    pos_ += n;
    return out;
  }
  uint64_t take_le(size_t n, std::string_view what) {
    const auto b = take(n, what);
    uint64_t v = 0;
    for (size_t k = n; k-- > 0;) v = v << 8 | static_cast<uint8_t>(b[k]);
    return v;
  }
  std::string take_string(uint64_t n, std::string_view what) {
    if (n > limits_.max_string_bytes) bad(what, " of ", n, " bytes exceeds the limit of ", limits_.max_string_bytes);
    const auto b = take(static_cast<size_t>(n), what);
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
  }
  // A GLOBAL argument: text up to a newline.
  std::string take_line(std::string_view what) {
    const size_t start = pos_;
    while (pos_ < bytes_.size() && static_cast<char>(bytes_[pos_]) != '\n') {
      if (pos_ - start >= 1024) bad(what, " longer than 1024 bytes");
      ++pos_;
    }
    if (pos_ == bytes_.size()) bad(what, " is not terminated by a newline (truncated data.pkl?)");
    std::string s(reinterpret_cast<const char*>(bytes_.data() + start), pos_ - start);
    ++pos_;
    return s;
  }

  // --- values ---
  uint32_t make(Value v) {
    if (values_.size() >= limits_.max_objects) bad("more than ", limits_.max_objects, " values (the limit)");
    if (v.depth > limits_.max_depth) bad("values nested deeper than ", limits_.max_depth, " levels");
    values_.push_back(std::move(v));
    return static_cast<uint32_t>(values_.size() - 1);
  }
  uint32_t make_scalar(Kind kind, int64_t i = 0) {
    Value v;
    v.kind = kind;
    v.i = i;
    return make(std::move(v));
  }
  uint32_t make_container(Kind kind, std::vector<uint32_t> items) {
    Value v;
    v.kind = kind;
    for (uint32_t item : items) v.depth = std::max(v.depth, values_[item].depth + 1);
    v.items = std::move(items);
    return make(std::move(v));
  }
  // Adds items to a list or dict already made (its depth grows with them).
  void extend(uint32_t target, std::span<const uint32_t> items) {
    uint32_t depth = values_[target].depth;
    for (uint32_t item : items) depth = std::max(depth, values_[item].depth + 1);
    if (depth > limits_.max_depth) bad("values nested deeper than ", limits_.max_depth, " levels");
    Value& t = values_[target];
    t.depth = depth;
    t.items.insert(t.items.end(), items.begin(), items.end());
  }

  static std::string_view kind_name(Kind k) {
    switch (k) {
      case Kind::kNone: return "None";
      case Kind::kBool: return "a bool";
      case Kind::kInt: return "an int";
      case Kind::kFloat: return "a float";
      case Kind::kStr: return "a str";
      case Kind::kBytes: return "bytes";
      case Kind::kTuple: return "a tuple";
      case Kind::kList: return "a list";
      case Kind::kDict: return "a dict";
      case Kind::kGlobal: return "a global";
      case Kind::kStorage: return "a storage";
      case Kind::kTensor: return "a tensor";
    }
    return "?";
  }
  std::string describe(uint32_t v) const {
    const Value& x = values_[v];
    if (x.kind == Kind::kGlobal) return "the global " + x.s;
    if (x.kind == Kind::kStr) return "a str '" + (x.s.size() > 40 ? x.s.substr(0, 40) + "..." : x.s) + "'";
    if (x.kind == Kind::kInt) return "an int " + std::to_string(x.i);
    if (x.kind == Kind::kTuple) return "a tuple of " + std::to_string(x.items.size());
    return std::string(kind_name(x.kind));
  }

  // --- the stack; MARK starts a frame that pops may not cross ---
  size_t frame_base() const { return marks_.empty() ? 0 : marks_.back(); }
  void push(uint32_t v) {
    if (stack_.size() >= limits_.max_stack) bad("more than ", limits_.max_stack, " values on the stack (the limit)");
    stack_.push_back(v);
  }
  uint32_t pop(std::string_view op) {
    if (stack_.size() <= frame_base()) bad(op, " on an empty stack");
    const uint32_t v = stack_.back();
    stack_.pop_back();
    return v;
  }
  uint32_t top(std::string_view op) const {
    if (stack_.size() <= frame_base()) bad(op, " on an empty stack");
    return stack_.back();
  }
  // The values above the last MARK, which is removed.
  std::vector<uint32_t> pop_mark(std::string_view op) {
    if (marks_.empty()) bad(op, " without a MARK");
    const size_t base = marks_.back();
    marks_.pop_back();
    std::vector<uint32_t> items(stack_.begin() + static_cast<std::ptrdiff_t>(base), stack_.end());
    stack_.resize(base);
    return items;
  }

  void memo_put(uint64_t index, uint32_t v) {
    if (index >= limits_.max_memo) bad("memo index ", index, " exceeds the limit of ", limits_.max_memo);
    if (memo_.size() >= limits_.max_memo && !memo_.count(static_cast<uint32_t>(index))) {
      bad("more than ", limits_.max_memo, " memo entries (the limit)");
    }
    memo_[static_cast<uint32_t>(index)] = v;
  }
  uint32_t memo_get(uint64_t index) const {
    const auto it = index < limits_.max_memo ? memo_.find(static_cast<uint32_t>(index)) : memo_.end();
    if (it == memo_.end()) bad("memo index ", index, " was never stored");
    return it->second;
  }

  uint32_t make_global(std::string module, std::string name) {
    const auto found = find_pickle_global(module, name);
    if (!found) {
      const bool script = module.rfind("__torch__", 0) == 0;
      refuse("global '", module, ".", name, "' is not allowed: a state dict needs only collections.OrderedDict, ",
             "torch._utils._rebuild_tensor_v2 / _rebuild_parameter and torch storage types, and nothing in a ",
             "checkpoint is ever imported or run", script ? " (this looks like a TorchScript archive, not torch.save)" : "");
    }
    Value v;
    v.kind = Kind::kGlobal;
    v.i = static_cast<int64_t>(found->first);
    v.aux = found->second;
    v.s = module + "." + name;
    return make(std::move(v));
  }
  bool is_global(uint32_t v, PyGlobal g) const {
    return values_[v].kind == Kind::kGlobal && static_cast<PyGlobal>(values_[v].i) == g;
  }

  // --- the opcodes ---
  uint32_t interpret() {
    while (true) {
      op_offset_ = pos_;
      if (pos_ >= bytes_.size()) bad("the pickle ends without STOP (truncated data.pkl?)");
      const auto op = static_cast<uint8_t>(bytes_[pos_++]);
      switch (op) {
        case 0x80: {  // PROTO
          const uint64_t proto = take_le(1, "PROTO");
          if (proto > 5) refuse("pickle protocol ", proto, " (at most 5 exists)");
          break;
        }
        case 0x95: {  // FRAME: a length prefix for the opcodes that follow; nothing to do
          const uint64_t n = take_le(8, "FRAME");
          if (n > bytes_.size() - pos_) bad("FRAME of ", n, " bytes, but ", bytes_.size() - pos_, " are left");
          break;
        }
        case '.': {  // STOP
          if (!marks_.empty()) bad("STOP with ", marks_.size(), " MARKs still open");
          if (stack_.size() != 1) bad("STOP with ", stack_.size(), " values on the stack (expected 1)");
          if (pos_ != bytes_.size()) bad(bytes_.size() - pos_, " bytes after STOP");
          return stack_.back();
        }
        case '(':  // MARK
          if (marks_.size() >= limits_.max_marks) bad("more than ", limits_.max_marks, " nested MARKs (the limit)");
          marks_.push_back(stack_.size());
          break;
        case '0': (void)pop("POP"); break;
        case '1': (void)pop_mark("POP_MARK"); break;
        case '2': push(top("DUP")); break;

        case 'N': push(make_scalar(Kind::kNone)); break;
        case 0x88: push(make_scalar(Kind::kBool, 1)); break;
        case 0x89: push(make_scalar(Kind::kBool, 0)); break;
        case 'J': push(make_scalar(Kind::kInt, static_cast<int32_t>(static_cast<uint32_t>(take_le(4, "BININT"))))); break;
        case 'K': push(make_scalar(Kind::kInt, static_cast<int64_t>(take_le(1, "BININT1")))); break;
        case 'M': push(make_scalar(Kind::kInt, static_cast<int64_t>(take_le(2, "BININT2")))); break;
        case 0x8a: push(make_long(take_le(1, "LONG1"), "LONG1")); break;
        case 0x8b: push(make_long(take_le(4, "LONG4"), "LONG4")); break;
        case 'G': {  // BINFLOAT: big-endian IEEE double
          const auto b = take(8, "BINFLOAT");
          uint64_t bits = 0;
          for (const std::byte x : b) bits = bits << 8 | static_cast<uint8_t>(x);
          Value v;
          v.kind = Kind::kFloat;
          v.f = std::bit_cast<double>(bits);
          push(make(std::move(v)));
          break;
        }

        // Text. Python 2 str (BINSTRING) is read as text, as torch.load's default encoding does.
        case 'X': push(make_text(take_le(4, "BINUNICODE"), "BINUNICODE")); break;
        case 0x8c: push(make_text(take_le(1, "SHORT_BINUNICODE"), "SHORT_BINUNICODE")); break;
        case 0x8d: push(make_text(take_le(8, "BINUNICODE8"), "BINUNICODE8")); break;
        case 'T': push(make_text(take_le(4, "BINSTRING"), "BINSTRING")); break;
        case 'U': push(make_text(take_le(1, "SHORT_BINSTRING"), "SHORT_BINSTRING")); break;
        case 'B': push(make_bytes(take_le(4, "BINBYTES"), "BINBYTES")); break;
        case 'C': push(make_bytes(take_le(1, "SHORT_BINBYTES"), "SHORT_BINBYTES")); break;
        case 0x8e: push(make_bytes(take_le(8, "BINBYTES8"), "BINBYTES8")); break;

        case ')': push(make_container(Kind::kTuple, {})); break;
        case ']': push(make_container(Kind::kList, {})); break;
        case '}': push(make_container(Kind::kDict, {})); break;
        case 't': push(make_container(Kind::kTuple, pop_mark("TUPLE"))); break;
        case 0x85:
        case 0x86:
        case 0x87: {  // TUPLE1..3
          const size_t n = op - 0x84u;
          std::vector<uint32_t> items(n);
          for (size_t k = n; k-- > 0;) items[k] = pop(pickle_opcode_name(op));
          push(make_container(Kind::kTuple, std::move(items)));
          break;
        }
        case 'l': push(make_container(Kind::kList, pop_mark("LIST"))); break;
        case 'd': {
          auto items = pop_mark("DICT");
          if (items.size() % 2 != 0) bad("DICT with an odd number (", items.size(), ") of keys and values");
          push(make_container(Kind::kDict, std::move(items)));
          break;
        }
        case 'a': {  // APPEND
          const uint32_t item = pop("APPEND");
          const uint32_t list = top("APPEND");
          if (values_[list].kind != Kind::kList) bad("APPEND to ", describe(list), ", not a list");
          extend(list, std::span(&item, 1));
          break;
        }
        case 'e': {  // APPENDS
          const auto items = pop_mark("APPENDS");
          const uint32_t list = top("APPENDS");
          if (values_[list].kind != Kind::kList) bad("APPENDS to ", describe(list), ", not a list");
          extend(list, items);
          break;
        }
        case 's': {  // SETITEM
          const uint32_t value = pop("SETITEM");
          const uint32_t key = pop("SETITEM");
          const uint32_t dict = top("SETITEM");
          if (values_[dict].kind != Kind::kDict) bad("SETITEM on ", describe(dict), ", not a dict");
          const uint32_t pair[2] = {key, value};
          extend(dict, pair);
          break;
        }
        case 'u': {  // SETITEMS
          const auto items = pop_mark("SETITEMS");
          if (items.size() % 2 != 0) bad("SETITEMS with an odd number (", items.size(), ") of keys and values");
          const uint32_t dict = top("SETITEMS");
          if (values_[dict].kind != Kind::kDict) bad("SETITEMS on ", describe(dict), ", not a dict");
          extend(dict, items);
          break;
        }

        case 'q': memo_put(take_le(1, "BINPUT"), top("BINPUT")); break;
        case 'r': memo_put(take_le(4, "LONG_BINPUT"), top("LONG_BINPUT")); break;
        case 0x94: memo_put(memo_.size(), top("MEMOIZE")); break;
        case 'h': push(memo_get(take_le(1, "BINGET"))); break;
        case 'j': push(memo_get(take_le(4, "LONG_BINGET"))); break;

        case 'c': {  // GLOBAL "module\nname\n"
          std::string module = take_line("GLOBAL module");
          std::string name = take_line("GLOBAL name");
          push(make_global(std::move(module), std::move(name)));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          const uint32_t name = pop("STACK_GLOBAL");
          const uint32_t module = pop("STACK_GLOBAL");
          if (values_[module].kind != Kind::kStr || values_[name].kind != Kind::kStr) {
            bad("STACK_GLOBAL needs two str, got ", describe(module), " and ", describe(name));
          }
          push(make_global(values_[module].s, values_[name].s));
          break;
        }
        case 'Q': push(make_storage(pop("BINPERSID"))); break;
        case 'R': {  // REDUCE: callable(*args), for whitelisted callables only
          const uint32_t args = pop("REDUCE");
          const uint32_t callable = pop("REDUCE");
          push(call(callable, args));
          break;
        }
        case 0x81: {  // NEWOBJ: cls.__new__(cls, *args); OrderedDict only
          const uint32_t args = pop("NEWOBJ");
          const uint32_t cls = pop("NEWOBJ");
          if (!is_global(cls, PyGlobal::kOrderedDict)) refuse("NEWOBJ of ", describe(cls), " is not allowed");
          push(call(cls, args));
          break;
        }
        case 'b': {  // BUILD: sets attributes (an OrderedDict's _metadata, a tensor's Python state)
          (void)pop("BUILD");
          const uint32_t target = top("BUILD");
          const Kind k = values_[target].kind;
          if (k != Kind::kDict && k != Kind::kTensor) bad("BUILD on ", describe(target), " (only a dict or a tensor)");
          break;
        }

        default: {
          const std::string_view name = pickle_opcode_name(op);
          if (name.empty()) bad("unknown pickle opcode 0x", hex_byte(op));
          refuse("pickle opcode ", name, " (0x", hex_byte(op), ") is not supported in a torch state dict");
        }
      }
    }
  }

  static std::string hex_byte(uint8_t b) {
    static constexpr char kDigits[] = "0123456789abcdef";
    return {kDigits[b >> 4], kDigits[b & 15]};
  }

  // LONG1 / LONG4: n bytes of little-endian two's complement.
  uint32_t make_long(uint64_t n, std::string_view op) {
    if (n > limits_.max_string_bytes) bad(op, " of ", n, " bytes exceeds the limit of ", limits_.max_string_bytes);
    const auto b = take(static_cast<size_t>(n), op);
    if (n == 0) return make_scalar(Kind::kInt, 0);
    const bool negative = (static_cast<uint8_t>(b[n - 1]) & 0x80) != 0;
    // Bytes past the eighth may only extend the sign.
    for (size_t k = 8; k < n; ++k) {
      if (static_cast<uint8_t>(b[k]) != (negative ? 0xFF : 0x00)) bad(op, " integer wider than 64 bits");
    }
    uint64_t v = negative ? ~uint64_t{0} : 0;
    for (size_t k = std::min<size_t>(n, 8); k-- > 0;) v = v << 8 | static_cast<uint8_t>(b[k]);
    if (n > 8 && ((v >> 63) != 0) != negative) bad(op, " integer wider than 64 bits");
    return make_scalar(Kind::kInt, static_cast<int64_t>(v));
  }
  uint32_t make_text(uint64_t n, std::string_view op) {
    Value v;
    v.kind = Kind::kStr;
    v.s = take_string(n, op);
    const size_t invalid = utf8::find_invalid(v.s);
    if (invalid != std::string::npos) bad(op, " text is not valid UTF-8 (at byte ", invalid, " of the string)");
    return make(std::move(v));
  }
  uint32_t make_bytes(uint64_t n, std::string_view op) {
    Value v;
    v.kind = Kind::kBytes;
    v.s = take_string(n, op);
    return make(std::move(v));
  }

  // --- torch ---

  // BINPERSID: torch.save's persistent id ('storage', <Type>Storage, key, location, numel).
  uint32_t make_storage(uint32_t pid) {
    const Value& t = values_[pid];
    if (t.kind != Kind::kTuple || t.items.size() != 5 || values_[t.items[0]].kind != Kind::kStr ||
        values_[t.items[0]].s != "storage") {
      bad("persistent id ", describe(pid), " is not ('storage', type, key, location, numel)");
    }
    const uint32_t type = t.items[1], key = t.items[2], location = t.items[3], numel = t.items[4];
    if (!is_global(type, PyGlobal::kStorageType)) bad("persistent id storage type is ", describe(type), ", not a torch storage type");
    if (values_[key].kind != Kind::kStr || values_[key].s.empty()) bad("persistent id storage key is ", describe(key), ", not a name");
    if (values_[location].kind != Kind::kStr) bad("persistent id location is ", describe(location), ", not a device name");
    if (values_[numel].kind != Kind::kInt || values_[numel].i < 0) bad("persistent id numel is ", describe(numel), ", not a size");
    const TorchStorageType& st = kTorchStorageTypes[values_[type].aux];
    if (!st.dtype) {
      refuse("storage '", values_[key].s, "' is torch.", st.name, " (", st.torch_dtype, "), a type genarm cannot read");
    }
    const std::string& k = values_[key].s;
    const auto [it, inserted] = storage_index_.emplace(k, storages_.size());
    if (inserted) {
      storages_.push_back({k, *st.dtype, static_cast<uint64_t>(values_[numel].i), values_[type].aux});
    } else {
      // Several tensors share a storage (tied weights, views): it must be declared the same way.
      const Storage& s = storages_[it->second];
      if (s.type != values_[type].aux || s.numel != static_cast<uint64_t>(values_[numel].i)) {
        bad("storage '", k, "' is declared as torch.", kTorchStorageTypes[s.type].name, " of ", s.numel,
            " elements and again as torch.", st.name, " of ", values_[numel].i);
      }
    }
    Value v;
    v.kind = Kind::kStorage;
    v.i = static_cast<int64_t>(it->second);
    return make(std::move(v));
  }

  // The arguments, copied: making values below may move the arena.
  std::vector<uint32_t> call_args(uint32_t args, std::string_view callee, size_t min, size_t max) const {
    const Value& a = values_[args];
    if (a.kind != Kind::kTuple) bad(callee, " called with ", describe(args), " instead of an argument tuple");
    if (a.items.size() < min || a.items.size() > max) {
      bad(callee, " called with ", a.items.size(), " arguments (expected ", min == max ? "" : "from ", min,
          min == max ? "" : " to ", min == max ? "" : std::to_string(max), ")");
    }
    return a.items;
  }

  // REDUCE of a whitelisted global: builds the value it would, without running anything.
  uint32_t call(uint32_t callable, uint32_t args) {
    if (values_[callable].kind != Kind::kGlobal) bad("REDUCE calls ", describe(callable), ", not a global");
    const std::string callee = values_[callable].s;
    switch (static_cast<PyGlobal>(values_[callable].i)) {
      case PyGlobal::kOrderedDict:
        (void)call_args(args, callee, 0, 0);
        return make_container(Kind::kDict, {});
      case PyGlobal::kRebuildTensorV2: return rebuild_tensor(args, callee);
      case PyGlobal::kRebuildParameter:
      case PyGlobal::kRebuildParameterWithState: {
        // (data, requires_grad, backward_hooks[, state]): the parameter is its data.
        const bool with_state = static_cast<PyGlobal>(values_[callable].i) == PyGlobal::kRebuildParameterWithState;
        const auto a = call_args(args, callee, with_state ? 4 : 3, with_state ? 4 : 3);
        if (values_[a[0]].kind != Kind::kTensor) bad(callee, " of ", describe(a[0]), ", not a tensor");
        return a[0];
      }
      case PyGlobal::kRebuildFromTypeV2: {
        // (func, new_type, args, state): a tensor subclass or a tensor with Python attributes.
        const auto a = call_args(args, callee, 4, 4);
        if (!is_global(a[1], PyGlobal::kTensorClass)) bad(callee, " to type ", describe(a[1]), ", not a tensor class");
        if (values_[a[0]].kind != Kind::kGlobal || is_global(a[0], PyGlobal::kRebuildFromTypeV2) ||
            is_global(a[0], PyGlobal::kOrderedDict) || is_global(a[0], PyGlobal::kTensorClass) ||
            is_global(a[0], PyGlobal::kStorageType)) {
          bad(callee, " with function ", describe(a[0]), ", not a tensor rebuild function");
        }
        const uint32_t result = call(a[0], a[2]);
        if (values_[result].kind != Kind::kTensor) bad(callee, " did not rebuild a tensor");
        return result;
      }
      case PyGlobal::kTensorClass:
      case PyGlobal::kStorageType: refuse("REDUCE calls the class ", callee, ", which is not allowed");
    }
    bad("REDUCE of an unknown global");
  }

  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  uint32_t rebuild_tensor(uint32_t args, const std::string& callee) {
    const auto a = call_args(args, callee, 6, 7);
    if (values_[a[0]].kind != Kind::kStorage) bad(callee, ": storage argument is ", describe(a[0]));
    if (values_[a[1]].kind != Kind::kInt || values_[a[1]].i < 0) bad(callee, ": storage offset is ", describe(a[1]));
    Tensor t;
    t.storage = static_cast<uint32_t>(values_[a[0]].i);
    t.offset = values_[a[1]].i;
    t.shape = int_tuple(a[2], callee, "size");
    t.stride = int_tuple(a[3], callee, "stride");
    if (t.shape.size() != t.stride.size()) {
      bad(callee, ": size has ", t.shape.size(), " dimensions but stride has ", t.stride.size());
    }
    if (values_[a[4]].kind != Kind::kBool) bad(callee, ": requires_grad is ", describe(a[4]));
    if (values_[a[5]].kind != Kind::kDict) bad(callee, ": backward_hooks is ", describe(a[5]));
    if (a.size() == 7 && values_[a[6]].kind != Kind::kDict) bad(callee, ": metadata is ", describe(a[6]));
    t.pickle_offset = op_offset_;
    tensors_.push_back(std::move(t));
    Value v;
    v.kind = Kind::kTensor;
    v.i = static_cast<int64_t>(tensors_.size() - 1);
    return make(std::move(v));
  }
  std::vector<int64_t> int_tuple(uint32_t v, const std::string& callee, std::string_view what) const {
    const Value& t = values_[v];
    if (t.kind != Kind::kTuple) bad(callee, ": ", what, " is ", describe(v), ", not a tuple");
    std::vector<int64_t> out;
    for (uint32_t item : t.items) {
      if (values_[item].kind != Kind::kInt || values_[item].i < 0) {
        bad(callee, ": ", what, " holds ", describe(item), ", not a non-negative integer");
      }
      out.push_back(values_[item].i);
    }
    return out;
  }

  // The result must be a dict of tensor names to tensors.
  std::vector<TorchTensorRecord> state_dict(uint32_t root) {
    op_offset_ = bytes_.size();
    const Value& d = values_[root];
    if (d.kind != Kind::kDict) {
      fail(ErrorCategory::kFormat, origin_, ": the pickle holds ", describe(root), ", not a state dict (a dict of tensors)");
    }
    std::vector<TorchTensorRecord> out;
    out.reserve(d.items.size() / 2);
    std::unordered_map<std::string_view, size_t> seen;
    for (size_t k = 0; k + 1 < d.items.size(); k += 2) {
      const Value& key = values_[d.items[k]];
      const Value& value = values_[d.items[k + 1]];
      if (key.kind != Kind::kStr) {
        fail(ErrorCategory::kFormat, origin_, ": state dict key ", describe(d.items[k]), " is not a tensor name");
      }
      if (value.kind != Kind::kTensor) {
        fail(ErrorCategory::kFormat, origin_, ": state dict entry '", key.s, "' is ", describe(d.items[k + 1]),
             ", not a tensor");
      }
      if (!seen.emplace(key.s, k).second) fail(ErrorCategory::kFormat, origin_, ": tensor '", key.s, "' appears twice");
      const Tensor& t = tensors_[static_cast<size_t>(value.i)];
      const Storage& s = storages_[t.storage];
      TorchTensorRecord r;
      r.name = key.s;
      r.storage_key = s.key;
      r.dtype = s.dtype;
      r.storage_numel = s.numel;
      r.storage_offset = t.offset;
      r.shape = t.shape;
      r.stride = t.stride;
      r.pickle_offset = t.pickle_offset;
      out.push_back(std::move(r));
    }
    return out;
  }

  std::span<const std::byte> bytes_;
  const std::string& origin_;
  PickleLimits limits_;
  size_t pos_ = 0;
  size_t op_offset_ = 0;
  std::vector<Value> values_;
  std::vector<uint32_t> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint32_t, uint32_t> memo_;
  std::vector<Storage> storages_;
  std::unordered_map<std::string, size_t> storage_index_;
  std::vector<Tensor> tensors_;
};

}  // namespace detail

// Interprets the data.pkl of a torch.save archive as a state dict: the tensors it describes, in
// pickle order. `origin` names the pickle in errors ("<file>:archive/data.pkl"). Error(kFormat)
// for a malformed pickle or one that is not a dict of tensors; Error(kUnsupported) for anything
// outside the whitelist (a global, an opcode, a storage type), naming it and its byte offset.
inline std::vector<TorchTensorRecord> read_torch_state_dict(std::span<const std::byte> pickle, const std::string& origin,
                                                            const PickleLimits& limits = {}) {
  return detail::TorchUnpickler(pickle, origin, limits).run();
}

}  // namespace genarm::io
