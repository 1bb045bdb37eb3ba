// How the addon reports a failed libbpf call or syscall: libbpf's messages captured on the calling
// thread (the verifier log among them) and the one JS error shape that bpf.ts turns into a BpfError.
#pragma once

#include <napi.h>

#include <cerrno>
#include <string>

namespace stoq {

// Sends libbpf's print callback to the innermost LogScope of the calling thread; outside any scope
// warnings go to stderr and debug chatter is dropped (STOQ_LIBBPF_DEBUG=1 keeps it).
void InstallLibbpfPrint();

// While alive, collects what libbpf prints on this thread, keeping the tail when it grows large.
class LogScope {
 public:
  LogScope();
  ~LogScope();
  LogScope(const LogScope&) = delete;
  LogScope& operator=(const LogScope&) = delete;
  const std::string& Text() const { return text_; }

 private:
  std::string text_;
  std::string* outer_;
};

struct Failure {
  std::string op;      // the libbpf function or syscall that failed
  int err = 0;         // positive errno
  std::string target;  // what it acted on: a map, a program, an interface, a path
  std::string detail;  // extra words for the message
  std::string log;     // libbpf's messages captured during the call
};

Napi::Error ToJsError(Napi::Env env, const Failure& f);
[[noreturn]] void Throw(Napi::Env env, const Failure& f);
[[noreturn]] void Throw(Napi::Env env, const std::string& op, int err, const std::string& target,
                        const LogScope* log = nullptr);

// libbpf 1.x returns -errno; plain syscall wrappers return -1 and set errno.
inline int ErrOf(int ret) { return ret < -1 ? -ret : errno; }

}  // namespace stoq
