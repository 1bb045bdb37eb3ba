// An attachment of a program to an interface (XDP link, TCX link, or a netlink tc filter) and its detach.
#pragma once

#include <bpf/libbpf.h>
#include <napi.h>

#include <string>

namespace stoq {

struct LinkInit {
  enum class Kind { kFd, kTcFilter } kind = Kind::kFd;
  int fd = -1;              // kFd: a BPF link; closing it detaches
  bpf_tc_hook hook{};       // kTcFilter: where the filter sits
  __u32 handle = 0;         // kTcFilter: the filter's identity for bpf_tc_detach
  __u32 priority = 0;
  std::string description;  // "prog on if (mode)" for messages
};

// Dropping the last JS reference detaches too (at garbage collection), as closing a file does; keep
// the BpfLink for as long as the program must stay attached.
class LinkWrap : public Napi::ObjectWrap<LinkWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit LinkWrap(const Napi::CallbackInfo& info);
  ~LinkWrap() override;

 private:
  Napi::Value Detach(const Napi::CallbackInfo& info);
  Napi::Value Description(const Napi::CallbackInfo& info);
  int DetachNow();  // 0 or a positive errno

  LinkInit link_;
  bool attached_ = false;
};

}  // namespace stoq
