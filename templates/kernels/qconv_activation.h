// qconv kernel library: element-wise activations and casts (io_parallel).
// Same arithmetic as qconv/sim/kernels.py: relu, cast.
#ifndef QCONV_ACTIVATION_H_
#define QCONV_ACTIVATION_H_

#include "qconv_common.h"

namespace qconv {

template <class data_T, class res_T, unsigned N>
void relu(const data_T data[N], res_T res[N]) {
#pragma HLS INLINE
    for (unsigned i = 0; i < N; i++) {
#pragma HLS UNROLL
        data_T v = data[i] > 0 ? data[i] : data_T(0);
        res[i] = v;
    }
}

template <class data_T, class res_T, unsigned N>
void cast(const data_T data[N], res_T res[N]) {
#pragma HLS INLINE
    for (unsigned i = 0; i < N; i++) {
#pragma HLS UNROLL
        res[i] = data[i];
    }
}

} // namespace qconv

#endif
