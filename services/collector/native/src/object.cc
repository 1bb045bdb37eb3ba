// BpfObject: open a .bpf.o (rodata and map sizes set before load), load it, hand out its programs and
// maps, read its BTF layouts, close it.
#include "object.h"

#include <bpf/btf.h>

#include <cstring>
#include <string>
#include <vector>

#include "addon.h"
#include "btf_layout.h"
#include "failure.h"
#include "map.h"
#include "program.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "rodata values are written in host order as the low bytes of a 64-bit value"
#endif

namespace stoq {
namespace {

Napi::Error Fail(Napi::Env env, const std::string& op, int err, const std::string& target,
                 const std::string& detail) {
  Failure f;
  f.op = op;
  f.err = err;
  f.target = target;
  f.detail = detail;
  return ToJsError(env, f);
}

struct RodataVar {
  std::string section;
  __u32 offset = 0;
  __u32 size = 0;
};

// Finds a variable of any .rodata* section by name; lists the known names when it is absent.
bool FindRodataVar(const btf* b, const std::string& name, RodataVar* out, std::string* known) {
  __u32 n = btf__type_cnt(b);
  for (__u32 id = 1; id < n; id++) {
    const btf_type* t = btf__type_by_id(b, id);
    if (!btf_is_datasec(t)) continue;
    const char* sec = btf__name_by_offset(b, t->name_off);
    if (sec == nullptr || strncmp(sec, ".rodata", 7) != 0) continue;
    const btf_var_secinfo* vs = btf_var_secinfos(t);
    for (__u16 i = 0; i < btf_vlen(t); i++, vs++) {
      const btf_type* var = btf__type_by_id(b, vs->type);
      const char* vname = btf__name_by_offset(b, var->name_off);
      if (vname == nullptr) continue;
      if (name == vname) {
        out->section = sec;
        out->offset = vs->offset;
        out->size = vs->size;
        return true;
      }
      if (!known->empty()) *known += ", ";
      *known += vname;
    }
  }
  return false;
}

}  // namespace

void RequireLoaded(Napi::Env env, const ObjectState& s, const std::string& what) {
  if (s.obj == nullptr) throw Fail(env, what, EBADF, s.path, "the object is closed");
  if (!s.loaded) throw Fail(env, what, EINVAL, s.path, "call load() first");
}

Napi::Function BpfObjectWrap::Define(Napi::Env env) {
  return DefineClass(env, "ObjectHandle",
                     {
                         InstanceMethod<&BpfObjectWrap::Load>("load"),
                         InstanceMethod<&BpfObjectWrap::ProgramNames>("programNames"),
                         InstanceMethod<&BpfObjectWrap::MapNames>("mapNames"),
                         InstanceMethod<&BpfObjectWrap::Program>("program"),
                         InstanceMethod<&BpfObjectWrap::Map>("map"),
                         InstanceMethod<&BpfObjectWrap::BtfStruct>("btfStruct"),
                         InstanceMethod<&BpfObjectWrap::Close>("close"),
                     });
}

// new ObjectHandle(path, rodata: [name, bigint][], pinRoot: string | null, maxEntries: [name, number][])
BpfObjectWrap::BpfObjectWrap(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<BpfObjectWrap>(info), state_(std::make_shared<ObjectState>()) {
  Napi::Env env = info.Env();
  state_->path = info[0].As<Napi::String>().Utf8Value();
  std::string pin_root = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";

  LogScope log;
  LIBBPF_OPTS(bpf_object_open_opts, opts);
  if (!pin_root.empty()) opts.pin_root_path = pin_root.c_str();
  bpf_object* obj = bpf_object__open_file(state_->path.c_str(), &opts);
  if (obj == nullptr) Throw(env, "bpf_object__open_file", errno, state_->path, &log);
  state_->obj = obj;

  SetMaxEntries(env, info[3].As<Napi::Array>());
  SetRodata(env, info[1].As<Napi::Array>());
}

void BpfObjectWrap::SetMaxEntries(Napi::Env env, Napi::Array entries) {
  for (uint32_t i = 0; i < entries.Length(); i++) {
    Napi::Array kv = entries.Get(i).As<Napi::Array>();
    std::string name = kv.Get(0u).As<Napi::String>().Utf8Value();
    uint32_t n = kv.Get(1u).As<Napi::Number>().Uint32Value();
    bpf_map* map = bpf_object__find_map_by_name(state_->obj, name.c_str());
    if (map == nullptr) throw Fail(env, "bpf_map__set_max_entries", ENOENT, name, "no such map");
    int err = bpf_map__set_max_entries(map, n);
    if (err != 0) Throw(env, "bpf_map__set_max_entries", ErrOf(err), name);
  }
}

void BpfObjectWrap::SetRodata(Napi::Env env, Napi::Array entries) {
  if (entries.Length() == 0) return;
  const btf* b = bpf_object__btf(state_->obj);
  if (b == nullptr) throw Fail(env, "rodata", ENOENT, state_->path, "the object has no BTF");
  for (uint32_t i = 0; i < entries.Length(); i++) {
    Napi::Array kv = entries.Get(i).As<Napi::Array>();
    std::string name = kv.Get(0u).As<Napi::String>().Utf8Value();
    Napi::BigInt value = kv.Get(1u).As<Napi::BigInt>();

    RodataVar var;
    std::string known;
    if (!FindRodataVar(b, name, &var, &known)) {
      throw Fail(env, "rodata", ENOENT, name,
                 "no `const volatile` variable of that name; known: " + (known.empty() ? "none" : known));
    }
    if (var.size != 1 && var.size != 2 && var.size != 4 && var.size != 8) {
      throw Fail(env, "rodata", EINVAL, name, "only 1, 2, 4 or 8-byte integers can be set");
    }
    bool lossless = false;
    int64_t s = value.Int64Value(&lossless);
    uint64_t u = static_cast<uint64_t>(s);
    bool negative = s < 0;
    if (!lossless) {
      u = value.Uint64Value(&lossless);
      negative = false;
    }
    unsigned bits = var.size * 8;
    bool fits = lossless && (bits == 64 || (negative ? s >= -(int64_t(1) << (bits - 1)) : u < (uint64_t(1) << bits)));
    if (!fits) {
      throw Fail(env, "rodata", ERANGE, name,
                 "value does not fit in " + std::to_string(var.size) + " bytes");
    }
    bpf_map* map = bpf_object__find_map_by_name(state_->obj, var.section.c_str());
    size_t sz = 0;
    const void* current = map != nullptr ? bpf_map__initial_value(map, &sz) : nullptr;
    if (current == nullptr || var.offset + var.size > sz) {
      throw Fail(env, "rodata", ENOENT, name, "section " + var.section + " has no data to write");
    }
    std::vector<char> image(static_cast<const char*>(current), static_cast<const char*>(current) + sz);
    memcpy(image.data() + var.offset, &u, var.size);
    int err = bpf_map__set_initial_value(map, image.data(), image.size());
    if (err != 0) Throw(env, "bpf_map__set_initial_value", ErrOf(err), name);
  }
}

Napi::Value BpfObjectWrap::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (state_->obj == nullptr) throw Fail(env, "bpf_object__load", EBADF, state_->path, "the object is closed");
  LogScope log;
  int err = bpf_object__load(state_->obj);
  if (err != 0) Throw(env, "bpf_object__load", ErrOf(err), state_->path, &log);
  state_->loaded = true;
  return env.Undefined();
}

Napi::Value BpfObjectWrap::ProgramNames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  if (state_->obj == nullptr) return out;
  uint32_t i = 0;
  bpf_program* p;
  bpf_object__for_each_program(p, state_->obj) out.Set(i++, bpf_program__name(p));
  return out;
}

// Declared maps only; the internal .rodata/.data/.bss maps are still reachable by map(".bss").
Napi::Value BpfObjectWrap::MapNames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  if (state_->obj == nullptr) return out;
  uint32_t i = 0;
  bpf_map* m;
  bpf_object__for_each_map(m, state_->obj) {
    if (!bpf_map__is_internal(m)) out.Set(i++, bpf_map__name(m));
  }
  return out;
}

Napi::Value BpfObjectWrap::Program(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  RequireLoaded(env, *state_, "program");
  bpf_program* p = bpf_object__find_program_by_name(state_->obj, name.c_str());
  if (p == nullptr) throw Fail(env, "bpf_object__find_program_by_name", ENOENT, name, "no such program in " + state_->path);
  ProgramInit init{state_, p};
  return Data(env).program.New({Napi::External<ProgramInit>::New(env, &init)});
}

Napi::Value BpfObjectWrap::Map(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  RequireLoaded(env, *state_, "map");
  bpf_map* m = bpf_object__find_map_by_name(state_->obj, name.c_str());
  if (m == nullptr) throw Fail(env, "bpf_object__find_map_by_name", ENOENT, name, "no such map in " + state_->path);
  MapInit init{state_, bpf_map__fd(m), bpf_map__name(m)};
  return Data(env).map.New({Napi::External<MapInit>::New(env, &init)});
}

Napi::Value BpfObjectWrap::BtfStruct(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  if (state_->obj == nullptr) throw Fail(env, "btf", EBADF, state_->path, "the object is closed");
  const btf* b = bpf_object__btf(state_->obj);
  if (b == nullptr) return env.Null();
  return StructLayout(env, b, name);
}

Napi::Value BpfObjectWrap::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (state_->busy.load() > 0) {
    throw Fail(env, "bpf_object__close", EBUSY, state_->path, "await the pending testRunAsync calls first");
  }
  if (state_->obj != nullptr) bpf_object__close(state_->obj);
  state_->obj = nullptr;
  state_->loaded = false;
  return env.Undefined();
}

}  // namespace stoq
