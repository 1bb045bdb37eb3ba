// Reads a struct's layout (member offsets, sizes, type names) from BTF, for the TS layout tests.
#pragma once

#include <bpf/btf.h>
#include <napi.h>

#include <string>

namespace stoq {

// { name, size, members: [{ name, offsetBits, sizeBytes, bitfieldBits, type }] }, or null when the BTF
// holds no struct or union (or typedef of one) by that name.
Napi::Value StructLayout(Napi::Env env, const btf* b, const std::string& name);

}  // namespace stoq
