{
  "targets": [
    {
      "target_name": "mcm_native_kernels",
      "sources": ["src/native/addon.c", "src/native/gemm.c", "src/native/gelu.c", "src/native/layer_norm.c", "src/native/adam.c", "src/native/attention.c"],
      "cflags": ["-O3", "-std=c11", "-fno-math-errno", "-fopenmp-simd", "-Wall", "-Wextra"],
      "include_dirs": ["<!@(pkg-config --cflags-only-I openblas 2>/dev/null | sed 's/-I//g')"],
      "libraries": ["<!@(pkg-config --libs openblas 2>/dev/null || echo -lopenblas)"]
    }
  ]
}
