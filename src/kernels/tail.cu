// The decoupled tail h(n, rho) * g(y / n) on the GPU, f32: forward, and the gradients with
// respect to y, n and rho. The same math as the CPU kernel (src/kernels/fused/tail.rs), which
// the GPU test (kernels::cuda_tail) compares these kernels with. build.rs compiles this file to
// PTX in builds with the `cudnn` feature; src/kernels/cuda_tail.rs launches it.
//
// Shapes: y, out, dy (N, C, P); n, dn (N, 1, P); rho, drho (C,), with P the pixels of one map.
// Magnitudes: 0 sphere (h = a), 1 ball (h = a min(n, r) / r), 2 tanh (h = a tanh(n / r)),
// 3 linear (h = a n). Activations of c = cos: 0 cosine (g = c), 1 linear (g = 1 - 2 acos(c) / pi),
// 2 square cosine (g = c |c|), 3 sigmoid with k (g = tanh(pi/(4k) - acos(c)/(2k)) / tanh(pi/(4k))).

#define PI_F 3.14159265358979323846f

// (h, dh/dn, dh/dr) at (n, r).
__device__ __forceinline__ void magnitude(int mag, float a, float n, float r, float *h,
                                          float *dh_dn, float *dh_dr) {
    switch (mag) {
    case 0:
        *h = a;
        *dh_dn = 0.0f;
        *dh_dr = 0.0f;
        break;
    case 1:
        if (n < r) {
            *h = a * n / r;
            *dh_dn = a / r;
            *dh_dr = -(a * n) / (r * r);
        } else {
            *h = a;
            *dh_dn = 0.0f;
            *dh_dr = 0.0f;
        }
        break;
    case 2: {
        float t = tanhf(n / r);
        float s = a * (1.0f - t * t) / r;
        *h = a * t;
        *dh_dn = s;
        *dh_dr = -(s * n) / r;
        break;
    }
    default:
        *h = a * n;
        *dh_dn = a;
        *dh_dr = 0.0f;
    }
}

// d acos(c) / dc up to its sign, floored as the CPU kernel: 1 / sqrt(max(1 - c^2, 1e-12)).
__device__ __forceinline__ float dacos(float c) {
    return 1.0f / sqrtf(fmaxf(1.0f - c * c, 1e-12f));
}

// (g, dg/dc) at c.
__device__ __forceinline__ void angular(int ang, float k, float c, float *g, float *dg) {
    switch (ang) {
    case 0:
        *g = c;
        *dg = 1.0f;
        break;
    case 1:
        *g = 1.0f - (2.0f / PI_F) * acosf(c);
        *dg = (2.0f / PI_F) * dacos(c);
        break;
    case 2:
        *g = c * fabsf(c);
        *dg = 2.0f * fabsf(c);
        break;
    default: {
        float norm = 1.0f / tanhf(PI_F / (4.0f * k));
        float u = tanhf(PI_F / (4.0f * k) - acosf(c) * (1.0f / (2.0f * k)));
        *g = u * norm;
        *dg = (1.0f - u * u) * (1.0f / (2.0f * k)) * dacos(c) * norm;
    }
    }
}

// (d/dy, d/dn, d/dr) of gr * h(n, r) g(y / n) at one element.
__device__ __forceinline__ void grad_at(int mag, int ang, float a, float k, float r, float gr,
                                        float y, float n, float *d_y, float *d_n, float *d_r) {
    float inv = 1.0f / n;
    float c = y * inv;
    float h, dh_dn, dh_dr, g, dg;
    magnitude(mag, a, n, r, &h, &dh_dn, &dh_dr);
    angular(ang, k, c, &g, &dg);
    float hg = gr * h * dg * inv;
    *d_y = hg;
    *d_n = gr * dh_dn * g - hg * c;
    *d_r = gr * dh_dr * g;
}

// out = h(n, rho) g(y / n), one thread per element (grid-stride).
extern "C" __global__ void tail_fwd(const float *y, const float *n, const float *rho, float *out,
                                    long long b, long long c, long long p, int mag, int ang,
                                    float a, float k) {
    long long total = b * c * p;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        long long px = i % p;
        long long ch = (i / p) % c;
        long long img = i / (c * p);
        float nn = n[img * p + px];
        float yy = y[i];
        float r = rho[ch];
        if (mag == 2 && ang == 0) {
            // The CPU kernel's order of operations for TanhConv with cosine.
            out[i] = a * tanhf(nn / r) * yy / nn;
        } else {
            float h, dh_dn, dh_dr, g, dg;
            magnitude(mag, a, nn, r, &h, &dh_dn, &dh_dr);
            angular(ang, k, yy / nn, &g, &dg);
            out[i] = h * g;
        }
    }
}

// dy, and dn summed over the channels in channel order: one thread per (image, pixel).
extern "C" __global__ void tail_bwd_yn(const float *y, const float *n, const float *rho,
                                       const float *grad, float *dy, float *dn, long long b,
                                       long long c, long long p, int mag, int ang, float a,
                                       float k) {
    long long total = b * p;
    for (long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x; j < total;
         j += (long long)gridDim.x * blockDim.x) {
        long long img = j / p;
        long long px = j % p;
        float nn = n[j];
        float acc = 0.0f;
        for (long long ch = 0; ch < c; ch++) {
            long long i = (img * c + ch) * p + px;
            float d_y, d_n, d_r;
            grad_at(mag, ang, a, k, rho[ch], grad[i], y[i], nn, &d_y, &d_n, &d_r);
            dy[i] = d_y;
            acc += d_n;
        }
        dn[j] = acc;
    }
}

#define RHO_THREADS 256

// drho: one block per channel, each thread summing a fixed stride of the (image, pixel) pairs,
// then a tree in shared memory: the same order on every run.
extern "C" __global__ void tail_bwd_rho(const float *y, const float *n, const float *rho,
                                        const float *grad, float *drho, long long b, long long c,
                                        long long p, int mag, int ang, float a, float k) {
    __shared__ float part[RHO_THREADS];
    long long ch = blockIdx.x;
    float r = rho[ch];
    float acc = 0.0f;
    for (long long j = threadIdx.x; j < b * p; j += RHO_THREADS) {
        long long img = j / p;
        long long px = j % p;
        long long i = (img * c + ch) * p + px;
        float d_y, d_n, d_r;
        grad_at(mag, ang, a, k, r, grad[i], y[i], n[j], &d_y, &d_n, &d_r);
        acc += d_r;
    }
    part[threadIdx.x] = acc;
    __syncthreads();
    for (int s = RHO_THREADS / 2; s > 0; s /= 2) {
        if (threadIdx.x < s) {
            part[threadIdx.x] += part[threadIdx.x + s];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        drho[ch] = part[0];
    }
}
