// Pinning any BPF object fd to a path on a BPF filesystem, shared by programs and maps.
#pragma once

#include <napi.h>

#include <string>

namespace stoq {

// Pins fd at path, creating missing parent directories; the path must be on a bpffs mount.
void PinFd(Napi::Env env, int fd, const std::string& path, const std::string& target);
// Removes a pin; the object lives on while something else holds it.
void Unpin(Napi::Env env, const std::string& path, const std::string& target);

}  // namespace stoq
