// Programs: XDP and TC attachment to an interface, bpf_prog_test_run_opts (sync and on the libuv pool),
// pinning.
#include "program.h"

#include <bpf/bpf.h>
#include <linux/if_link.h>
#include <net/if.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "addon.h"
#include "failure.h"
#include "link.h"
#include "pin.h"

namespace stoq {
namespace {

// TCX (kernel >= 6.6) attach types; the uapi headers of Debian 12 (6.1) predate them.
constexpr auto kTcxIngress = static_cast<bpf_attach_type>(46);
constexpr auto kTcxEgress = static_cast<bpf_attach_type>(47);

// Room for a program that grows the packet (bpf_xdp_adjust_head/tail) before the kernel says ENOSPC.
constexpr size_t kDataOutSlack = 4096;

struct TestRunBaton {
  std::vector<uint8_t> data;
  std::vector<uint8_t> ctx_in;
  std::vector<uint8_t> out;
  uint32_t repeat = 1;
  int retval = 0;
  uint32_t duration_ns = 0;
  Failure failure;

  bool Run(int fd, const std::string& name) {
    out.resize(data.size() + kDataOutSlack);
    LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = data.data(), .data_out = out.data(),
                .data_size_in = static_cast<__u32>(data.size()),
                .data_size_out = static_cast<__u32>(out.size()), .repeat = static_cast<int>(repeat));
    if (!ctx_in.empty()) {
      o.ctx_in = ctx_in.data();
      o.ctx_size_in = static_cast<__u32>(ctx_in.size());
    }
    LogScope log;
    if (bpf_prog_test_run_opts(fd, &o) != 0) {
      failure.op = "bpf_prog_test_run_opts";
      failure.err = errno;
      failure.target = name;
      failure.log = log.Text();
      return false;
    }
    retval = static_cast<int>(o.retval);
    duration_ns = o.duration;
    out.resize(o.data_size_out);
    return true;
  }

  Napi::Object Result(Napi::Env env) {
    Napi::Object r = Napi::Object::New(env);
    r.Set("retval", Napi::Number::New(env, retval));
    r.Set("durationNs", Napi::Number::New(env, duration_ns));
    r.Set("dataOut", Napi::Buffer<uint8_t>::Copy(env, out.data(), out.size()));
    return r;
  }
};

void ReadTestRunArgs(const Napi::CallbackInfo& info, TestRunBaton* t) {
  Napi::Buffer<uint8_t> data = info[0].As<Napi::Buffer<uint8_t>>();
  t->data.assign(data.Data(), data.Data() + data.Length());
  t->repeat = info[1].As<Napi::Number>().Uint32Value();
  if (info[2].IsBuffer()) {
    Napi::Buffer<uint8_t> ctx = info[2].As<Napi::Buffer<uint8_t>>();
    t->ctx_in.assign(ctx.Data(), ctx.Data() + ctx.Length());
  }
}

// Runs the test on the libuv pool so a long repeat does not stall the event loop; the baton holds a
// copy of the input, and the object cannot be closed while it runs.
class TestRunWorker : public Napi::AsyncWorker {
 public:
  TestRunWorker(Napi::Env env, std::shared_ptr<ObjectState> state, int fd, std::string name,
                TestRunBaton run)
      : Napi::AsyncWorker(env, "stoq-bpf-test-run"),
        deferred_(Napi::Promise::Deferred::New(env)),
        state_(std::move(state)),
        fd_(fd),
        name_(std::move(name)),
        run_(std::move(run)) {
    state_->busy++;
  }
  ~TestRunWorker() override { state_->busy--; }

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override {
    if (!run_.Run(fd_, name_)) SetError(run_.failure.op);
  }
  void OnOK() override { deferred_.Resolve(run_.Result(Env())); }
  void OnError(const Napi::Error&) override { deferred_.Reject(ToJsError(Env(), run_.failure).Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<ObjectState> state_;
  int fd_;
  std::string name_;
  TestRunBaton run_;
};

unsigned IfIndex(Napi::Env env, const std::string& ifname) {
  unsigned ifindex = if_nametoindex(ifname.c_str());
  if (ifindex == 0) Throw(env, "if_nametoindex", errno, ifname);
  return ifindex;
}

}  // namespace

Napi::Function ProgramWrap::Define(Napi::Env env) {
  return DefineClass(env, "ProgramHandle",
                     {
                         InstanceAccessor<&ProgramWrap::Fd>("fd"),
                         InstanceAccessor<&ProgramWrap::Name>("name"),
                         InstanceAccessor<&ProgramWrap::Type>("type"),
                         InstanceMethod<&ProgramWrap::AttachXdp>("attachXdp"),
                         InstanceMethod<&ProgramWrap::AttachTc>("attachTc"),
                         InstanceMethod<&ProgramWrap::TestRun>("testRun"),
                         InstanceMethod<&ProgramWrap::TestRunAsync>("testRunAsync"),
                         InstanceMethod<&ProgramWrap::Pin>("pin"),
                         InstanceMethod<&ProgramWrap::Unpin>("unpin"),
                     });
}

ProgramWrap::ProgramWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ProgramWrap>(info) {
  if (!info[0].IsExternal()) {
    throw Napi::TypeError::New(info.Env(), "programs come from BpfObject.program()");
  }
  ProgramInit* init = info[0].As<Napi::External<ProgramInit>>().Data();
  state_ = init->state;
  prog_ = init->prog;
  name_ = bpf_program__name(prog_);
}

int ProgramWrap::ProgFd(Napi::Env env, const char* what) {
  RequireLoaded(env, *state_, what);
  return bpf_program__fd(prog_);
}

Napi::Value ProgramWrap::Fd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), ProgFd(info.Env(), "fd"));
}

Napi::Value ProgramWrap::Name(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), name_);
}

Napi::Value ProgramWrap::Type(const Napi::CallbackInfo& info) {
  RequireLoaded(info.Env(), *state_, "type");
  const char* t = libbpf_bpf_prog_type_str(bpf_program__type(prog_));
  return Napi::String::New(info.Env(), t != nullptr ? t : "unknown");
}

// attachXdp(ifname, "native" | "generic"): an XDP link in the forced mode.
Napi::Value ProgramWrap::AttachXdp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string ifname = info[0].As<Napi::String>().Utf8Value();
  std::string mode = info[1].As<Napi::String>().Utf8Value();
  int fd = ProgFd(env, "attachXdp");
  unsigned ifindex = IfIndex(env, ifname);
  LinkInit link;
  link.description = name_ + " on " + ifname + " (xdp " + mode + ")";
  LogScope log;
  LIBBPF_OPTS(bpf_link_create_opts, opts,
              .flags = static_cast<__u32>(mode == "native" ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE));
  link.fd = bpf_link_create(fd, static_cast<int>(ifindex), BPF_XDP, &opts);
  if (link.fd < 0) Throw(env, "bpf_link_create(BPF_XDP)", errno, link.description, &log);
  return Data(env).link.New({Napi::External<LinkInit>::New(env, &link)});
}

// attachTc(ifname, "ingress" | "egress", "auto" | "tcx" | "netlink"): a TCX link where the kernel has
// them (>= 6.6), otherwise a direct-action filter on the clsact qdisc, which stays after detach.
Napi::Value ProgramWrap::AttachTc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string ifname = info[0].As<Napi::String>().Utf8Value();
  bool ingress = info[1].As<Napi::String>().Utf8Value() == "ingress";
  std::string api = info[2].As<Napi::String>().Utf8Value();
  int fd = ProgFd(env, "attachTc");
  unsigned ifindex = IfIndex(env, ifname);
  LinkInit link;
  std::string where = name_ + " on " + ifname + " (tc " + (ingress ? "ingress" : "egress");
  LogScope log;

  if (api != "netlink") {
    link.description = where + ", tcx)";
    link.fd = bpf_link_create(fd, static_cast<int>(ifindex), ingress ? kTcxIngress : kTcxEgress, nullptr);
    if (link.fd >= 0) return Data(env).link.New({Napi::External<LinkInit>::New(env, &link)});
    // EINVAL is how a kernel without TCX answers an attach type it does not know.
    if (api == "tcx" || errno != EINVAL) Throw(env, "bpf_link_create(BPF_TCX)", errno, link.description, &log);
  }

  link.kind = LinkInit::Kind::kTcFilter;
  link.description = where + ", netlink)";
  link.hook.sz = sizeof(link.hook);
  link.hook.ifindex = static_cast<int>(ifindex);
  link.hook.attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS;
  int err = bpf_tc_hook_create(&link.hook);
  if (err != 0 && err != -EEXIST) Throw(env, "bpf_tc_hook_create", ErrOf(err), link.description, &log);
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = fd);
  err = bpf_tc_attach(&link.hook, &opts);
  if (err != 0) Throw(env, "bpf_tc_attach", ErrOf(err), link.description, &log);
  link.handle = opts.handle;
  link.priority = opts.priority;
  return Data(env).link.New({Napi::External<LinkInit>::New(env, &link)});
}

// testRun(data, repeat, ctxIn | null) -> { retval, durationNs, dataOut }
Napi::Value ProgramWrap::TestRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ProgFd(env, "testRun");
  TestRunBaton run;
  ReadTestRunArgs(info, &run);
  if (!run.Run(fd, name_)) Throw(env, run.failure);
  return run.Result(env);
}

Napi::Value ProgramWrap::TestRunAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ProgFd(env, "testRunAsync");
  TestRunBaton run;
  ReadTestRunArgs(info, &run);
  auto* worker = new TestRunWorker(env, state_, fd, name_, std::move(run));
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

Napi::Value ProgramWrap::Pin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PinFd(env, ProgFd(env, "pin"), info[0].As<Napi::String>().Utf8Value(), name_);
  return env.Undefined();
}

Napi::Value ProgramWrap::Unpin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  stoq::Unpin(env, info[0].As<Napi::String>().Utf8Value(), name_);
  return env.Undefined();
}

}  // namespace stoq
