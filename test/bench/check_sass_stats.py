#!/usr/bin/env python3
"""bench/sass_stats.py's readers of ptxas -v and nvdisasm -c output, on
canned text (the tool itself needs nvcc and nvdisasm): registers and spills
per kernel, the main loop (the largest backward-branch loop with MMA
instructions, else with FMA ones; not a larger loop without them, nor a
larger FFMA loop beside an MMA loop), and the short kernel names.
Exit status 0 when every check passes.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import sass_stats  # noqa: E402

PTXAS = """\
ptxas info    : Compiling entry function '_Z1av' for 'sm_90a'
ptxas info    : Function properties for _Z1av
    8 bytes stack frame, 4 bytes spill stores, 4 bytes spill loads
ptxas info    : Used 128 registers, used 1 barriers, 16384 bytes smem
ptxas info    : Compiling entry function '_Z1bv' for 'sm_90a'
ptxas info    : Function properties for _Z1bv
    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 40 registers
"""

SASS = """\
\t.section\t.text._Z1av,"ax",@progbits
        /*0000*/                   MOV R1, c[0x0][0x28] ;
.L_x_0:
        /*0010*/                   LDG.E R2, desc[UR4][R4.64] ;
        /*0020*/                   HMMA.16816.F32.BF16 R8, R12, R16, R8 ;
        /*0030*/              @P0  BRA `(.L_x_0) ;
.L_x_1:
        /*0040*/                   IADD3 R0, R0, 0x1, RZ ;
        /*0050*/                   IADD3 R0, R0, 0x1, RZ ;
        /*0060*/                   IADD3 R0, R0, 0x1, RZ ;
        /*0070*/                   IADD3 R0, R0, 0x1, RZ ;
        /*0080*/              @P1  BRA `(.L_x_1) ;
        /*0090*/                   EXIT ;
\t.section\t.text._Z1bv,"ax",@progbits
        /*0000*/                   EXIT ;
\t.section\t.text._Z1cv,"ax",@progbits
.L_x_2:
        /*0000*/                   HMMA.16816.F32.BF16 R8, R12, R16, R8 ;
        /*0010*/              @P0  BRA `(.L_x_2) ;
.L_x_3:
        /*0020*/                   FFMA R0, R1, R2, R0 ;
        /*0030*/                   STG.E desc[UR4][R4.64], R0 ;
        /*0040*/                   FFMA R0, R1, R2, R0 ;
        /*0050*/              @P1  BRA `(.L_x_3) ;
        /*0060*/                   EXIT ;
"""


def main():
    failures = []

    def expect(what, got, want):
        if got != want:
            failures.append(f"{what}: got {got!r}, want {want!r}")

    usage = sass_stats.ptxas_usage(PTXAS)
    expect("ptxas registers and spills", usage, {"_Z1av": (128, 8), "_Z1bv": (40, 0)})
    funcs = sass_stats.sass_functions(SASS)
    expect("kernels", sorted(funcs), ["_Z1av", "_Z1bv", "_Z1cv"])
    loop = sass_stats.main_loop(funcs["_Z1av"])
    expect("main loop: the MMA loop, not the larger plain one", len(loop or []), 3)
    expect("no main loop without one", sass_stats.main_loop(funcs["_Z1bv"]), None)
    expect("main loop: the MMA loop, not a larger FFMA (epilogue) loop",
           len(sass_stats.main_loop(funcs["_Z1cv"]) or []), 2)
    dem = ("void rnc::cuda::detail::igemm_kernel<rnc::cuda::detail::ConvBwdDataPhaseOp<"
           "rnc::Conv2DShape{64, 128, 24, 24, 3, 3, 2, 2, 1, 1, 1, 1, 1}, rnc::cuda::Compose<"
           "rnc::cuda::ResidualAddEpilogue<float>, rnc::cuda::ReluMaskEpilogue<float>>, false, "
           "1, 0>, rnc::cuda::detail::TileCfg<128, 64, 4, 2, 32>>(T1, int, int, int)")
    expect("phase name", sass_stats.short_name("x", dem),
           "ConvBwdDataPhaseOp 64->128 24x24 k3x3 s2 g1 phase 1,0 +ReluMask+ResidualAdd")
    dem = ("void rnc::cuda::detail::kcrs_to_krsc_kernel<rnc::cuda::detail::ShapeOf<"
           "rnc::Conv2DShape{64, 64, 24, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1}>>(float *, const float *)")
    expect("copy kernel name", sass_stats.short_name("x", dem),
           "kcrs_to_krsc_kernel 64->64 24x24 k3x3 s1 g1")
    for f in failures:
        print("FAIL", f)
    print(f"sass_stats readers: {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
