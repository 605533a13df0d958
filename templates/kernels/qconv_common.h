// qconv kernel library: common helpers. Copied verbatim into every generated project.
#ifndef QCONV_COMMON_H_
#define QCONV_COMMON_H_

#include "ap_fixed.h"
#include "ap_int.h"

namespace qconv {

// How a layer's arrays are passed (io_parallel: whole arrays, every element a register) and how
// its arithmetic is scheduled (latency: fully parallel).
enum io_type { io_parallel = 0, io_stream = 1 };
enum strategy { latency = 0, resource = 1, da = 2 };

// The defaults every per-layer config struct (parameters.h, `struct config_<layer> :
// qconv::layer_config`) inherits; an architecture's layers override what they set differently.
struct layer_config {
    static const unsigned io_type = io_parallel;
    static const unsigned strategy = latency;
    static const unsigned reuse_factor = 1;
};

// The defaults of an io_stream design's layers.
struct stream_config : layer_config {
    static const unsigned io_type = io_stream;
};

// One transfer of an io_stream FIFO: N values (a pixel's channels, the last axis of a tensor).
template <class T, unsigned N>
struct token {
    T data[N];
};

// A value of fixed-point type T whose two's-complement bits are `raw` (the mantissa).
// Weights are stored as plain integers so that g++ and HLS read them as constant data.
template <class T>
inline T from_raw(long long raw) {
#pragma HLS INLINE
    T v;
    v.range(T::width - 1, 0) = raw;
    return v;
}

// The mantissa of v as a signed 64-bit integer (sign-extended for signed types).
template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O, int N>
inline long long to_raw(const ap_fixed_base<W, I, S, Q, O, N> &v) {
    unsigned long long bits = v.range(W - 1, 0).to_uint64();
    if (W < 64 && S && ((bits >> (W - 1)) & 1ULL))
        bits |= ~0ULL << W;
    return (long long)bits;
}

// acc[j] = the bias of output j (zero when CONFIG_T::has_bias is false), for j < N: the start of
// every sum of the dense and conv kernels.
template <class CONFIG_T, unsigned N>
inline void init_with_bias(typename CONFIG_T::accum_t acc[N], const typename CONFIG_T::bias_raw_t biases[N]) {
#pragma HLS INLINE
    for (unsigned j = 0; j < N; j++) {
#pragma HLS UNROLL
        if (CONFIG_T::has_bias)
            acc[j] = from_raw<typename CONFIG_T::bias_t>(biases[j]);
        else
            acc[j] = 0;
    }
}

// res[j] = (res_T)acc[j] for j < N: the one cast at the end of a sum.
template <class res_T, class acc_T, unsigned N>
inline void cast_all(const acc_T acc[N], res_T res[N]) {
#pragma HLS INLINE
    for (unsigned j = 0; j < N; j++) {
#pragma HLS UNROLL
        res[j] = (res_T)acc[j];
    }
}

} // namespace qconv

#ifdef QCONV_TRACE
#include <cstdio>
extern FILE *qconv_trace_file;
// Writes one layer's output mantissas as a line "name v0 v1 ..." (C simulation only).
#define QCONV_TRACE_LAYER(NAME, ARR, N)                                          \
    do {                                                                       \
        if (qconv_trace_file) {                                                \
            std::fprintf(qconv_trace_file, "%s", NAME);                        \
            for (unsigned i_ = 0; i_ < (N); i_++)                              \
                std::fprintf(qconv_trace_file, " %lld", qconv::to_raw(ARR[i_])); \
            std::fprintf(qconv_trace_file, "\n");                              \
        }                                                                      \
    } while (0)
#else
#define QCONV_TRACE_LAYER(NAME, ARR, N) do {} while (0)
#endif

#endif
