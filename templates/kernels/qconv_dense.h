// qconv kernel library: fully connected layer and activation matrix product (io_parallel).
// Same arithmetic as qconv/sim/dense.py:dense: exact products and sums in accum_t (which the
// compiler sized so nothing can overflow), then one cast into res_T with its Q/O modes.
// Two schedules side by side: `dense`/`matmul` compute every product at once (reuse factor 1,
// inlined into the top pipeline); `dense_folded`/`matmul_folded` use ceil(products / R)
// multipliers R times each (reuse factor R, a pipelined loop of R steps, II = R). The folded
// kernels add the same exact products in another order; an exact sum (or one wrapping modulo
// 2^W, the only accumulator overflow qconv allows) does not depend on the order, so every
// schedule computes the same integers as the simulator.
#ifndef QCONV_DENSE_H_
#define QCONV_DENSE_H_

#include "qconv_common.h"

namespace qconv {

// CONFIG_T (one struct per layer, in parameters.h) supplies n_in, n_out, has_bias, the types
// weight_t, bias_t, accum_t and the plain integer types weight_raw_t, bias_raw_t.
template <class data_T, class res_T, class CONFIG_T>
void dense(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
           const typename CONFIG_T::weight_raw_t weights[CONFIG_T::n_in * CONFIG_T::n_out],
           const typename CONFIG_T::bias_raw_t biases[CONFIG_T::n_out]) {
#pragma HLS INLINE
    typename CONFIG_T::accum_t acc[CONFIG_T::n_out];
#pragma HLS ARRAY_PARTITION variable = acc complete
    init_with_bias<CONFIG_T, CONFIG_T::n_out>(acc, biases);
Product:
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
#pragma HLS UNROLL
        for (unsigned j = 0; j < CONFIG_T::n_out; j++) {
#pragma HLS UNROLL
            acc[j] += data[i] * from_raw<typename CONFIG_T::weight_t>(weights[i * CONFIG_T::n_out + j]);
        }
    }
    cast_all<res_T, typename CONFIG_T::accum_t, CONFIG_T::n_out>(acc, res);
}

// Strategy da (distributed arithmetic): the exact sums y = x @ W of kIn input mantissas computed
// without multipliers by the layer's adder graph (CONFIG_T::cmvm, written by qconv from da4ml's
// solution: shifts, additions and subtractions of the integer mantissas, each node wide enough for
// its range; qconv/design/da.py checks it computes W exactly), then the bias and the one cast, as
// dense(). y[j] is the mantissa of sum_i x[i] * w[i][j] in sum_t. Shared by dense_da and
// conv2d_da (qconv_conv.h: W its filter bank, x an output pixel's window). (kIn, kOut: no name of
// the N_<NODE> form, which a project's size macros take: a layer named `out` defines N_OUT.)
template <class res_T, class CONFIG_T, unsigned kIn, unsigned kOut>
void da_matvec(const typename CONFIG_T::x_raw_t x[kIn], res_T res[kOut],
               const typename CONFIG_T::bias_raw_t biases[kOut]) {
#pragma HLS INLINE
    typename CONFIG_T::sum_raw_t y[kOut];
#pragma HLS ARRAY_PARTITION variable = y complete
    CONFIG_T::cmvm(x, y);
    typename CONFIG_T::accum_t acc[kOut];
#pragma HLS ARRAY_PARTITION variable = acc complete
    init_with_bias<CONFIG_T, kOut>(acc, biases);
    for (unsigned j = 0; j < kOut; j++) {
#pragma HLS UNROLL
        acc[j] += from_raw<typename CONFIG_T::sum_t>(y[j].to_int64());
    }
    cast_all<res_T, typename CONFIG_T::accum_t, kOut>(acc, res);
}

// Fully connected layer, strategy da: da_matvec on the input mantissas.
template <class data_T, class res_T, class CONFIG_T>
void dense_da(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
              const typename CONFIG_T::bias_raw_t biases[CONFIG_T::n_out]) {
#pragma HLS INLINE
    typename CONFIG_T::x_raw_t x[CONFIG_T::n_in];
#pragma HLS ARRAY_PARTITION variable = x complete
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
#pragma HLS UNROLL
        x[i] = to_raw(data[i]);
    }
    da_matvec<res_T, CONFIG_T, CONFIG_T::n_in, CONFIG_T::n_out>(x, res, biases);
}

// Folded fully connected layer, reuse factor R = CONFIG_T::reuse_factor (any R >= 1): block =
// ceil(n_in * n_out / R) multipliers, each used once per step of the pipelined Reuse loop.
// weights are output-major here, weights[j * n_in + i] (the transpose of dense()'s order), so
// that multiplier m at step r computes product k = m * RN + r: output k / n_in, input k % n_in;
// a multiplier serves one or two outputs and RN inputs (FINN's MVAU lanes). RN = ceil(N / block)
// is the smallest reuse factor with the same multipliers (R itself when it is a divisor): steps
// r >= RN are idle, so the layer still takes a new input every R cycles, and products k >= N are
// skipped. Weight storage (partitioned registers for the latency
// strategy, BRAM words of `block` weights for the resource strategy) is set by the layer's pragma.
template <class data_T, class res_T, class CONFIG_T>
void dense_folded(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
                  const typename CONFIG_T::weight_raw_t weights[CONFIG_T::n_in * CONFIG_T::n_out],
                  const typename CONFIG_T::bias_raw_t biases[CONFIG_T::n_out]) {
#pragma HLS INLINE off
    const unsigned R = CONFIG_T::reuse_factor, N = CONFIG_T::n_in * CONFIG_T::n_out;
    const unsigned block = (N + R - 1) / R, RN = (N + block - 1) / block;
    typename CONFIG_T::accum_t acc[CONFIG_T::n_out];
#pragma HLS ARRAY_PARTITION variable = acc complete
    init_with_bias<CONFIG_T, CONFIG_T::n_out>(acc, biases);
Reuse:
    for (unsigned r = 0; r < R; r++) {
#pragma HLS PIPELINE II = 1
    Block:
        for (unsigned m = 0; m < block; m++) {
#pragma HLS UNROLL
            const unsigned k = m * RN + r;
            if (r < RN && k < N)
                acc[k / CONFIG_T::n_in] += data[k % CONFIG_T::n_in] * from_raw<typename CONFIG_T::weight_t>(weights[k]);
        }
    }
    cast_all<res_T, typename CONFIG_T::accum_t, CONFIG_T::n_out>(acc, res);
}

// Matrix product of two activations, batched: res[t] = a[t] @ b[t] for t < batch, with a[t]
// m x k and b[t] k x n in row-major order (attention's Q K^T and P V). Same arithmetic as
// qconv/sim/dense.py:matmul: exact products and sums in accum_t (the lossless rule type),
// one cast into res_T. CONFIG_T supplies batch, m, k, n and accum_t.
template <class a_T, class b_T, class res_T, class CONFIG_T>
void matmul(const a_T a[CONFIG_T::batch * CONFIG_T::m * CONFIG_T::k],
            const b_T b[CONFIG_T::batch * CONFIG_T::k * CONFIG_T::n],
            res_T res[CONFIG_T::batch * CONFIG_T::m * CONFIG_T::n]) {
#pragma HLS INLINE
Batch:
    for (unsigned t = 0; t < CONFIG_T::batch; t++) {
#pragma HLS UNROLL
    Row:
        for (unsigned i = 0; i < CONFIG_T::m; i++) {
#pragma HLS UNROLL
        Column:
            for (unsigned j = 0; j < CONFIG_T::n; j++) {
#pragma HLS UNROLL
                typename CONFIG_T::accum_t acc = 0;
            Sum:
                for (unsigned p = 0; p < CONFIG_T::k; p++) {
#pragma HLS UNROLL
                    acc += a[(t * CONFIG_T::m + i) * CONFIG_T::k + p] * b[(t * CONFIG_T::k + p) * CONFIG_T::n + j];
                }
                res[(t * CONFIG_T::m + i) * CONFIG_T::n + j] = (res_T)acc;
            }
        }
    }
}

// Folded matrix product: the batch * m output rows in steps of `parallel` rows (P), each row's
// n * k products by ceil(n * k / R) multipliers over R pipelined steps (R = reuse_factor);
// interval ceil(batch * m / P) * R. Product q of a row: output column q / k, term q % k.
template <class a_T, class b_T, class res_T, class CONFIG_T>
void matmul_folded(const a_T a[CONFIG_T::batch * CONFIG_T::m * CONFIG_T::k],
                   const b_T b[CONFIG_T::batch * CONFIG_T::k * CONFIG_T::n],
                   res_T res[CONFIG_T::batch * CONFIG_T::m * CONFIG_T::n]) {
#pragma HLS INLINE off
    const unsigned R = CONFIG_T::reuse_factor, P = CONFIG_T::parallel, N = CONFIG_T::n * CONFIG_T::k;
    const unsigned rows = CONFIG_T::batch * CONFIG_T::m, steps = (rows + P - 1) / P, block = (N + R - 1) / R;
    const unsigned RN = (N + block - 1) / block;  // as in dense_folded: steps r >= RN are idle
    typename CONFIG_T::accum_t acc[P][CONFIG_T::n];
#pragma HLS ARRAY_PARTITION variable = acc complete dim = 0
Steps:
    for (unsigned s = 0; s < steps; s++) {
    Reuse:
        for (unsigned r = 0; r < R; r++) {
#pragma HLS PIPELINE II = 1
        Rows:
            for (unsigned p = 0; p < P; p++) {
#pragma HLS UNROLL
                const unsigned row = s * P + p, t = row / CONFIG_T::m;
                if (r == 0)
                    for (unsigned j = 0; j < CONFIG_T::n; j++) acc[p][j] = 0;
                if (row >= rows) continue;
            Block:
                for (unsigned mm = 0; mm < block; mm++) {
#pragma HLS UNROLL
                    const unsigned q = mm * RN + r, j = q / CONFIG_T::k, e = q % CONFIG_T::k;
                    if (r < RN && q < N)
                        acc[p][j] += a[row * CONFIG_T::k + e] * b[(t * CONFIG_T::k + e) * CONFIG_T::n + j];
                }
                if (r == R - 1)
                    cast_all<res_T, typename CONFIG_T::accum_t, CONFIG_T::n>(acc[p], res + row * CONFIG_T::n);
            }
        }
    }
}

} // namespace qconv

#endif
