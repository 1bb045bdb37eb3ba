// Per-addon-instance data: the constructors the addon uses to hand out program, map and link handles.
#pragma once

#include <napi.h>

namespace stoq {

struct AddonData {
  Napi::FunctionReference program;
  Napi::FunctionReference map;
  Napi::FunctionReference link;
};

inline AddonData& Data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace stoq
