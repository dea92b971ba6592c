/*
 * kernel-trace: counts the CUDA kernels a process launches, by name, through the driver API
 * (LD_PRELOAD). candle's kernels are looked up by name with cuModuleGetFunction and launched
 * with cuLaunchKernel (or cuLaunchKernelEx); this library records the name of every function
 * handle it sees looked up and counts the launches of each. At exit it writes
 * "launches<TAB>name" lines, most launched first, to the file named by $KERNEL_TRACE (or to
 * stderr). Kernels launched by cuDNN and cuBLAS (through the runtime's own driver entry points)
 * are not seen: the trace answers "which of candle's kernels ran, how often", for instance
 * that the direct convolution kernels (conv2d_f32, conv_transpose2d_f32) no longer run.
 *
 *   gcc -O2 -shared -fPIC -o kernel-trace.so .ci/kernel-trace.c -ldl -lpthread
 *   KERNEL_TRACE=kernels.tsv LD_PRELOAD=$PWD/kernel-trace.so dcrobust train --device cuda:0 ...
 *
 * It works where the binary links libcuda.so.1 dynamically (the `cuda` feature's default with
 * .ci/cuda-toolchain: the driver's functions are resolved through the dynamic linker, which
 * LD_PRELOAD comes before).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef void *CUfunction;
typedef void *CUmodule;
typedef void *CUstream;

#define MAX_FUNCS 8192
#define NAME_LEN 160

static struct {
    CUfunction f;
    char name[NAME_LEN];
    unsigned long long launches;
} table[MAX_FUNCS];
static int used;
static unsigned long long unknown_launches;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *real(const char *sym) {
    void *p = dlsym(RTLD_NEXT, sym);
    if (!p) {
        fprintf(stderr, "kernel-trace: %s not found in the driver library\n", sym);
        abort();
    }
    return p;
}

static void record(CUfunction f, const char *name) {
    pthread_mutex_lock(&lock);
    int i;
    for (i = 0; i < used && table[i].f != f; i++) {
    }
    if (i == used && used < MAX_FUNCS) {
        used++;
    }
    if (i < MAX_FUNCS) {
        table[i].f = f;
        strncpy(table[i].name, name, NAME_LEN - 1);
        table[i].name[NAME_LEN - 1] = 0;
    }
    pthread_mutex_unlock(&lock);
}

static void count(CUfunction f) {
    pthread_mutex_lock(&lock);
    int i;
    for (i = 0; i < used && table[i].f != f; i++) {
    }
    if (i < used) {
        table[i].launches++;
    } else {
        unknown_launches++;
    }
    pthread_mutex_unlock(&lock);
}

CUresult cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name) {
    static CUresult (*f)(CUfunction *, CUmodule, const char *);
    if (!f) {
        f = (CUresult(*)(CUfunction *, CUmodule, const char *))real("cuModuleGetFunction");
    }
    CUresult r = f(hfunc, hmod, name);
    if (r == 0 && hfunc && name) {
        record(*hfunc, name);
    }
    return r;
}

CUresult cuLaunchKernel(CUfunction fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                        unsigned by, unsigned bz, unsigned shared, CUstream stream, void **params,
                        void **extra) {
    static CUresult (*f)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                         unsigned, CUstream, void **, void **);
    if (!f) {
        f = (CUresult(*)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                         unsigned, CUstream, void **, void **))real("cuLaunchKernel");
    }
    count(fn);
    return f(fn, gx, gy, gz, bx, by, bz, shared, stream, params, extra);
}

CUresult cuLaunchKernelEx(const void *config, CUfunction fn, void **params, void **extra) {
    static CUresult (*f)(const void *, CUfunction, void **, void **);
    if (!f) {
        f = (CUresult(*)(const void *, CUfunction, void **, void **))real("cuLaunchKernelEx");
    }
    count(fn);
    return f(config, fn, params, extra);
}

static int by_launches(const void *a, const void *b) {
    unsigned long long x = ((const typeof(table[0]) *)a)->launches;
    unsigned long long y = ((const typeof(table[0]) *)b)->launches;
    return x < y ? 1 : x > y ? -1 : 0;
}

__attribute__((destructor)) static void dump(void) {
    const char *path = getenv("KERNEL_TRACE");
    FILE *out = path ? fopen(path, "w") : NULL;
    if (!out) {
        out = stderr;
    }
    pthread_mutex_lock(&lock);
    qsort(table, used, sizeof table[0], by_launches);
    for (int i = 0; i < used; i++) {
        fprintf(out, "%llu\t%s\n", table[i].launches, table[i].name);
    }
    if (unknown_launches) {
        fprintf(out, "%llu\t(launched through a handle not looked up by name)\n", unknown_launches);
    }
    pthread_mutex_unlock(&lock);
    if (out != stderr) {
        fclose(out);
    }
}
