# Sourced by .ci/gpu-check and .ci/gpu-zoo on the GPU machine (no Rust toolchain there).
# unpack_bundle BUNDLE DIR: unpacks BUNDLE/dcrobust.xz (from .ci/gpu-bundle) into DIR/dcrobust,
# sets `bin` to it (and `tests_bin` to the unit tests of BUNDLE/tests.xz, where there), and puts the CUDA libraries of PyTorch's Python wheels (nvidia/cu13/lib,
# nvidia/cudnn/lib, ...) on LD_LIBRARY_PATH; the driver library comes from the system. Returns 1,
# naming them, when libraries are still missing.
unpack_bundle() {
    local bundle=$1 dir=$2 libs missing
    cat "$bundle/BUILD"
    if command -v xz >/dev/null; then
        xz -dc "$bundle/dcrobust.xz" >"$dir/dcrobust"
    else
        python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
            "$bundle/dcrobust.xz" "$dir/dcrobust"
    fi
    chmod +x "$dir/dcrobust"
    bin="$dir/dcrobust"
    # The unit tests built with the feature (the cuDNN convolution test), when the bundle has them.
    tests_bin=
    if [ -f "$bundle/tests.xz" ]; then
        python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
            "$bundle/tests.xz" "$dir/dcrobust-tests"
        chmod +x "$dir/dcrobust-tests"
        tests_bin="$dir/dcrobust-tests"
    fi
    libs=$(
        python3 - <<'PY'
import glob, os
try:
    import nvidia
    roots = list(nvidia.__path__)
except ImportError:
    roots = []
dirs = sorted({os.path.dirname(p) for r in roots for p in glob.glob(os.path.join(r, "*", "lib", "*.so*"))})
print(":".join(dirs))
PY
    )
    export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    missing=$(ldd "$bin" | grep "not found")
    if [ -n "$missing" ]; then
        echo "error: libraries missing for $bin:"
        echo "$missing"
        return 1
    fi
}
