// Struct layouts and C-like type names read from an object's BTF.
#include "btf_layout.h"

#include <string>

namespace stoq {
namespace {

constexpr int kMaxDepth = 16;  // BTF chains are short; the bound only guards against a corrupt loop

std::string Named(const btf* b, const btf_type* t, const char* prefix) {
  const char* n = btf__name_by_offset(b, t->name_off);
  return std::string(prefix) + (n != nullptr && n[0] != '\0' ? n : "<anon>");
}

std::string TypeName(const btf* b, __u32 id, int depth = 0) {
  if (id == 0) return "void";
  if (depth > kMaxDepth) return "?";
  const btf_type* t = btf__type_by_id(b, id);
  if (t == nullptr) return "?";
  switch (btf_kind(t)) {
    case BTF_KIND_INT:
    case BTF_KIND_FLOAT:
    case BTF_KIND_TYPEDEF:
      return Named(b, t, "");
    case BTF_KIND_STRUCT:
      return Named(b, t, "struct ");
    case BTF_KIND_UNION:
      return Named(b, t, "union ");
    case BTF_KIND_ENUM:
    case BTF_KIND_ENUM64:
      return Named(b, t, "enum ");
    case BTF_KIND_FWD:
      return Named(b, t, btf_kflag(t) ? "union " : "struct ");
    case BTF_KIND_PTR:
      return TypeName(b, t->type, depth + 1) + " *";
    case BTF_KIND_CONST:
      return "const " + TypeName(b, t->type, depth + 1);
    case BTF_KIND_VOLATILE:
      return "volatile " + TypeName(b, t->type, depth + 1);
    case BTF_KIND_RESTRICT:
    case BTF_KIND_TYPE_TAG:
      return TypeName(b, t->type, depth + 1);
    case BTF_KIND_ARRAY: {
      // Multi-dimensional arrays are arrays of arrays: collect the dimensions outermost first.
      std::string dims;
      const btf_type* cur = t;
      __u32 elem = 0;
      for (int d = 0; d < kMaxDepth && cur != nullptr && btf_is_array(cur); d++) {
        const struct btf_array* a = btf_array(cur);
        dims += "[" + std::to_string(a->nelems) + "]";
        elem = a->type;
        cur = btf__type_by_id(b, elem);
      }
      return TypeName(b, elem, depth + 1) + dims;
    }
    case BTF_KIND_FUNC_PROTO:
      return "function";
    default:
      return "?";
  }
}

// A struct or union by name, or a typedef naming one (`typedef struct {...} foo_t`).
__s32 FindComposite(const btf* b, const std::string& name) {
  __s32 id = btf__find_by_name_kind(b, name.c_str(), BTF_KIND_STRUCT);
  if (id > 0) return id;
  id = btf__find_by_name_kind(b, name.c_str(), BTF_KIND_UNION);
  if (id > 0) return id;
  id = btf__find_by_name_kind(b, name.c_str(), BTF_KIND_TYPEDEF);
  if (id <= 0) return -1;
  id = btf__resolve_type(b, id);
  if (id <= 0) return -1;
  const btf_type* t = btf__type_by_id(b, id);
  return btf_is_composite(t) ? id : -1;
}

}  // namespace

Napi::Value StructLayout(Napi::Env env, const btf* b, const std::string& name) {
  __s32 id = FindComposite(b, name);
  if (id <= 0) return env.Null();
  const btf_type* t = btf__type_by_id(b, id);
  Napi::Object out = Napi::Object::New(env);
  out.Set("name", name);
  out.Set("size", Napi::Number::New(env, t->size));
  Napi::Array members = Napi::Array::New(env, btf_vlen(t));
  const btf_member* m = btf_members(t);
  for (__u32 i = 0; i < btf_vlen(t); i++, m++) {
    Napi::Object mo = Napi::Object::New(env);
    const char* mname = btf__name_by_offset(b, m->name_off);
    mo.Set("name", mname != nullptr ? mname : "");
    mo.Set("offsetBits", Napi::Number::New(env, btf_member_bit_offset(t, i)));
    __s64 size = btf__resolve_size(b, m->type);
    mo.Set("sizeBytes", Napi::Number::New(env, static_cast<double>(size < 0 ? 0 : size)));
    mo.Set("bitfieldBits", Napi::Number::New(env, btf_member_bitfield_size(t, i)));
    mo.Set("type", TypeName(b, m->type));
    members.Set(i, mo);
  }
  out.Set("members", members);
  return out;
}

}  // namespace stoq
