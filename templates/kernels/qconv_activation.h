// qconv kernel library: element-wise activations and casts (io_parallel).
// Same arithmetic as qconv/sim/activation.py (relu, cast, table, prelu, hard_sigmoid, clip,
// softmax; semantics in qconv/analysis/activations.py).
#ifndef QCONV_ACTIVATION_H_
#define QCONV_ACTIVATION_H_

#include "qconv_common.h"

namespace qconv {

template <class data_T, class res_T, class CONFIG_T>
void relu(const data_T data[CONFIG_T::n], res_T res[CONFIG_T::n]) {
#pragma HLS INLINE
    for (unsigned i = 0; i < CONFIG_T::n; i++) {
#pragma HLS UNROLL
        data_T v = data[i] > 0 ? data[i] : data_T(0);
        res[i] = v;
    }
}

template <class data_T, class res_T, class CONFIG_T>
void cast(const data_T data[CONFIG_T::n], res_T res[CONFIG_T::n]) {
#pragma HLS INLINE
    for (unsigned i = 0; i < CONFIG_T::n; i++) {
#pragma HLS UNROLL
        res[i] = data[i];
    }
}

// A function by table lookup over the input's mantissas: clamp to [lo, hi] (outside
// that range the function's rounded output is constant), then read table[raw - lo].
template <class data_T, class res_T, class CONFIG_T>
void table_activation(const data_T data[CONFIG_T::n], res_T res[CONFIG_T::n],
                      const typename CONFIG_T::table_raw_t table[CONFIG_T::table_size]) {
#pragma HLS INLINE
    for (unsigned i = 0; i < CONFIG_T::n; i++) {
#pragma HLS UNROLL
        long long raw = to_raw(data[i]);
        if (raw < CONFIG_T::lo) raw = CONFIG_T::lo;
        if (raw > CONFIG_T::hi) raw = CONFIG_T::hi;
        res[i] = from_raw<res_T>(table[raw - CONFIG_T::lo]);
    }
}

// y = x >= 0 ? x : x * slope[(i / inner) % period]: the exact product, then one cast.
template <class data_T, class res_T, class CONFIG_T>
void prelu(const data_T data[CONFIG_T::n], res_T res[CONFIG_T::n],
           const typename CONFIG_T::slope_raw_t slope[CONFIG_T::period]) {
#pragma HLS INLINE
    for (unsigned i = 0; i < CONFIG_T::n; i++) {
#pragma HLS UNROLL
        data_T x = data[i];
        if (x < 0)
            res[i] = x * from_raw<typename CONFIG_T::slope_t>(slope[(i / CONFIG_T::inner) % CONFIG_T::period]);
        else
            res[i] = x;
    }
}

// y = x >= 0 ? x : x * 2^k: the negative branch is the same bits read with k more integer bits
// (CONFIG_T::shifted_t = ap_fixed<W, I + k>), no multiplier; then one cast.
template <class data_T, class res_T, class CONFIG_T>
void leaky_relu_shift(const data_T data[CONFIG_T::n], res_T res[CONFIG_T::n]) {
#pragma HLS INLINE
    for (unsigned i = 0; i < CONFIG_T::n; i++) {
#pragma HLS UNROLL
        data_T x = data[i];
        if (x < 0)
            res[i] = from_raw<typename CONFIG_T::shifted_t>(to_raw(x));
        else
            res[i] = x;
    }
}

// y = clamp(x * alpha + beta, 0, 1): exact in accum_t (which holds 0 and 1), then one cast.
template <class data_T, class res_T, class CONFIG_T>
void hard_sigmoid(const data_T data[CONFIG_T::n], res_T res[CONFIG_T::n]) {
#pragma HLS INLINE
    const typename CONFIG_T::alpha_t alpha = from_raw<typename CONFIG_T::alpha_t>(CONFIG_T::alpha_raw);
    const typename CONFIG_T::beta_t beta = from_raw<typename CONFIG_T::beta_t>(CONFIG_T::beta_raw);
    for (unsigned i = 0; i < CONFIG_T::n; i++) {
#pragma HLS UNROLL
        typename CONFIG_T::accum_t t = data[i] * alpha + beta;
        if (t < 0) t = 0;
        if (t > 1) t = 1;
        res[i] = t;
    }
}

// y = min(max(x, lo), hi) in clamp_t (x's type, widened only for a bound it cannot hold), then
// one cast. Bounds that can never be active are absent (has_lo / has_hi false).
template <class data_T, class res_T, class CONFIG_T>
void clip(const data_T data[CONFIG_T::n], res_T res[CONFIG_T::n]) {
#pragma HLS INLINE
    typedef typename CONFIG_T::clamp_t clamp_t;
    const clamp_t lo = from_raw<clamp_t>(CONFIG_T::lo_raw), hi = from_raw<clamp_t>(CONFIG_T::hi_raw);
    for (unsigned i = 0; i < CONFIG_T::n; i++) {
#pragma HLS UNROLL
        clamp_t v = data[i];
        if (CONFIG_T::has_lo && v < lo) v = lo;
        if (CONFIG_T::has_hi && v > hi) v = hi;
        res[i] = v;
    }
}

// Softmax over n elements at stride `inner` (element k of vector (o, i) is at
// (o * n + k) * inner + i). Max-subtract (exact mantissa difference d), exp table indexed by
// min(d, table_size - 1), exact sum, reciprocal by one exact integer division
// floor(2^(FE+FR) / sum), exact product e * r cast into res_T, then the argmax guard: a
// non-maximal element whose result equals the maximum's is lowered by one lsb.
template <class data_T, class res_T, class CONFIG_T>
void softmax(const data_T data[CONFIG_T::outer * CONFIG_T::n * CONFIG_T::inner],
             res_T res[CONFIG_T::outer * CONFIG_T::n * CONFIG_T::inner],
             const typename CONFIG_T::exp_raw_t exp_table[CONFIG_T::table_size]) {
#pragma HLS INLINE
    typedef typename CONFIG_T::exp_t exp_t;
    typedef typename CONFIG_T::sum_t sum_t;
    typedef typename CONFIG_T::recip_t recip_t;
    for (unsigned o = 0; o < CONFIG_T::outer; o++) {
#pragma HLS UNROLL
        for (unsigned i = 0; i < CONFIG_T::inner; i++) {
#pragma HLS UNROLL
            const unsigned base = o * CONFIG_T::n * CONFIG_T::inner + i;
            data_T top = data[base];
            for (unsigned k = 1; k < CONFIG_T::n; k++) {
#pragma HLS UNROLL
                if (data[base + k * CONFIG_T::inner] > top) top = data[base + k * CONFIG_T::inner];
            }
            long long d[CONFIG_T::n];
            exp_t e[CONFIG_T::n];
            sum_t sum = 0;
            for (unsigned k = 0; k < CONFIG_T::n; k++) {
#pragma HLS UNROLL
                d[k] = to_raw(top) - to_raw(data[base + k * CONFIG_T::inner]);
                const long long last = CONFIG_T::table_size - 1;  // exp rounds to 0 from here on
                long long idx = d[k] < last ? d[k] : last;
                e[k] = from_raw<exp_t>(exp_table[idx]);
                sum += e[k];
            }
            ap_uint<CONFIG_T::num_bits> num = 0;
            num[CONFIG_T::num_bits - 1] = 1;  // 2^(FE+FR)
            ap_uint<sum_t::width> den = sum.range(sum_t::width - 1, 0);
            ap_uint<CONFIG_T::num_bits> q = num / den;
            const recip_t r = from_raw<recip_t>((long long)q.to_uint64());
            res_T p[CONFIG_T::n];
            res_T p_top = 0;
            for (unsigned k = 0; k < CONFIG_T::n; k++) {
#pragma HLS UNROLL
                p[k] = e[k] * r;
                if (k == 0 || p[k] > p_top) p_top = p[k];
            }
            for (unsigned k = 0; k < CONFIG_T::n; k++) {
#pragma HLS UNROLL
                if (d[k] > 0 && p[k] == p_top && p_top > 0) p[k] = from_raw<res_T>(to_raw(p[k]) - 1);
                res[base + k * CONFIG_T::inner] = p[k];
            }
        }
    }
}

} // namespace qconv

#endif
