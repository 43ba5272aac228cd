"""python/shmrt_build.py - the cffi (API mode, out of line) build of shmrt._native.

The declarations given to cffi are the public headers themselves
(include/shmrt/*.h), run through the C preprocessor, so the binding can
never drift from the C API and declares nothing else: no src/ header is
read. The extension is compiled against those headers and linked to the
libshmrt.so of this tree's build, with that directory as its rpath.

Where the library is: $SHMRT_BUILD_DIR, else the `build` directory next
to this python/ directory (what scripts/build.sh makes).

Used two ways:
  * by setuptools (setup.py: cffi_modules=["shmrt_build.py:ffibuilder"]),
    when `pip install ./python` builds the package;
  * as a script, by the CMake build, to make an importable copy of the
    package for the test suite without installing anything:
        shmrt_build.py --out DIR [--build-dir BUILD]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

import cffi

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
INCLUDE = os.path.join(ROOT, "include")
HEADERS = ("shmrt.h", "worker.h")
MODULE = "shmrt._native"

# The callback every Python handler is registered with; its ctx is a cffi
# handle to the handler's entry (shmrt/_handlers.py).
CALLBACKS = """
extern "Python" int shmrt__py_handler(void *ctx, struct shmrt_job_run *run);
"""


def build_dir():
    d = os.environ.get("SHMRT_BUILD_DIR") or os.path.join(ROOT, "build")
    d = os.path.abspath(d)
    if not os.path.exists(os.path.join(d, "libshmrt.so")):
        sys.exit("shmrt_build: %s/libshmrt.so not found: build shmrt first "
                 "(scripts/build.sh), or set SHMRT_BUILD_DIR to its build "
                 "directory" % d)
    return d


def preprocessed_headers():
    """The public headers after the preprocessor, with the standard headers
    replaced by empty ones: cffi knows size_t and uint32_t itself."""
    with tempfile.TemporaryDirectory() as tmp:
        for h in ("stddef.h", "stdint.h"):
            open(os.path.join(tmp, h), "w").close()
        src = "".join("#include <shmrt/%s>\n" % h for h in HEADERS)
        cc = os.environ.get("CC", "cc")
        out = subprocess.run(
            [cc, "-E", "-P", "-nostdinc", "-I", tmp, "-I", INCLUDE,
             "-DSHMRT_STATIC", "-x", "c", "-"],
            input=src, capture_output=True, text=True, check=True).stdout
    # cffi folds "-(int)X" only without the cast.
    return re.sub(r"-\(int\)", "-", out)


def integer_macros():
    """The public headers' integer #defines (SHMRT_ENQUEUE_EXISTING, ...),
    for cffi to take their values from the compiler."""
    names = []
    for h in sorted(os.listdir(os.path.join(INCLUDE, "shmrt"))):
        with open(os.path.join(INCLUDE, "shmrt", h)) as f:
            names += re.findall(r"^#define (SHMRT_[A-Z0-9_]+)\s+\d+\s*$",
                                f.read(), re.M)
    return "".join("#define %s ...\n" % n for n in names)


def make_ffibuilder():
    lib_dir = build_dir()
    ffi = cffi.FFI()
    ffi.cdef(preprocessed_headers() + integer_macros() + CALLBACKS)
    ffi.set_source(
        MODULE, "#include <shmrt/shmrt.h>\n#include <shmrt/worker.h>\n",
        include_dirs=[INCLUDE], library_dirs=[lib_dir],
        runtime_library_dirs=[lib_dir], libraries=["shmrt"])
    return ffi


ffibuilder = make_ffibuilder() if __name__ != "__main__" else None


def build_into(out):
    """An importable package in OUT/shmrt: the sources and the extension."""
    pkg = os.path.join(out, "shmrt")
    os.makedirs(pkg, exist_ok=True)
    for name in os.listdir(os.path.join(HERE, "shmrt")):
        if name.endswith(".py"):
            shutil.copy2(os.path.join(HERE, "shmrt", name), pkg)
    so = make_ffibuilder().compile(tmpdir=os.path.join(out, "cffi-tmp"))
    shutil.copy2(so, pkg)
    return pkg


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--build-dir")
    a = ap.parse_args(argv)
    if a.build_dir:
        os.environ["SHMRT_BUILD_DIR"] = a.build_dir
    print("shmrt_build: %s" % build_into(os.path.abspath(a.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
