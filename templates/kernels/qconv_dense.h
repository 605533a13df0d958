// qconv kernel library: fully connected layer and activation matrix product (io_parallel, latency strategy).
// Same arithmetic as qconv/sim/dense.py:dense: exact products and sums in accum_t (which the
// compiler sized so nothing can overflow), then one cast into res_T with its Q/O modes.
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
Init:
    for (unsigned j = 0; j < CONFIG_T::n_out; j++) {
#pragma HLS UNROLL
        if (CONFIG_T::has_bias)
            acc[j] = from_raw<typename CONFIG_T::bias_t>(biases[j]);
        else
            acc[j] = 0;
    }
Product:
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
#pragma HLS UNROLL
        for (unsigned j = 0; j < CONFIG_T::n_out; j++) {
#pragma HLS UNROLL
            acc[j] += data[i] * from_raw<typename CONFIG_T::weight_t>(weights[i * CONFIG_T::n_out + j]);
        }
    }
Result:
    for (unsigned j = 0; j < CONFIG_T::n_out; j++) {
#pragma HLS UNROLL
        res[j] = (res_T)acc[j];
    }
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

} // namespace qconv

#endif
