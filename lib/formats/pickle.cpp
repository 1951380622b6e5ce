// The restricted unpickler: a small pickle VM (protocols 2-4, the opcodes torch.save emits) over
// an arena of values, with an allow-list of globals. Not general: no NEWOBJ, no INST, no
// arbitrary callables. Reference: CPython Lib/pickle.py and torch/serialization.py (1.13).
#include "lib/formats/pickle.h"

#include <cstring>
#include <deque>
#include <limits>
#include <optional>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

#include "util/error.h"

namespace ftune {
namespace {

constexpr std::size_t kMaxValues = 5'000'000;  // a 10k-tensor state dict needs about 150k
constexpr std::size_t kMaxRank = 64;
constexpr std::size_t kMaxGlobalName = 256;
// The int torch.save writes first in a legacy file, as LONG1 little-endian bytes.
constexpr std::uint8_t kLegacyMagic[] = {
    0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
constexpr std::int64_t kLegacyProtocolVersion = 1001;

enum class Kind {
  None,
  Bool,
  Int,
  BigInt,
  Float,
  String,
  Bytes,
  Tuple,
  List,
  Dict,
  Global,
  Storage,
  Tensor
};

enum class GlobalKind { OrderedDict, RebuildTensorV2, RebuildTensor, RebuildParameter, Storage };

struct Value;
using Ref = Value*;

struct StorageInfo {
  std::string key;
  DType dtype = DType::F32;
  std::int64_t numel = 0;        // of the root storage
  std::int64_t view_offset = 0;  // legacy storage views: where the view starts in the root
  std::int64_t view_numel = 0;
};

// Values live in an arena and point at each other with raw pointers, so hostile nesting or
// cycles can neither overflow the stack on destruction nor leak.
struct Value {
  Kind kind = Kind::None;
  std::int64_t i = 0;  // Bool, Int; Storage/Tensor: index into the side tables; Global: GlobalKind
  double f = 0;
  std::string s;           // String, Bytes, BigInt (raw LE bytes), Global (module.name)
  std::vector<Ref> items;  // Tuple, List
  std::vector<std::pair<Ref, Ref>> entries;  // Dict, in insertion order
};

// With its article, for "expected X, got <kind_name>".
const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::None:
      return "None";
    case Kind::Bool:
      return "a bool";
    case Kind::Int:
    case Kind::BigInt:
      return "an int";
    case Kind::Float:
      return "a float";
    case Kind::String:
      return "a str";
    case Kind::Bytes:
      return "bytes";
    case Kind::Tuple:
      return "a tuple";
    case Kind::List:
      return "a list";
    case Kind::Dict:
      return "a dict";
    case Kind::Global:
      return "a global";
    case Kind::Storage:
      return "a storage";
    case Kind::Tensor:
      return "a tensor";
  }
  return "?";
}

struct AllowedGlobal {
  const char* name;
  GlobalKind kind;
  DType dtype;
};

constexpr AllowedGlobal kAllowedGlobals[] = {
    {"collections.OrderedDict", GlobalKind::OrderedDict, DType::F32},
    {"torch._utils._rebuild_tensor_v2", GlobalKind::RebuildTensorV2, DType::F32},
    {"torch._utils._rebuild_tensor", GlobalKind::RebuildTensor, DType::F32},
    {"torch._utils._rebuild_parameter", GlobalKind::RebuildParameter, DType::F32},
    {"torch.FloatStorage", GlobalKind::Storage, DType::F32},
    {"torch.HalfStorage", GlobalKind::Storage, DType::F16},
    {"torch.BFloat16Storage", GlobalKind::Storage, DType::BF16},
    {"torch.DoubleStorage", GlobalKind::Storage, DType::F64},
    {"torch.LongStorage", GlobalKind::Storage, DType::I64},
    {"torch.IntStorage", GlobalKind::Storage, DType::I32},
    {"torch.ShortStorage", GlobalKind::Storage, DType::I16},
    {"torch.CharStorage", GlobalKind::Storage, DType::I8},
    {"torch.ByteStorage", GlobalKind::Storage, DType::U8},
    {"torch.BoolStorage", GlobalKind::Storage, DType::BOOL},
};

class Unpickler {
 public:
  Unpickler(const std::uint8_t* data, std::size_t size, std::size_t pos, std::string source)
      : data_(data), size_(size), pos_(pos), source_(std::move(source)) {}

  // Runs opcodes from the start position up to STOP; returns the value STOP pops.
  Ref run();
  std::size_t position() const { return pos_; }
  const std::vector<StorageInfo>& storages() const { return storages_; }
  const std::vector<PickledTensor>& tensors() const { return tensors_; }

  [[noreturn]] void fail(const std::string& what) const {
    throw CheckpointError(fmt::format("reading pickle '{}': {}", source_, what));
  }

 private:
  Ref make(Kind kind) {
    if (arena_.size() >= kMaxValues) {
      fail(
          fmt::format("object count: expected at most {} objects, got more; hint: this is not "
                      "a state dict pickle",
                      kMaxValues));
    }
    arena_.emplace_back();
    arena_.back().kind = kind;
    return &arena_.back();
  }
  void need(std::size_t n) const {
    if (size_ - pos_ < n) {
      fail(
          fmt::format("opcode 0x{:02x} at byte {}: expected {} more bytes, got {}; hint: the "
                      "file is truncated",
                      op_,
                      op_pos_,
                      n,
                      size_ - pos_));
    }
  }
  std::uint64_t read_le(std::size_t n) {
    need(n);
    std::uint64_t v = 0;
    for (std::size_t k = n; k-- > 0;) v = (v << 8) | data_[pos_ + k];
    pos_ += n;
    return v;
  }
  std::string read_bytes(std::size_t n) {
    need(n);
    std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }
  std::string read_line() {
    for (std::size_t k = pos_; k < size_ && k - pos_ <= kMaxGlobalName; ++k) {
      if (data_[k] == '\n') {
        std::string line(reinterpret_cast<const char*>(data_ + pos_), k - pos_);
        pos_ = k + 1;
        return line;
      }
    }
    fail(
        fmt::format("GLOBAL at byte {}: expected a newline-terminated name of at most {} bytes, "
                    "got none; hint: the file is truncated or corrupt",
                    op_pos_,
                    kMaxGlobalName));
  }
  std::size_t mark_floor() const { return marks_.empty() ? 0 : marks_.back(); }
  Ref pop() {
    if (stack_.size() <= mark_floor()) {
      fail(
          fmt::format("opcode 0x{:02x} at byte {}: expected a value on the stack, got an empty "
                      "stack; hint: the file is corrupt",
                      op_,
                      op_pos_));
    }
    Ref v = stack_.back();
    stack_.pop_back();
    return v;
  }
  Ref top() {
    if (stack_.size() <= mark_floor()) pop();  // throws
    return stack_.back();
  }
  std::vector<Ref> pop_mark() {
    if (marks_.empty()) {
      fail(
          fmt::format("opcode 0x{:02x} at byte {}: expected a MARK before it, got none; hint: "
                      "the file is corrupt",
                      op_,
                      op_pos_));
    }
    std::vector<Ref> items(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()),
                           stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }
  void push(Ref v) { stack_.push_back(v); }
  void push_int(std::int64_t v) {
    Ref r = make(Kind::Int);
    r->i = v;
    push(r);
  }
  void push_string(Kind kind, std::string s) {
    Ref r = make(kind);
    r->s = std::move(s);
    push(r);
  }
  Ref make_tuple(std::vector<Ref> items) {
    Ref r = make(Kind::Tuple);
    r->items = std::move(items);
    return r;
  }
  void memo_put(std::uint64_t index) { memo_[index] = top(); }
  void memo_get(std::uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) {
      fail(
          fmt::format("memo get at byte {}: expected a stored index, got {}; hint: the file is "
                      "corrupt",
                      op_pos_,
                      index));
    }
    push(it->second);
  }
  void set_items(Ref dict, const std::vector<Ref>& items) {
    if (dict->kind != Kind::Dict || items.size() % 2 != 0) {
      fail(
          fmt::format("SETITEM(S) at byte {}: expected a dict and key/value pairs, got {} and "
                      "{} values; hint: the file is corrupt",
                      op_pos_,
                      kind_name(dict->kind),
                      items.size()));
    }
    for (std::size_t k = 0; k < items.size(); k += 2)
      dict->entries.emplace_back(items[k], items[k + 1]);
  }
  void append_items(Ref list, const std::vector<Ref>& items) {
    if (list->kind != Kind::List) {
      fail(fmt::format("APPEND(S) at byte {}: expected a list, got {}; hint: the file is corrupt",
                       op_pos_,
                       kind_name(list->kind)));
    }
    list->items.insert(list->items.end(), items.begin(), items.end());
  }
  void push_global(const std::string& module, const std::string& name);
  void reduce();
  void persistent_load();
  std::int64_t expect_int(Ref v, const char* what) const;
  std::vector<std::int64_t> expect_sizes(Ref v, const char* what) const;
  Ref rebuild_tensor(const std::vector<Ref>& args);

  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_;
  std::string source_;
  std::uint8_t op_ = 0;
  std::size_t op_pos_ = 0;
  std::deque<Value> arena_;
  std::vector<Ref> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<std::uint64_t, Ref> memo_;
  std::vector<StorageInfo> storages_;
  std::vector<PickledTensor> tensors_;
};

void Unpickler::push_global(const std::string& module, const std::string& name) {
  std::string full = module + "." + name;
  for (const auto& allowed : kAllowedGlobals) {
    if (full == allowed.name) {
      Ref r = make(Kind::Global);
      r->s = full;
      r->i = static_cast<std::int64_t>(allowed.kind);
      r->f = static_cast<double>(allowed.dtype);
      push(r);
      return;
    }
  }
  std::string printable;
  for (char c : full) printable += (c >= 0x20 && c < 0x7f) ? c : '?';
  fail(
      fmt::format("global '{}': expected one of collections.OrderedDict, "
                  "torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter, "
                  "torch.<Type>Storage, got '{}'; hint: this is not a plain state dict and "
                  "could run code when loaded in Python; if you trust it, re-save its "
                  "state_dict() as safetensors",
                  printable,
                  printable));
}

std::int64_t Unpickler::expect_int(Ref v, const char* what) const {
  if (v->kind != Kind::Int) {
    fail(fmt::format(
        "{}: expected an int, got {}; hint: the file is corrupt", what, kind_name(v->kind)));
  }
  return v->i;
}

std::vector<std::int64_t> Unpickler::expect_sizes(Ref v, const char* what) const {
  if (v->kind != Kind::Tuple || v->items.size() > kMaxRank) {
    fail(
        fmt::format("{}: expected a tuple of at most {} ints, got {}; hint: the file is "
                    "corrupt",
                    what,
                    kMaxRank,
                    kind_name(v->kind)));
  }
  std::vector<std::int64_t> sizes;
  for (Ref item : v->items) {
    std::int64_t n = expect_int(item, what);
    if (n < 0) {
      fail(fmt::format(
          "{}: expected non-negative ints, got {}; hint: the file is corrupt", what, n));
    }
    sizes.push_back(n);
  }
  return sizes;
}

// _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, meta])
// and the older _rebuild_tensor(storage, storage_offset, size, stride).
Ref Unpickler::rebuild_tensor(const std::vector<Ref>& args) {
  if (args.size() < 4 || args[0]->kind != Kind::Storage) {
    fail(
        fmt::format("_rebuild_tensor at byte {}: expected (storage, offset, size, stride, ...), "
                    "got {} arguments; hint: the file is corrupt",
                    op_pos_,
                    args.size()));
  }
  const StorageInfo& storage = storages_[static_cast<std::size_t>(args[0]->i)];
  PickledTensor t;
  t.storage_key = storage.key;
  t.dtype = storage.dtype;
  t.storage_numel = storage.numel;
  std::int64_t offset = expect_int(args[1], "tensor storage offset");
  t.shape = expect_sizes(args[2], "tensor size");
  t.strides = expect_sizes(args[3], "tensor stride");
  if (offset < 0 || t.shape.size() != t.strides.size()) {
    fail(
        fmt::format("tensor at byte {}: expected a non-negative offset and one stride per size, "
                    "got offset {}, {} sizes, {} strides; hint: the file is corrupt",
                    op_pos_,
                    offset,
                    t.shape.size(),
                    t.strides.size()));
  }
  // Every element the view reaches must lie inside its storage (or storage view), and the view
  // may not hold more elements than the storage (no stride-0 expansions to materialize).
  __int128 last = offset;
  __int128 numel = 1;
  for (auto n : t.shape) {
    if (n == 0) numel = 0;
  }
  for (std::size_t d = 0; d < t.shape.size() && numel > 0; ++d) {
    last += static_cast<__int128>(t.shape[d] > 0 ? t.shape[d] - 1 : 0) * t.strides[d];
    numel *= t.shape[d];
    if (last > storage.view_numel || numel > storage.view_numel) break;  // stays in 128 bits
  }
  if ((numel > 0 && last >= storage.view_numel) || numel > storage.view_numel ||
      offset > storage.view_numel) {
    fail(
        fmt::format("tensor at byte {}: expected a view inside its storage '{}' of {} elements, "
                    "got offset {} reaching element {}; hint: the file is corrupt",
                    op_pos_,
                    storage.key,
                    storage.view_numel,
                    offset,
                    static_cast<long long>(last > std::numeric_limits<std::int64_t>::max()
                                               ? std::numeric_limits<std::int64_t>::max()
                                               : static_cast<std::int64_t>(last))));
  }
  t.storage_offset = offset + storage.view_offset;
  Ref r = make(Kind::Tensor);
  r->i = static_cast<std::int64_t>(tensors_.size());
  tensors_.push_back(std::move(t));
  return r;
}

void Unpickler::reduce() {
  Ref args = pop();
  Ref callable = pop();
  if (callable->kind != Kind::Global || args->kind != Kind::Tuple) {
    fail(
        fmt::format("REDUCE at byte {}: expected a global and an argument tuple, got {} and "
                    "{}; hint: the file is corrupt",
                    op_pos_,
                    kind_name(callable->kind),
                    kind_name(args->kind)));
  }
  switch (static_cast<GlobalKind>(callable->i)) {
    case GlobalKind::OrderedDict:
      if (!args->items.empty()) {
        fail(
            fmt::format("OrderedDict at byte {}: expected no arguments, got {}; hint: re-save "
                        "the state dict with torch.save",
                        op_pos_,
                        args->items.size()));
      }
      push(make(Kind::Dict));
      return;
    case GlobalKind::RebuildTensorV2:
    case GlobalKind::RebuildTensor:
      push(rebuild_tensor(args->items));
      return;
    case GlobalKind::RebuildParameter:
      if (args->items.empty() || args->items[0]->kind != Kind::Tensor) {
        fail(
            fmt::format("_rebuild_parameter at byte {}: expected a tensor argument, got none; "
                        "hint: the file is corrupt",
                        op_pos_));
      }
      push(args->items[0]);
      return;
    case GlobalKind::Storage:
      break;
  }
  fail(
      fmt::format("REDUCE at byte {}: global '{}': expected a callable, got a storage type; "
                  "hint: the file is corrupt",
                  op_pos_,
                  callable->s));
}

// torch.save's persistent ids: ('storage', <Type>Storage, key, location, numel[, view_metadata]).
void Unpickler::persistent_load() {
  Ref pid = pop();
  const auto& it = pid->items;
  if (pid->kind != Kind::Tuple || (it.size() != 5 && it.size() != 6) ||
      it[0]->kind != Kind::String || it[0]->s != "storage" || it[1]->kind != Kind::Global ||
      static_cast<GlobalKind>(it[1]->i) != GlobalKind::Storage || it[2]->kind != Kind::String ||
      it[3]->kind != Kind::String) {
    fail(
        fmt::format("persistent id at byte {}: expected ('storage', <Type>Storage, key, "
                    "location, numel), got {} of {} items; hint: the file is corrupt",
                    op_pos_,
                    kind_name(pid->kind),
                    it.size()));
  }
  StorageInfo s;
  s.dtype = static_cast<DType>(static_cast<int>(it[1]->f));
  s.key = it[2]->s;
  s.numel = expect_int(it[4], "storage numel");
  if (s.numel < 0 || static_cast<std::uint64_t>(s.numel) >
                         static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) /
                             dtype_item_size(s.dtype)) {
    fail(
        fmt::format("storage '{}': expected a numel whose byte size fits in 63 bits, got {}; "
                    "hint: the file is corrupt",
                    s.key,
                    s.numel));
  }
  s.view_numel = s.numel;
  if (it.size() == 6 && it[5]->kind != Kind::None) {
    // Legacy storage views (view_key, offset, view_size), all in elements of the root storage.
    Ref view = it[5];
    if (view->kind != Kind::Tuple || view->items.size() != 3) {
      fail(
          fmt::format("storage '{}': expected view metadata (key, offset, size), got {}; "
                      "hint: the file is corrupt",
                      s.key,
                      kind_name(view->kind)));
    }
    s.view_offset = expect_int(view->items[1], "storage view offset");
    s.view_numel = expect_int(view->items[2], "storage view size");
    if (s.view_offset < 0 || s.view_numel < 0 || s.view_offset > s.numel ||
        s.view_numel > s.numel - s.view_offset) {
      fail(
          fmt::format("storage '{}': expected a view inside {} elements, got offset {} size {}; "
                      "hint: the file is corrupt",
                      s.key,
                      s.numel,
                      s.view_offset,
                      s.view_numel));
    }
  }
  Ref r = make(Kind::Storage);
  r->i = static_cast<std::int64_t>(storages_.size());
  storages_.push_back(std::move(s));
  push(r);
}

Ref Unpickler::run() {
  for (;;) {
    if (pos_ >= size_) {
      fail(
          fmt::format("byte {}: expected an opcode, got the end of the data; hint: the file is "
                      "truncated",
                      pos_));
    }
    op_pos_ = pos_;
    op_ = data_[pos_++];
    switch (op_) {
      case 0x80:  // PROTO
        if (read_le(1) > 5) fail(fmt::format("PROTO: expected protocol 2 to 5, got a newer one"));
        break;
      case 0x95:  // FRAME: framing is only a read-ahead hint
        read_le(8);
        break;
      case '.': {  // STOP
        Ref result = pop();
        return result;
      }
      case '(':
        marks_.push_back(stack_.size());
        break;  // MARK
      case '0':
        pop();
        break;  // POP
      case '1':
        pop_mark();
        break;  // POP_MARK
      case '2':
        push(top());
        break;  // DUP
      case 'N':
        push(make(Kind::None));
        break;      // NONE
      case 0x88:    // NEWTRUE
      case 0x89: {  // NEWFALSE
        Ref r = make(Kind::Bool);
        r->i = op_ == 0x88;
        push(r);
        break;
      }
      case 'J':
        push_int(static_cast<std::int32_t>(read_le(4)));
        break;  // BININT
      case 'K':
        push_int(static_cast<std::int64_t>(read_le(1)));
        break;  // BININT1
      case 'M':
        push_int(static_cast<std::int64_t>(read_le(2)));
        break;      // BININT2
      case 0x8a:    // LONG1
      case 0x8b: {  // LONG4
        std::uint64_t n = read_le(op_ == 0x8a ? 1 : 4);
        need(n);
        if (n <= 8) {
          std::uint64_t v = n == 0 ? 0 : read_le(n);
          if (n > 0 && n < 8 && (v >> (8 * n - 1)) != 0) v |= ~0ULL << (8 * n);  // sign-extend
          push_int(static_cast<std::int64_t>(v));
        } else {
          push_string(Kind::BigInt, read_bytes(n));
        }
        break;
      }
      case 'G': {  // BINFLOAT, big-endian
        need(8);
        std::uint64_t bits = 0;
        for (int k = 0; k < 8; ++k) bits = (bits << 8) | data_[pos_ + k];
        pos_ += 8;
        Ref r = make(Kind::Float);
        std::memcpy(&r->f, &bits, sizeof(bits));
        push(r);
        break;
      }
      case 'X':
        push_string(Kind::String, read_bytes(read_le(4)));
        break;  // BINUNICODE
      case 0x8c:
        push_string(Kind::String, read_bytes(read_le(1)));
        break;  // SHORT_BINUNICODE
      case 0x8d:
        push_string(Kind::String, read_bytes(read_le(8)));
        break;  // BINUNICODE8
      case 'T':
        push_string(Kind::String, read_bytes(read_le(4)));
        break;  // BINSTRING
      case 'U':
        push_string(Kind::String, read_bytes(read_le(1)));
        break;  // SHORT_BINSTRING
      case 'B':
        push_string(Kind::Bytes, read_bytes(read_le(4)));
        break;  // BINBYTES
      case 'C':
        push_string(Kind::Bytes, read_bytes(read_le(1)));
        break;  // SHORT_BINBYTES
      case ')':
        push(make_tuple({}));
        break;  // EMPTY_TUPLE
      case 't':
        push(make_tuple(pop_mark()));
        break;      // TUPLE
      case 0x85:    // TUPLE1
      case 0x86:    // TUPLE2
      case 0x87: {  // TUPLE3
        std::size_t n = op_ - 0x84;
        std::vector<Ref> items(n);
        for (std::size_t k = n; k-- > 0;) items[k] = pop();
        push(make_tuple(std::move(items)));
        break;
      }
      case ']':
        push(make(Kind::List));
        break;     // EMPTY_LIST
      case 'l': {  // LIST
        Ref r = make(Kind::List);
        r->items = pop_mark();
        push(r);
        break;
      }
      case 'a': {  // APPEND
        Ref item = pop();
        append_items(top(), {item});
        break;
      }
      case 'e': {  // APPENDS
        auto items = pop_mark();
        append_items(top(), items);
        break;
      }
      case '}':
        push(make(Kind::Dict));
        break;     // EMPTY_DICT
      case 'd': {  // DICT
        auto items = pop_mark();
        Ref r = make(Kind::Dict);
        set_items(r, items);
        push(r);
        break;
      }
      case 's': {  // SETITEM
        Ref value = pop();
        Ref key = pop();
        set_items(top(), {key, value});
        break;
      }
      case 'u': {  // SETITEMS
        auto items = pop_mark();
        set_items(top(), items);
        break;
      }
      case 'c': {  // GLOBAL
        std::string module = read_line();
        std::string name = read_line();
        push_global(module, name);
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        Ref name = pop();
        Ref module = pop();
        if (name->kind != Kind::String || module->kind != Kind::String) {
          fail(
              fmt::format("STACK_GLOBAL at byte {}: expected two strings, got {} and {}; "
                          "hint: the file is corrupt",
                          op_pos_,
                          kind_name(module->kind),
                          kind_name(name->kind)));
        }
        push_global(module->s, name->s);
        break;
      }
      case 'q':
        memo_put(read_le(1));
        break;  // BINPUT
      case 'r':
        memo_put(read_le(4));
        break;  // LONG_BINPUT
      case 0x94:
        memo_put(memo_.size());
        break;  // MEMOIZE
      case 'h':
        memo_get(read_le(1));
        break;  // BINGET
      case 'j':
        memo_get(read_le(4));
        break;  // LONG_BINGET
      case 'Q':
        persistent_load();
        break;  // BINPERSID
      case 'R':
        reduce();
        break;     // REDUCE
      case 'b': {  // BUILD: e.g. OrderedDict._metadata; ignored
        pop();
        top();
        break;
      }
      default: {
        std::string printable = (op_ >= 0x20 && op_ < 0x7f) ? fmt::format(" '{}'", char(op_)) : "";
        fail(
            fmt::format("opcode at byte {}: expected one of the opcodes torch.save writes, got "
                        "0x{:02x}{}; hint: this is not a PyTorch state dict (or it uses a "
                        "pickle feature we do not run)",
                        op_pos_,
                        op_,
                        printable));
      }
    }
  }
}

// The top-level dict of a state dict: str -> tensor.
std::vector<PickledTensor> collect_state_dict(const Unpickler& unpickler, Ref root) {
  if (root->kind != Kind::Dict) {
    unpickler.fail(
        fmt::format("top-level object: expected a state dict (dict of tensors), got a "
                    "{}; hint: save model.state_dict(), not the model or a list",
                    kind_name(root->kind)));
  }
  std::vector<PickledTensor> result;
  for (const auto& [key, value] : root->entries) {
    if (key->kind != Kind::String) {
      unpickler.fail(
          fmt::format("state dict key: expected a str, got {}; hint: save "
                      "model.state_dict()",
                      kind_name(key->kind)));
    }
    if (value->kind != Kind::Tensor) {
      unpickler.fail(
          fmt::format("state dict entry '{}': expected a tensor, got {}; hint: this "
                      "looks like a training checkpoint, save its model state_dict()",
                      key->s,
                      kind_name(value->kind)));
    }
    PickledTensor t = unpickler.tensors()[static_cast<std::size_t>(value->i)];
    t.name = key->s;
    result.push_back(std::move(t));
  }
  return result;
}

[[noreturn]] void fail_legacy(const std::string& source, const std::string& what) {
  throw CheckpointError(fmt::format("reading legacy checkpoint '{}': {}", source, what));
}

}  // namespace

std::vector<PickledTensor> parse_state_dict_pickle(const std::uint8_t* data, std::size_t size,
                                                   const std::string& source) {
  Unpickler unpickler(data, size, 0, source);
  Ref root = unpickler.run();
  return collect_state_dict(unpickler, root);
}

bool is_legacy_checkpoint(const std::uint8_t* data, std::size_t size) {
  // PROTO n, LONG1 10, <magic>
  return size >= 4 + sizeof(kLegacyMagic) && data[0] == 0x80 && data[2] == 0x8a &&
         data[3] == sizeof(kLegacyMagic) &&
         std::memcmp(data + 4, kLegacyMagic, sizeof(kLegacyMagic)) == 0;
}

LegacyCheckpoint parse_legacy_checkpoint(const std::uint8_t* data, std::size_t size,
                                         const std::string& source) {
  auto fail = [&](const std::string& what) { fail_legacy(source, what); };
  std::size_t pos = 0;
  auto run_one = [&](Unpickler& u) {
    Ref v = u.run();
    pos = u.position();
    return v;
  };
  {
    Unpickler magic(data, size, pos, source);
    Ref v = run_one(magic);
    if (v->kind != Kind::BigInt || v->s.size() != sizeof(kLegacyMagic) ||
        std::memcmp(v->s.data(), kLegacyMagic, sizeof(kLegacyMagic)) != 0) {
      fail(
          fmt::format("magic number: expected the torch.save magic number, got {}; hint: this "
                      "pickle is not a PyTorch checkpoint",
                      kind_name(v->kind)));
    }
  }
  {
    Unpickler version(data, size, pos, source);
    Ref v = run_one(version);
    if (v->kind != Kind::Int || v->i != kLegacyProtocolVersion) {
      fail(
          fmt::format("protocol version: expected {}, got {}; hint: re-save the file with a "
                      "recent torch.save",
                      kLegacyProtocolVersion,
                      v->kind == Kind::Int ? std::to_string(v->i) : kind_name(v->kind)));
    }
  }
  {
    Unpickler sys_info(data, size, pos, source);
    Ref v = run_one(sys_info);
    if (v->kind == Kind::Dict) {
      for (const auto& [key, value] : v->entries) {
        if (key->kind == Kind::String && key->s == "little_endian" &&
            (value->kind != Kind::Bool || value->i != 1)) {
          fail(
              "sys_info little_endian: expected True, got False; hint: re-save the file on a "
              "little-endian machine");
        }
      }
    }
  }
  LegacyCheckpoint result;
  Unpickler main(data, size, pos, source);
  result.tensors = collect_state_dict(main, run_one(main));

  Unpickler key_list(data, size, pos, source);
  Ref keys = run_one(key_list);
  if (keys->kind != Kind::List) {
    fail(fmt::format("storage key list: expected a list, got {}; hint: the file is corrupt",
                     kind_name(keys->kind)));
  }
  // The dtype and numel each storage was declared with in the main pickle.
  std::map<std::string, const StorageInfo*> declared;
  for (const auto& s : main.storages()) {
    auto [it, inserted] = declared.emplace(s.key, &s);
    if (!inserted && (it->second->dtype != s.dtype || it->second->numel != s.numel)) {
      fail(
          fmt::format("storage '{}': expected one dtype and size, got {} x {} and {} x {}; hint: "
                      "the file is corrupt",
                      s.key,
                      dtype_name(it->second->dtype),
                      it->second->numel,
                      dtype_name(s.dtype),
                      s.numel));
    }
  }
  for (Ref key : keys->items) {
    if (key->kind != Kind::String) {
      fail(fmt::format("storage key list: expected strs, got {}; hint: the file is corrupt",
                       kind_name(key->kind)));
    }
    auto it = declared.find(key->s);
    if (it == declared.end() || result.storages.count(key->s) != 0) {
      fail(
          fmt::format("storage '{}': expected a key used once by the state dict, got {}; hint: "
                      "the file is corrupt",
                      key->s,
                      it == declared.end() ? "an unknown key" : "a repeated key"));
    }
    const StorageInfo& info = *it->second;
    if (size - pos < 8) {
      fail(
          fmt::format("storage '{}': expected an 8-byte size at byte {}, got {} bytes; hint: the "
                      "file is truncated",
                      key->s,
                      pos,
                      size - pos));
    }
    std::uint64_t numel = 0;
    for (int k = 7; k >= 0; --k) numel = (numel << 8) | data[pos + k];
    pos += 8;
    if (numel != static_cast<std::uint64_t>(info.numel)) {
      fail(fmt::format("storage '{}': expected {} elements, got {}; hint: the file is corrupt",
                       key->s,
                       info.numel,
                       numel));
    }
    std::uint64_t nbytes = numel * dtype_item_size(info.dtype);  // no overflow: checked at load
    if (size - pos < nbytes) {
      fail(
          fmt::format("storage '{}': expected {} bytes at byte {}, got {}; hint: the file is "
                      "truncated",
                      key->s,
                      nbytes,
                      pos,
                      size - pos));
    }
    result.storages[key->s] = LegacyStorage{info.dtype, info.numel, pos};
    pos += nbytes;
  }
  for (const auto& t : result.tensors) {
    if (result.storages.count(t.storage_key) == 0) {
      fail(
          fmt::format("tensor '{}': expected its storage '{}' in the storage list, got none; "
                      "hint: the file is corrupt",
                      t.name,
                      t.storage_key));
    }
  }
  return result;
}

}  // namespace ftune
