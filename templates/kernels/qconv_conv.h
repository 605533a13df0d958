// qconv kernel library: convolution and pooling on channels-last data (io_parallel).
// 1-D layers run as 2-D with in_h = 1. Same arithmetic as qconv/sim/conv.py: exact sums in
// accum_t, padding contributes nothing (zero for conv, ignored for max), one final cast.
// Two schedules side by side: `conv2d`/`pool2d` compute every output pixel at once (inlined into
// the top pipeline); `conv2d_folded`/`pool2d_folded` loop over the output pixels, `parallel` (P)
// pixels per step, and the folded conv computes a pixel's filter bank with ceil(products / R)
// multipliers over R pipelined steps (R = reuse_factor). Interval: ceil(pixels / P) * R cycles.
// The folded conv adds the same exact products in another order, which cannot change an exact
// (or wrapping) sum: every schedule computes the same integers as the simulator.
#ifndef QCONV_CONV_H_
#define QCONV_CONV_H_

#include "hls_stream.h"
#include "qconv_common.h"
#include "qconv_dense.h"  // da_matvec (conv2d_da)

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

// Folded convolution: the output pixels in steps of P = CONFIG_T::parallel; each pixel's
// n_filt * K products (K = chan_per_group * kern_h * kern_w) by block = ceil(n_filt * K / R)
// multipliers, multiplier m computing product k = m * RN + r at step r of the pipelined Reuse
// loop (RN as in dense_folded): filter k / K and, in ONNX order, weights[k] (the layout conv2d
// reads). Products k >= n_filt * K and pixels >= out_h * out_w (P not a divisor) are skipped.
template <class data_T, class res_T, class CONFIG_T>
void conv2d_folded(const data_T data[CONFIG_T::in_h * CONFIG_T::in_w * CONFIG_T::n_chan],
                   res_T res[CONFIG_T::out_h * CONFIG_T::out_w * CONFIG_T::n_filt],
                   const typename CONFIG_T::weight_raw_t weights[CONFIG_T::n_filt * (CONFIG_T::n_chan / CONFIG_T::groups) * CONFIG_T::kern_h * CONFIG_T::kern_w],
                   const typename CONFIG_T::bias_raw_t biases[CONFIG_T::n_filt]) {
#pragma HLS INLINE off
    const unsigned cpg = CONFIG_T::n_chan / CONFIG_T::groups, fpg = CONFIG_T::n_filt / CONFIG_T::groups;
    const unsigned area = CONFIG_T::kern_h * CONFIG_T::kern_w, K = cpg * area, N = CONFIG_T::n_filt * K;
    const unsigned R = CONFIG_T::reuse_factor, P = CONFIG_T::parallel, block = (N + R - 1) / R;
    const unsigned RN = (N + block - 1) / block;  // as in dense_folded: steps r >= RN are idle
    const unsigned pixels = CONFIG_T::out_h * CONFIG_T::out_w, steps = (pixels + P - 1) / P;
    typename CONFIG_T::accum_t acc[P][CONFIG_T::n_filt];
#pragma HLS ARRAY_PARTITION variable = acc complete dim = 0
Steps:
    for (unsigned s = 0; s < steps; s++) {
    Reuse:
        for (unsigned r = 0; r < R; r++) {
#pragma HLS PIPELINE II = 1
        Pixels:
            for (unsigned p = 0; p < P; p++) {
#pragma HLS UNROLL
                const unsigned pix = s * P + p, oh = pix / CONFIG_T::out_w, ow = pix % CONFIG_T::out_w;
                if (r == 0)
                    init_with_bias<CONFIG_T, CONFIG_T::n_filt>(acc[p], biases);
                if (pix >= pixels) continue;
            Block:
                for (unsigned m = 0; m < block; m++) {
#pragma HLS UNROLL
                    const unsigned k = m * RN + r, f = k / K, c = (k % K) / area;
                    const unsigned ky = (k % area) / CONFIG_T::kern_w, kx = k % CONFIG_T::kern_w;
                    const int ih = int(oh * CONFIG_T::stride_h + ky * CONFIG_T::dil_h) - CONFIG_T::pad_top;
                    const int iw = int(ow * CONFIG_T::stride_w + kx * CONFIG_T::dil_w) - CONFIG_T::pad_left;
                    if (r >= RN || k >= N || ih < 0 || ih >= int(CONFIG_T::in_h) || iw < 0 || iw >= int(CONFIG_T::in_w)) continue;
                    acc[p][f] += data[(ih * CONFIG_T::in_w + iw) * CONFIG_T::n_chan + (f / fpg) * cpg + c] *
                                 from_raw<typename CONFIG_T::weight_t>(weights[k]);
                }
                if (r == R - 1)
                    cast_all<res_T, typename CONFIG_T::accum_t, CONFIG_T::n_filt>(acc[p], res + pix * CONFIG_T::n_filt);
            }
        }
    }
}

// Convolution, strategy da: the filter bank as one adder graph (qconv/design/da.py filter_bank:
// W as a (kern_h * kern_w * n_chan) x n_filt matrix, zero outside a filter's group), evaluated
// on each output pixel's window: its inputs in (ky, kx, channel) order, 0 where the window lies
// in the padding (a linear graph adds nothing for it), through da_matvec (qconv_dense.h: the sums,
// the bias, the one cast). P = CONFIG_T::parallel pixels per step of a pipelined loop (P copies of
// the graph), ceil(pixels / P) steps; pixels >= out_h * out_w (P not a divisor) are skipped. The
// same exact sums as conv2d: the same integers.
template <class data_T, class res_T, class CONFIG_T>
void conv2d_da(const data_T data[CONFIG_T::in_h * CONFIG_T::in_w * CONFIG_T::n_chan],
               res_T res[CONFIG_T::out_h * CONFIG_T::out_w * CONFIG_T::n_filt],
               const typename CONFIG_T::bias_raw_t biases[CONFIG_T::n_filt]) {
#pragma HLS INLINE off
    const unsigned P = CONFIG_T::parallel, PIXELS = CONFIG_T::out_h * CONFIG_T::out_w, C = CONFIG_T::n_chan;
Steps:
    for (unsigned s = 0; s < (PIXELS + P - 1) / P; s++) {
#pragma HLS PIPELINE II = 1
    Pixels:
        for (unsigned q = 0; q < P; q++) {
#pragma HLS UNROLL
            const unsigned pixel = s * P + q;
            if (pixel >= PIXELS) continue;
            const unsigned oh = pixel / CONFIG_T::out_w, ow = pixel % CONFIG_T::out_w;
            typename CONFIG_T::x_raw_t x[CONFIG_T::da_in];
#pragma HLS ARRAY_PARTITION variable = x complete
        Window:
            for (unsigned ky = 0; ky < CONFIG_T::kern_h; ky++) {
                const int ih = int(oh * CONFIG_T::stride_h + ky * CONFIG_T::dil_h) - CONFIG_T::pad_top;
                for (unsigned kx = 0; kx < CONFIG_T::kern_w; kx++) {
                    const int iw = int(ow * CONFIG_T::stride_w + kx * CONFIG_T::dil_w) - CONFIG_T::pad_left;
                    const bool inside = ih >= 0 && ih < int(CONFIG_T::in_h) && iw >= 0 && iw < int(CONFIG_T::in_w);
                    for (unsigned c = 0; c < C; c++)
                        x[(ky * CONFIG_T::kern_w + kx) * C + c] =
                            inside ? typename CONFIG_T::x_raw_t(to_raw(data[(ih * CONFIG_T::in_w + iw) * C + c]))
                                   : typename CONFIG_T::x_raw_t(0);
                }
            }
            da_matvec<res_T, CONFIG_T, CONFIG_T::da_in, CONFIG_T::n_filt>(x, &res[pixel * CONFIG_T::n_filt], biases);
        }
    }
}

// One output pixel (oh, ow) of a pooling layer, every channel. Max pooling: padded positions are
// ignored (ONNX pads with -inf). Average pooling: the exact window sum in accum_t times recip_t
// 1/count (count from the config's rule), cast to res_T.
template <class data_T, class res_T, class CONFIG_T>
void pool_pixel(const data_T data[CONFIG_T::in_h * CONFIG_T::in_w * CONFIG_T::n_chan],
                res_T res[CONFIG_T::out_h * CONFIG_T::out_w * CONFIG_T::n_chan],
                const typename CONFIG_T::recip_raw_t recips[CONFIG_T::kern_h * CONFIG_T::kern_w + 1],
                unsigned oh, unsigned ow) {
#pragma HLS INLINE
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

// Pooling, every output pixel at once.
template <class data_T, class res_T, class CONFIG_T>
void pool2d(const data_T data[CONFIG_T::in_h * CONFIG_T::in_w * CONFIG_T::n_chan],
            res_T res[CONFIG_T::out_h * CONFIG_T::out_w * CONFIG_T::n_chan],
            const typename CONFIG_T::recip_raw_t recips[CONFIG_T::kern_h * CONFIG_T::kern_w + 1]) {
#pragma HLS INLINE
    for (unsigned oh = 0; oh < CONFIG_T::out_h; oh++)
        for (unsigned ow = 0; ow < CONFIG_T::out_w; ow++)
            pool_pixel<data_T, res_T, CONFIG_T>(data, res, recips, oh, ow);
}

// Folded pooling: P = CONFIG_T::parallel output pixels per step of a pipelined loop (II = 1),
// ceil(pixels / P) steps; pixels >= out_h * out_w (P not a divisor) are skipped.
template <class data_T, class res_T, class CONFIG_T>
void pool2d_folded(const data_T data[CONFIG_T::in_h * CONFIG_T::in_w * CONFIG_T::n_chan],
                   res_T res[CONFIG_T::out_h * CONFIG_T::out_w * CONFIG_T::n_chan],
                   const typename CONFIG_T::recip_raw_t recips[CONFIG_T::kern_h * CONFIG_T::kern_w + 1]) {
#pragma HLS INLINE off
    const unsigned P = CONFIG_T::parallel, pixels = CONFIG_T::out_h * CONFIG_T::out_w;
Steps:
    for (unsigned s = 0; s < (pixels + P - 1) / P; s++) {
#pragma HLS PIPELINE II = 1
    Pixels:
        for (unsigned p = 0; p < P; p++) {
#pragma HLS UNROLL
            const unsigned pix = s * P + p;
            if (pix < pixels)
                pool_pixel<data_T, res_T, CONFIG_T>(data, res, recips, pix / CONFIG_T::out_w, pix % CONFIG_T::out_w);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// io_stream: one input pixel (token of n_chan values) at a time, in raster order, into a line
// buffer of the last RB = dil_h * (kern_h - 1) + 1 input rows (circular, row ih at ih % RB); once
// input row ih is complete, every output row whose last real input row is ih (its window's bottom
// row, clamped to the image) is computed, one output pixel token after another. A window's rows
// are never more than RB - 1 rows above ih, so they are all still in the buffer. The same exact
// sums as conv2d / pool2d in another order: the same integers.

// The last input row that output row oh reads, clamped to the image (-1: its window lies in the
// top padding, computed before any row arrives).
template <class CONFIG_T>
inline int last_input_row(unsigned oh) {
#pragma HLS INLINE
    const int r = int(oh * CONFIG_T::stride_h + (CONFIG_T::kern_h - 1) * CONFIG_T::dil_h) - CONFIG_T::pad_top;
    return r < -1 ? -1 : r < int(CONFIG_T::in_h) ? r : int(CONFIG_T::in_h) - 1;
}

template <class CONFIG_T>
struct line_buffer_rows {
    static const unsigned full = CONFIG_T::dil_h * (CONFIG_T::kern_h - 1) + 1;
    static const unsigned value = full < CONFIG_T::in_h ? full : CONFIG_T::in_h;
};

// Input row ih (in_w pixel tokens) into the line buffer's row ih % RB.
template <class data_T, class CONFIG_T, class in_tok>
inline void read_row(hls::stream<in_tok> &in, data_T rows[][CONFIG_T::in_w * CONFIG_T::n_chan], int ih) {
ReadRow:
    for (unsigned iw = 0; iw < CONFIG_T::in_w; iw++) {
#pragma HLS PIPELINE II = 1
        const in_tok tok = in.read();
        for (unsigned c = 0; c < CONFIG_T::n_chan; c++)
            rows[ih % line_buffer_rows<CONFIG_T>::value][iw * CONFIG_T::n_chan + c] = tok.data[c];
    }
}

template <class data_T, class res_T, class CONFIG_T, class in_tok, class out_tok>
void conv2d_stream(hls::stream<in_tok> &in, hls::stream<out_tok> &out,
                   const typename CONFIG_T::weight_raw_t weights[CONFIG_T::n_filt * (CONFIG_T::n_chan / CONFIG_T::groups) * CONFIG_T::kern_h * CONFIG_T::kern_w],
                   const typename CONFIG_T::bias_raw_t biases[CONFIG_T::n_filt]) {
    const unsigned RB = line_buffer_rows<CONFIG_T>::value, C = CONFIG_T::n_chan;
    const unsigned cpg = C / CONFIG_T::groups, fpg = CONFIG_T::n_filt / CONFIG_T::groups;
    static data_T rows[RB][CONFIG_T::in_w * C];
    unsigned oh = 0;
    for (int ih = -1; ih < int(CONFIG_T::in_h); ih++) {
        if (ih >= 0) read_row<data_T, CONFIG_T>(in, rows, ih);
    OutRows:
        for (; oh < CONFIG_T::out_h && last_input_row<CONFIG_T>(oh) == ih; oh++) {
        OutCols:
            for (unsigned ow = 0; ow < CONFIG_T::out_w; ow++) {
#pragma HLS PIPELINE II = CONFIG_T::reuse_factor
                out_tok res;
                for (unsigned f = 0; f < CONFIG_T::n_filt; f++) {
                    typename CONFIG_T::accum_t acc = 0;
                    if (CONFIG_T::has_bias) acc = from_raw<typename CONFIG_T::bias_t>(biases[f]);
                    for (unsigned ky = 0; ky < CONFIG_T::kern_h; ky++) {
                        const int y = int(oh * CONFIG_T::stride_h + ky * CONFIG_T::dil_h) - CONFIG_T::pad_top;
                        if (y < 0 || y >= int(CONFIG_T::in_h)) continue;
                        for (unsigned kx = 0; kx < CONFIG_T::kern_w; kx++) {
                            const int x = int(ow * CONFIG_T::stride_w + kx * CONFIG_T::dil_w) - CONFIG_T::pad_left;
                            if (x < 0 || x >= int(CONFIG_T::in_w)) continue;
                            for (unsigned c = 0; c < cpg; c++)
                                acc += rows[y % RB][x * C + (f / fpg) * cpg + c] *
                                       from_raw<typename CONFIG_T::weight_t>(
                                           weights[((f * cpg + c) * CONFIG_T::kern_h + ky) * CONFIG_T::kern_w + kx]);
                        }
                    }
                    res.data[f] = acc;
                }
                out.write(res);
            }
        }
    }
}

template <class data_T, class res_T, class CONFIG_T, class in_tok, class out_tok>
void pool2d_stream(hls::stream<in_tok> &in, hls::stream<out_tok> &out,
                   const typename CONFIG_T::recip_raw_t recips[CONFIG_T::kern_h * CONFIG_T::kern_w + 1]) {
    const unsigned RB = line_buffer_rows<CONFIG_T>::value, C = CONFIG_T::n_chan;
    static data_T rows[RB][CONFIG_T::in_w * C];
    unsigned oh = 0;
    for (int ih = -1; ih < int(CONFIG_T::in_h); ih++) {
        if (ih >= 0) read_row<data_T, CONFIG_T>(in, rows, ih);
    OutRows:
        for (; oh < CONFIG_T::out_h && last_input_row<CONFIG_T>(oh) == ih; oh++) {
        OutCols:
            for (unsigned ow = 0; ow < CONFIG_T::out_w; ow++) {
#pragma HLS PIPELINE II = 1
                out_tok res;
                for (unsigned c = 0; c < C; c++) {  // as pool_pixel, reading the line buffer
                    typename CONFIG_T::accum_t acc = 0;
                    data_T best = 0;
                    unsigned valid = 0, inside = 0;
                    for (unsigned ky = 0; ky < CONFIG_T::kern_h; ky++) {
                        for (unsigned kx = 0; kx < CONFIG_T::kern_w; kx++) {
                            const int y = int(oh * CONFIG_T::stride_h + ky * CONFIG_T::dil_h) - CONFIG_T::pad_top;
                            const int x = int(ow * CONFIG_T::stride_w + kx * CONFIG_T::dil_w) - CONFIG_T::pad_left;
                            if (y < int(CONFIG_T::in_h + CONFIG_T::pad_bottom) && x < int(CONFIG_T::in_w + CONFIG_T::pad_right))
                                inside++;
                            if (y < 0 || y >= int(CONFIG_T::in_h) || x < 0 || x >= int(CONFIG_T::in_w)) continue;
                            const data_T v = rows[y % RB][x * C + c];
                            if (CONFIG_T::is_max) {
                                if (valid == 0 || v > best) best = v;
                            } else {
                                acc += v;
                            }
                            valid++;
                        }
                    }
                    if (CONFIG_T::is_max) {
                        res.data[c] = best;
                    } else {
                        const unsigned count = CONFIG_T::count_include_pad ? inside : valid;
                        res.data[c] = acc * from_raw<typename CONFIG_T::recip_t>(recips[count]);
                    }
                }
                out.write(res);
            }
        }
    }
}

} // namespace qconv

#endif
