// Times one convolution's forward, backward-data and backward-weights (medians) in whichever
// oneDNN it is compiled against: Debian's 2.6 or Intel's 3.x from PyPI (see versions.sh).
//
// usage: convbench N IC OC H K S P LAYOUT REPS
//   LAYOUT any:  activations and weights in the layouts oneDNN picks (what the cpu backend asks)
//          nhwc: activations NHWC, weights as oneDNN picks (what Keras and PyTorch channels-last ask)
#include <oneapi/dnnl/dnnl.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <algorithm>
#include <string>
using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;

static double median(std::vector<double> v) { std::sort(v.begin(), v.end()); return v[v.size() / 2]; }

int main(int argc, char **argv) {
    int N = atoi(argv[1]), IC = atoi(argv[2]), OC = atoi(argv[3]), H = atoi(argv[4]), K = atoi(argv[5]), S = atoi(argv[6]), P = atoi(argv[7]);
    std::string layout = argv[8];
    int reps = atoi(argv[9]);
    algorithm alg = algorithm::convolution_direct;
    int OH = (H + 2 * P - K) / S + 1;
    engine eng(engine::kind::cpu, 0);
    stream st(eng);
    tag act = layout == "nhwc" ? tag::nhwc : tag::any;
    memory::desc src({N, IC, H, H}, dt::f32, act), dst({N, OC, OH, OH}, dt::f32, act);
    memory::desc wei({OC, IC, K, K}, dt::f32, tag::any), bia({OC}, dt::f32, tag::x);
    memory::dims strides{S, S}, pad{P, P};
#if DNNL_VERSION_MAJOR >= 3
    convolution_forward::primitive_desc fpd(eng, prop_kind::forward_training, alg, src, wei, bia, dst, strides, pad, pad);
    convolution_backward_data::primitive_desc dpd(eng, alg, src, wei, dst, strides, pad, pad, fpd);
    convolution_backward_weights::primitive_desc wpd(eng, alg, src, wei, bia, dst, strides, pad, pad, fpd);
#else
    convolution_forward::primitive_desc fpd({prop_kind::forward_training, alg, src, wei, bia, dst, strides, pad, pad}, eng);
    convolution_backward_data::primitive_desc dpd({alg, src, wei, dst, strides, pad, pad}, eng, fpd);
    convolution_backward_weights::primitive_desc wpd({alg, src, wei, bia, dst, strides, pad, pad}, eng, fpd);
#endif
    memory s(fpd.src_desc(), eng), w(fpd.weights_desc(), eng), b(fpd.bias_desc(), eng), d(fpd.dst_desc(), eng);
    memory ds(dpd.diff_src_desc(), eng), dw(wpd.diff_weights_desc(), eng), db(wpd.diff_bias_desc(), eng);
    memory dd(wpd.diff_dst_desc(), eng);
    for (auto *m : {&s, &w, &b, &d, &ds, &dw, &db, &dd}) {
        float *p = (float *)m->get_data_handle();
        size_t n = m->get_desc().get_size() / 4;
        for (size_t i = 0; i < n; i++) p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    }
    convolution_forward f(fpd);
    convolution_backward_data bd(dpd);
    convolution_backward_weights bw(wpd);
    auto time = [&](auto fn) {
        std::vector<double> t;
        for (int r = 0; r < reps + 1; r++) {
            auto a = std::chrono::steady_clock::now();
            fn();
            st.wait();
            auto z = std::chrono::steady_clock::now();
            if (r > 0) t.push_back(std::chrono::duration<double, std::milli>(z - a).count());
        }
        return median(t);
    };
    double tf = time([&] { f.execute(st, {{DNNL_ARG_SRC, s}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, b}, {DNNL_ARG_DST, d}}); });
    double td = time([&] { bd.execute(st, {{DNNL_ARG_DIFF_DST, dd}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DIFF_SRC, ds}}); });
    double tw = time([&] { bw.execute(st, {{DNNL_ARG_SRC, s}, {DNNL_ARG_DIFF_DST, dd}, {DNNL_ARG_DIFF_WEIGHTS, dw}, {DNNL_ARG_DIFF_BIAS, db}}); });
    double gf = 2.0 * N * OC * OH * OH * IC * K * K / 1e9;
    printf("oneDNN %d.%d %-4s N%d %d->%d %dx%d k%d: forward %.1f ms (%.0f GFLOP/s) [%s]  data gradient %.1f (%.0f) [%s]  weight gradient %.1f (%.0f) [%s]\n",
           DNNL_VERSION_MAJOR, DNNL_VERSION_MINOR, layout.c_str(), N, IC, OC, H, H, K,
           tf, gf / tf * 1e3, fpd.impl_info_str(), td, gf / td * 1e3, dpd.impl_info_str(), tw, gf / tw * 1e3, wpd.impl_info_str());
    return 0;
}
