// qconv kernel library: convolution and pooling on channels-last data (io_parallel).
// 1-D layers run as 2-D with in_h = 1. Same arithmetic as qconv/sim/conv.py: exact sums in
// accum_t, padding contributes nothing (zero for conv, ignored for max), one final cast.
#ifndef QCONV_CONV_H_
#define QCONV_CONV_H_

#include "qconv_common.h"

namespace qconv {

// CONFIG_T: in_h, in_w, n_chan, out_h, out_w, n_filt, kern_h, kern_w, stride_h, stride_w,
// dil_h, dil_w, pad_top, pad_left, groups, has_bias; weight_t, bias_t, accum_t and raw types.
// weights[((f * chan_per_group + c) * kern_h + ky) * kern_w + kx] as in ONNX (M, C/g, kh, kw).
template <class data_T, class res_T, class CONFIG_T>
void conv2d(const data_T data[CONFIG_T::in_h * CONFIG_T::in_w * CONFIG_T::n_chan],
            res_T res[CONFIG_T::out_h * CONFIG_T::out_w * CONFIG_T::n_filt],
            const typename CONFIG_T::weight_raw_t weights[CONFIG_T::n_filt * (CONFIG_T::n_chan / CONFIG_T::groups) * CONFIG_T::kern_h * CONFIG_T::kern_w],
            const typename CONFIG_T::bias_raw_t biases[CONFIG_T::n_filt]) {
#pragma HLS INLINE
    const unsigned cpg = CONFIG_T::n_chan / CONFIG_T::groups;
    const unsigned fpg = CONFIG_T::n_filt / CONFIG_T::groups;
OutRows:
    for (unsigned oh = 0; oh < CONFIG_T::out_h; oh++) {
    OutCols:
        for (unsigned ow = 0; ow < CONFIG_T::out_w; ow++) {
        Filters:
            for (unsigned f = 0; f < CONFIG_T::n_filt; f++) {
                typename CONFIG_T::accum_t acc = 0;
                if (CONFIG_T::has_bias) acc = from_raw<typename CONFIG_T::bias_t>(biases[f]);
                const unsigned g = f / fpg;
            KernRows:
                for (unsigned ky = 0; ky < CONFIG_T::kern_h; ky++) {
                    const int ih = int(oh * CONFIG_T::stride_h + ky * CONFIG_T::dil_h) - CONFIG_T::pad_top;
                    if (ih < 0 || ih >= int(CONFIG_T::in_h)) continue;
                KernCols:
                    for (unsigned kx = 0; kx < CONFIG_T::kern_w; kx++) {
                        const int iw = int(ow * CONFIG_T::stride_w + kx * CONFIG_T::dil_w) - CONFIG_T::pad_left;
                        if (iw < 0 || iw >= int(CONFIG_T::in_w)) continue;
                    Channels:
                        for (unsigned c = 0; c < cpg; c++) {
                            acc += data[(ih * CONFIG_T::in_w + iw) * CONFIG_T::n_chan + g * cpg + c] *
                                   from_raw<typename CONFIG_T::weight_t>(
                                       weights[((f * cpg + c) * CONFIG_T::kern_h + ky) * CONFIG_T::kern_w + kx]);
                        }
                    }
                }
                res[(oh * CONFIG_T::out_w + ow) * CONFIG_T::n_filt + f] = acc;
            }
        }
    }
}

// Max pooling: padded positions are ignored (ONNX pads with -inf). Average pooling: the exact
// window sum in accum_t times recip_t 1/count (count from the config's rule), cast to res_T.
template <class data_T, class res_T, class CONFIG_T>
void pool2d(const data_T data[CONFIG_T::in_h * CONFIG_T::in_w * CONFIG_T::n_chan],
            res_T res[CONFIG_T::out_h * CONFIG_T::out_w * CONFIG_T::n_chan],
            const typename CONFIG_T::recip_raw_t recips[CONFIG_T::kern_h * CONFIG_T::kern_w + 1]) {
#pragma HLS INLINE
    for (unsigned oh = 0; oh < CONFIG_T::out_h; oh++) {
        for (unsigned ow = 0; ow < CONFIG_T::out_w; ow++) {
            for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
                typename CONFIG_T::accum_t acc = 0;
                data_T best = 0;
                unsigned valid = 0, inside = 0;
                for (unsigned ky = 0; ky < CONFIG_T::kern_h; ky++) {
                    for (unsigned kx = 0; kx < CONFIG_T::kern_w; kx++) {
                        const int ih = int(oh * CONFIG_T::stride_h + ky * CONFIG_T::dil_h) - CONFIG_T::pad_top;
                        const int iw = int(ow * CONFIG_T::stride_w + kx * CONFIG_T::dil_w) - CONFIG_T::pad_left;
                        if (ih < int(CONFIG_T::in_h + CONFIG_T::pad_bottom) && iw < int(CONFIG_T::in_w + CONFIG_T::pad_right))
                            inside++;  // within the explicitly padded input
                        if (ih < 0 || ih >= int(CONFIG_T::in_h) || iw < 0 || iw >= int(CONFIG_T::in_w)) continue;
                        const data_T v = data[(ih * CONFIG_T::in_w + iw) * CONFIG_T::n_chan + c];
                        if (CONFIG_T::is_max) {
                            if (valid == 0 || v > best) best = v;
                        } else {
                            acc += v;
                        }
                        valid++;
                    }
                }
                res_T out;
                if (CONFIG_T::is_max) {
                    out = best;
                } else {
                    const unsigned count = CONFIG_T::count_include_pad ? inside : valid;
                    out = acc * from_raw<typename CONFIG_T::recip_t>(recips[count]);
                }
                res[(oh * CONFIG_T::out_w + ow) * CONFIG_T::n_chan + c] = out;
            }
        }
    }
}

} // namespace qconv

#endif
