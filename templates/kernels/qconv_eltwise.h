// qconv kernel library: element-wise arithmetic and data movement (io_parallel; gather_stream: io_stream).
// Same arithmetic as qconv/sim/eltwise.py: exact +, -, * in ap_fixed's result types, then one
// cast into res_T.
#ifndef QCONV_ELTWISE_H_
#define QCONV_ELTWISE_H_

#include "hls_stream.h"
#include "qconv_common.h"

namespace qconv {

// out[i] = in[idx[i]]: transposes, pads (index -1 reads zero), nearest resizes.
template <class data_T, class res_T, class CONFIG_T>
void gather(const data_T *data, res_T res[CONFIG_T::n], const int idx[CONFIG_T::n]) {
#pragma HLS INLINE
    for (unsigned i = 0; i < CONFIG_T::n; i++) {
#pragma HLS UNROLL
        res[i] = idx[i] < 0 ? res_T(0) : res_T(data[idx[i]]);
    }
}

// io_stream gather (Resize nearest, Pad, Slice of an image, DepthToSpace; design/dataflow.py
// "rows"): the same out[i] = in[idx[i]] (zero where -1) as gather, with idx separable over (rows,
// columns, lanes) views: out[y][x][l] = in[rows[y]][cols[x]][lane(y, x, l)], the lane map
// repeating over lane_rows x lane_cols blocks of output pixels (1 x 1 but for DepthToSpace), rows
// nondecreasing where >= 0. One input
// row (in_cols tokens) is buffered: before output row y the input rows up to rows[y] are read
// (the earlier ones dropped), and the rows after the last one used are read and dropped at the end,
// so no token is left in the stream.
template <class data_T, class res_T, class CONFIG_T, class in_tok, class out_tok>
void gather_stream(hls::stream<in_tok> &in, hls::stream<out_tok> &out, const int rows[CONFIG_T::out_rows],
                   const int cols[CONFIG_T::out_cols],
                   const int lanes[CONFIG_T::lane_rows * CONFIG_T::lane_cols * CONFIG_T::out_lanes]) {
    data_T row[CONFIG_T::in_cols][CONFIG_T::in_lanes];
    int have = -1;  // the input row in the buffer
OutRows:
    for (unsigned y = 0; y < CONFIG_T::out_rows; y++) {
    ReadRows:
        for (; have < rows[y]; have++) {
            for (unsigned x = 0; x < CONFIG_T::in_cols; x++) {
#pragma HLS PIPELINE II = 1
                const in_tok tok = in.read();
                for (unsigned l = 0; l < CONFIG_T::in_lanes; l++) row[x][l] = tok.data[l];
            }
        }
    OutCols:
        for (unsigned x = 0; x < CONFIG_T::out_cols; x++) {
#pragma HLS PIPELINE II = 1
            const int *lane = &lanes[((y % CONFIG_T::lane_rows) * CONFIG_T::lane_cols + x % CONFIG_T::lane_cols) *
                                     CONFIG_T::out_lanes];
            out_tok tok;
            for (unsigned l = 0; l < CONFIG_T::out_lanes; l++)
                tok.data[l] = rows[y] < 0 || cols[x] < 0 || lane[l] < 0 ? res_T(0) : res_T(row[cols[x]][lane[l]]);
            out.write(tok);
        }
    }
Drain:
    for (; have < int(CONFIG_T::in_rows) - 1; have++)
        for (unsigned x = 0; x < CONFIG_T::in_cols; x++) {
#pragma HLS PIPELINE II = 1
            in.read();
        }
}

struct op_add { template <class A, class B> static auto apply(const A &a, const B &b) -> decltype(a + b) { return a + b; } };
struct op_sub { template <class A, class B> static auto apply(const A &a, const B &b) -> decltype(a - b) { return a - b; } };
struct op_rsub { template <class A, class B> static auto apply(const A &a, const B &b) -> decltype(b - a) { return b - a; } };
struct op_mul { template <class A, class B> static auto apply(const A &a, const B &b) -> decltype(a * b) { return a * b; } };

// res[i] = a[i] OP b[i] for two tensors of the same shape and layout.
template <class OP, class a_T, class b_T, class res_T, class CONFIG_T>
void eltwise(const a_T a[CONFIG_T::n], const b_T b[CONFIG_T::n], res_T res[CONFIG_T::n]) {
#pragma HLS INLINE
    for (unsigned i = 0; i < CONFIG_T::n; i++) {
#pragma HLS UNROLL
        res[i] = OP::apply(a[i], b[i]);
    }
}

// res[i] = a[i] OP c[(i / inner) % period]: a constant broadcast along memory axes
// (a scalar: period 1; per channel in channels-last memory: inner 1, period C).
template <class OP, class a_T, class res_T, class CONFIG_T>
void eltwise_const(const a_T a[CONFIG_T::n], res_T res[CONFIG_T::n],
                   const typename CONFIG_T::const_raw_t c[CONFIG_T::period]) {
#pragma HLS INLINE
    for (unsigned i = 0; i < CONFIG_T::n; i++) {
#pragma HLS UNROLL
        res[i] = OP::apply(a[i], from_raw<typename CONFIG_T::const_t>(c[(i / CONFIG_T::inner) % CONFIG_T::period]));
    }
}

// BatchNorm as res[i] = a[i] * s[k] + t[k], k = (i / inner) % period: exact, then one cast.
template <class a_T, class res_T, class CONFIG_T>
void muladd_const(const a_T a[CONFIG_T::n], res_T res[CONFIG_T::n],
                  const typename CONFIG_T::const_raw_t s[CONFIG_T::period],
                  const typename CONFIG_T::shift_raw_t t[CONFIG_T::period]) {
#pragma HLS INLINE
    for (unsigned i = 0; i < CONFIG_T::n; i++) {
#pragma HLS UNROLL
        const unsigned k = (i / CONFIG_T::inner) % CONFIG_T::period;
        res[i] = a[i] * from_raw<typename CONFIG_T::const_t>(s[k]) + from_raw<typename CONFIG_T::shift_t>(t[k]);
    }
}

// One input's part of a concatenation: memory viewed as (outer, axis, inner); CONFIG_T gives
// outer, inner, axis_in (this part's), axis_out (the output's) and offset (this part's start).
template <class data_T, class res_T, class CONFIG_T>
void concat_part(const data_T *data, res_T *res) {
#pragma HLS INLINE
    for (unsigned o = 0; o < CONFIG_T::outer; o++)
        for (unsigned j = 0; j < CONFIG_T::axis_in; j++)
            for (unsigned i = 0; i < CONFIG_T::inner; i++) {
#pragma HLS UNROLL
                res[(o * CONFIG_T::axis_out + CONFIG_T::offset + j) * CONFIG_T::inner + i] =
                    data[(o * CONFIG_T::axis_in + j) * CONFIG_T::inner + i];
            }
}

// res[0] = index of the first largest element of data (TopK with k = 1).
template <class data_T, class res_T, class CONFIG_T>
void argmax(const data_T data[CONFIG_T::n], res_T res[1]) {
#pragma HLS INLINE
    unsigned best = 0;
    for (unsigned i = 1; i < CONFIG_T::n; i++) {
#pragma HLS UNROLL
        if (data[i] > data[best]) best = i;
    }
    res[0] = best;
}

} // namespace qconv

#endif
