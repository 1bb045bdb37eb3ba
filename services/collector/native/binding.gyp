# The libbpf N-API addon (stoq_bpf.node), loaded only by services/collector/src/bpf.ts.
# Built offline against the running Node's own headers (see Makefile); libbpf comes from pkg-config.
{
  "targets": [
    {
      "target_name": "stoq_bpf",
      "sources": [
        "src/addon.cc",
        "src/btf_layout.cc",
        "src/failure.cc",
        "src/link.cc",
        "src/map.cc",
        "src/object.cc",
        "src/pin.cc",
        "src/program.cc",
        "src/ringbuf.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags": ["-Wall", "-Wextra", "-Wno-missing-field-initializers", "<!@(pkg-config --cflags libbpf)"],
      "cflags_cc": ["-std=gnu++17", "-fexceptions"],
      "libraries": ["<!@(pkg-config --libs libbpf)"]
    }
  ]
}
