// qconv kernel library: nondecreasing step functions by threshold comparison (io_parallel).
// Same arithmetic as qconv/sim/threshold.py:thresholds: res = levels[#{j : x >= thresholds[j]}].
#ifndef QCONV_THRESHOLD_H_
#define QCONV_THRESHOLD_H_

#include "qconv_common.h"

namespace qconv {

// Per channel k = (i / inner) % period: thr[k * n_thr + j], levels[k * (n_thr + 1) + count].
template <class data_T, class res_T, class CONFIG_T>
void thresholds(const data_T data[CONFIG_T::n], res_T res[CONFIG_T::n],
                const typename CONFIG_T::thr_raw_t thr[CONFIG_T::period * CONFIG_T::n_thr],
                const typename CONFIG_T::level_raw_t levels[CONFIG_T::period * (CONFIG_T::n_thr + 1)]) {
#pragma HLS INLINE
    for (unsigned i = 0; i < CONFIG_T::n; i++) {
#pragma HLS UNROLL
        const unsigned k = (i / CONFIG_T::inner) % CONFIG_T::period;
        const long long raw = to_raw(data[i]);
        unsigned count = 0;
        for (unsigned j = 0; j < CONFIG_T::n_thr; j++) {
#pragma HLS UNROLL
            count += raw >= thr[k * CONFIG_T::n_thr + j] ? 1 : 0;
        }
        res[i] = from_raw<res_T>(levels[k * (CONFIG_T::n_thr + 1) + count]);
    }
}

} // namespace qconv

#endif
