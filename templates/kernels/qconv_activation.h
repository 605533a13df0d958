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

// A monotone function by table lookup over the input's mantissas: clamp to [lo, hi] (outside
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

} // namespace qconv

#endif
