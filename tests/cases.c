/* The case tables. Sizes are awkward on purpose (1, 3, 17, 1000, 4099,
 * 8191): round sizes hide tail loops and partial tiles. */
#include "cases.h"

/* clang-format off */
const kt_matmul_case kt_matmul_cases[] = {
  /* name                    nb batch    M     N     K  ta tb bb  alpha  beta  bias null */
  {"one",                    0, {0},     1,    1,    1, 0, 0, 0,  1.0f,  0.0f,  0, 1},
  {"odd_3x5x7",              0, {0},     3,    5,    7, 0, 0, 0,  1.0f,  0.0f,  0, 1},
  {"square_17",              0, {0},    17,   17,   17, 0, 0, 0,  1.0f,  0.0f,  0, 0},
  {"square_128",             0, {0},   128,  128,  128, 0, 0, 0,  1.0f,  0.0f,  0, 1},
  {"gemv_m1",                0, {0},     1, 1000,  257, 0, 0, 0,  1.0f,  0.0f,  0, 1},
  {"gemv_m1_tb_bias",        0, {0},     1,  300, 1000, 0, 1, 0,  1.0f,  0.0f,  1, 0},
  {"n1",                     0, {0},   300,    1,  129, 0, 0, 0,  1.0f,  0.0f,  0, 1},
  {"n1_ta",                  0, {0},    65,    1,   33, 1, 0, 0,  1.0f,  0.0f,  0, 0},
  {"k1",                     0, {0},    33,   65,    1, 0, 0, 0,  1.0f,  0.0f,  0, 1},
  {"k1_bias_tb",             0, {0},     9,   17,    1, 0, 1, 0,  1.0f,  0.0f,  1, 0},
  {"ta",                     0, {0},    40,   31,   23, 1, 0, 0,  1.0f,  0.0f,  0, 0},
  {"tb_linear_bias",         0, {0},    19,   64,  100, 0, 1, 0,  1.0f,  0.0f,  1, 0},
  {"ta_tb",                  0, {0},     9,   13, 1000, 1, 1, 0,  1.0f,  0.0f,  0, 0},
  {"alpha",                  0, {0},    31,   45,   77, 0, 0, 0, -0.5f,  0.0f,  0, 0},
  {"alpha_beta",             0, {0},    31,   45,   77, 0, 0, 0,  0.5f, -1.25f, 0, 0},
  {"beta1_bias_tb",          0, {0},    65,   17,   33, 0, 1, 0,  1.0f,  1.0f,  1, 0},
  {"alpha_beta_bias_ta",     0, {0},    24,   40,   56, 1, 0, 0,  2.0f,  0.75f, 1, 0},
  {"bias_n4099",             0, {0},    20, 4099,    8, 0, 0, 0,  1.0f,  0.0f,  1, 0},
  {"tall_m1000",             0, {0},  1000,    3,   17, 0, 0, 0,  1.0f,  0.0f,  0, 1},
  {"k4099",                  0, {0},    64,   96, 4099, 0, 0, 0,  1.0f,  0.0f,  0, 1},
  {"n8191",                  0, {0},     8, 8191,   64, 0, 0, 0,  1.0f,  0.0f,  0, 1},
  {"batch3_shared_b",        1, {3},    17,   33,   65, 0, 0, 0,  1.0f,  0.0f,  0, 1},
  {"batch3_b",               1, {3},    17,   33,   65, 0, 0, 1,  1.0f,  0.0f,  0, 1},
  {"batch3_b_tb_bias",       1, {3},    10,   24,   16, 0, 1, 1,  1.0f,  0.0f,  1, 0},
  {"batch3_shared_b_beta",   1, {3},    17,   19,   21, 0, 0, 0,  1.5f,  -0.5f, 0, 0},
  {"batch2x3_b_ta_tb",       2, {2, 3},  7,   11,   13, 1, 1, 1,  1.0f,  0.0f,  0, 0},
  {"batch2x3_shared_ta_beta_bias", 2, {2, 3}, 5, 9, 12, 1, 0, 0, -0.5f,  0.5f,  1, 0},
  {"batch2x3_shared_tb_n1",  2, {2, 3}, 12,    1,   70, 0, 1, 0,  1.0f,  0.0f,  0, 0},
  {"batch1x5_b_gemv",        2, {1, 5},  1,   33,   17, 0, 0, 1,  1.0f,  0.0f,  0, 1},
  /* Few rows of a and b [K, N]: on a GPU the n-major GEMV (K split across
   * blocks, the slabs' partial sums added by the last block of each column
   * span); N not a multiple of 4 / 8 takes its scalar loads. */
  {"gemv_1x4099x1000_bias",  0, {0},     1, 4099, 1000, 0, 0, 0,  1.0f,  0.0f,  1, 0},
  {"gemv_1x3x4099",          0, {0},     1,    3, 4099, 0, 0, 0,  1.0f,  0.0f,  0, 1},
  {"gemv_1x1x17",            0, {0},     1,    1,   17, 0, 0, 0,  1.0f,  0.0f,  0, 1},
  {"gemv_1x4096x4096",       0, {0},     1, 4096, 4096, 0, 0, 0,  1.0f,  0.0f,  0, 1},
  {"gemv_3x1000x4099_alpha_beta", 0, {0}, 3, 1000, 4099, 0, 0, 0, 0.5f, -1.25f, 0, 0},
  {"gemv_3x17x3_beta_bias",  0, {0},     3,   17,    3, 0, 0, 0,  1.0f,  0.75f, 1, 0},
  {"gemv_16x1000x4099_bias", 0, {0},    16, 1000, 4099, 0, 0, 0, -0.5f,  0.0f,  1, 0},
  {"gemv_16x17x1000_alpha_beta_bias", 0, {0}, 16, 17, 1000, 0, 0, 0, 2.0f, 0.5f, 1, 0},
  {"gemv_16x4099x17",        0, {0},    16, 4099,   17, 0, 0, 0,  1.0f,  0.0f,  0, 0},
  {"gemv_ta_3x1000x1000_bias", 0, {0},   3, 1000, 1000, 1, 0, 0,  1.0f,  0.0f,  1, 0},
  {"gemv_batch3_b_5x4099x300_beta_bias", 1, {3}, 5, 4099, 300, 0, 0, 1, 1.0f, 0.5f, 1, 0},
  {"gemv_batch2x3_b_1x1000x4099", 2, {2, 3}, 1, 1000, 4099, 0, 0, 1, 1.0f, 0.0f, 0, 0},
  /* A Linear layer's x w^T with few rows (the CPU's own kernel for f32,
   * tiles of 8 weight rows by 16 or 32 rows of x): a text's 13 tokens at
   * BERT's widths, rows past 16 and 32, weight rows not a multiple of 8. */
  {"nt_13x1152x384_bias",    0, {0},    13, 1152,  384, 0, 1, 0,  1.0f,  0.0f,  1, 0},
  {"nt_33x1003x17_alpha_beta", 0, {0},  33, 1003,   17, 0, 1, 0, -0.5f,  0.75f, 0, 0},
  {"nt_64x17x1000_beta1_bias", 0, {0},  64,   17, 1000, 0, 1, 0,  1.0f,  1.0f,  1, 0},
  {"nt_2x5x4099",            0, {0},     2,    5, 4099, 0, 1, 0,  1.0f,  0.0f,  0, 0},
  /* f32 products split over threads by rows (m >= n) or columns: a last
   * span of one row (a GEMV) of a transposed a, a bias on each part. */
  {"split_rows_ta_33x7x2000_bias", 0, {0}, 33,    7, 2000, 1, 0, 0,  1.0f,  0.5f,  1, 0},
  {"split_rows_1041x7x300",  0, {0},  1041,    7,  300, 0, 0, 0,  1.0f,  0.0f,  0, 1},
  {"split_cols_40x1000x257_bias", 0, {0},  40, 1000, 257, 0, 1, 0, -1.0f, 0.0f, 1, 0},
  {"nt_batch3_b_17x9x33",    1, {3},    17,    9,   33, 0, 1, 1,  2.0f,  0.0f,  1, 0},
  /* Empty products: K = 0 leaves beta * out + bias; M = 0 has nothing to do. */
  {"k0",                     0, {0},     5,    7,    0, 0, 0, 0,  1.0f,  0.0f,  0, 1},
  {"k0_beta_bias",           0, {0},     5,    7,    0, 0, 0, 0,  1.0f,  0.5f,  1, 0},
  {"m0",                     0, {0},     0,    7,    5, 0, 0, 0,  1.0f,  0.0f,  0, 1},
};
const size_t kt_matmul_case_count = sizeof kt_matmul_cases / sizeof kt_matmul_cases[0];

const kt_softmax_case kt_softmax_cases[] = {
  /* name                 nd shape               scale  causal inplace pattern      null mask */
  {"cols_1",              2, {5, 1},             1.0f,   0, 0, KT_UNIFORM,      1, KT_NO_MASK},
  {"cols_3",              2, {7, 3},             1.0f,   0, 0, KT_UNIFORM,      0, KT_NO_MASK},
  {"cols_17_scale",       2, {4, 17},            0.37f,  0, 0, KT_UNIFORM,      0, KT_NO_MASK},
  {"cols_1000",           2, {33, 1000},         1.0f,   0, 0, KT_UNIFORM,      1, KT_NO_MASK},
  {"cols_4099_scale",     2, {9, 4099},          0.125f, 0, 0, KT_UNIFORM,      0, KT_NO_MASK},
  {"cols_8191",           2, {256, 8191},        1.0f,   0, 0, KT_UNIFORM,      1, KT_NO_MASK},
  {"one_dim_4099",        1, {4099},             1.0f,   0, 0, KT_UNIFORM,      1, KT_NO_MASK},
  /* widths past one block: a cluster of blocks per row, then streamed */
  {"cols_20000_causal",   2, {3, 20000},         0.125f, 1, 0, KT_UNIFORM,      0, KT_NO_MASK},
  {"cols_32768_neg_inf",  2, {3, 32768},         1.0f,   0, 0, KT_NEG_INF,      1, KT_NO_MASK},
  /* more rows than a GPU has SMs: blocks that walk several rows */
  {"causal_2x150x32768",  3, {2, 150, 32768},    0.25f,  1, 0, KT_UNIFORM,      0, KT_NO_MASK},
  {"in_place_300x32760",  2, {300, 32760},       1.0f,   0, 1, KT_UNIFORM,      0, KT_NO_MASK},
  {"cols_40009_in_place", 2, {2, 40009},         1.0f,   0, 1, KT_UNIFORM,      0, KT_NO_MASK},
  /* Enough rows that a persistent grid's thread groups walk several
   * (the CUDA variants of KILN_CUDA_ROWS), at the widths that tune. */
  {"rows_5000x1000",      2, {5000, 1000},       1.0f,   0, 0, KT_UNIFORM,      0, KT_NO_MASK},
  {"rows_2500x1021",      2, {2500, 1021},       0.5f,   0, 0, KT_UNIFORM,      0, KT_NO_MASK},
  {"rows_3001x4000_in_place", 2, {3001, 4000},   0.125f, 0, 1, KT_UNIFORM,      0, KT_NO_MASK},
  {"rows_400x32768",      2, {400, 32768},       1.0f,   0, 0, KT_UNIFORM,      0, KT_NO_MASK},
  {"batch_4d",            4, {2, 3, 5, 17},      1.3f,   0, 0, KT_UNIFORM,      0, KT_NO_MASK},
  {"causal_17x17",        4, {2, 3, 17, 17},     0.125f, 1, 0, KT_UNIFORM,      0, KT_NO_MASK},
  {"causal_sq1_sk17",     3, {4, 1, 17},         1.0f,   1, 0, KT_UNIFORM,      0, KT_NO_MASK},
  {"causal_sq3_sk17",     3, {2, 3, 17},         0.25f,  1, 0, KT_UNIFORM,      0, KT_NO_MASK},
  /* Sq > Sk: the first Sq - Sk rows of each matrix see nothing: zeros. */
  {"causal_sq20_sk17",    3, {2, 20, 17},        1.0f,   1, 0, KT_UNIFORM,      0, KT_NO_MASK},
  {"causal_sq5_sk3",      2, {5, 3},             1.0f,   1, 0, KT_UNIFORM,      0, KT_NO_MASK},
  {"causal_sq33_sk1000",  2, {33, 1000},         0.6f,   1, 0, KT_UNIFORM,      0, KT_NO_MASK},
  {"neg_inf",             2, {16, 100},          1.0f,   0, 0, KT_NEG_INF,      1, KT_NO_MASK},
  {"rows_all_neg_inf",    3, {2, 8, 33},         1.0f,   0, 0, KT_ROWS_NEG_INF, 1, KT_NO_MASK},
  {"causal_neg_inf",      3, {3, 17, 17},        1.0f,   1, 0, KT_NEG_INF,      0, KT_NO_MASK},
  {"huge_rows",           2, {8, 257},           1.0f,   0, 0, KT_HUGE,         1, KT_NO_MASK},
  {"huge_mixed",          2, {8, 1000},          1.0f,   0, 0, KT_HUGE_MIXED,   0, KT_NO_MASK},
  {"huge_scaled",         2, {6, 129},           0.125f, 0, 0, KT_HUGE,         0, KT_NO_MASK},
  {"logits_80_100",       2, {16, 129},          1.0f,   0, 0, KT_80_100,       1, KT_NO_MASK},
  {"logits_80_100_4099",  2, {3, 4099},          1.0f,   0, 0, KT_80_100,       0, KT_NO_MASK},
  {"in_place",            2, {12, 1000},         1.0f,   0, 1, KT_UNIFORM,      1, KT_NO_MASK},
  {"in_place_causal",     3, {3, 9, 9},          0.5f,   1, 1, KT_UNIFORM,      0, KT_NO_MASK},
  {"in_place_rows_neg_inf", 2, {5, 17},          1.0f,   0, 1, KT_ROWS_NEG_INF, 0, KT_NO_MASK},
  {"in_place_huge",       2, {4, 4099},          1.0f,   0, 1, KT_HUGE_MIXED,   0, KT_NO_MASK},
  /* additive masks, alone and with the causal mask */
  {"mask_row_padding",    2, {6, 33},            1.0f,   0, 0, KT_UNIFORM,      0, KT_MASK_ROW},
  {"mask_row_1d",         1, {17},               0.5f,   0, 0, KT_UNIFORM,      0, KT_MASK_ROW},
  {"mask_row_4099",       2, {5, 4099},          1.0f,   0, 0, KT_UNIFORM,      0, KT_MASK_ROW},
  {"mask_batch_3d",       3, {3, 5, 17},         1.0f,   0, 0, KT_UNIFORM,      0, KT_MASK_BATCH},
  {"mask_batch_causal",   4, {3, 2, 9, 9},       0.25f,  1, 0, KT_UNIFORM,      0, KT_MASK_BATCH},
  {"mask_batch_empty",    3, {3, 4, 17},         1.0f,   0, 0, KT_UNIFORM,      0, KT_MASK_BATCH_LAST_EMPTY},
  {"mask_huge",           2, {4, 129},           1.0f,   0, 0, KT_HUGE_MIXED,   0, KT_MASK_ROW},
  {"mask_in_place",       2, {5, 1000},          1.0f,   0, 1, KT_UNIFORM,      0, KT_MASK_BATCH},
  {"mask_causal_neg_inf", 3, {2, 7, 12},         1.0f,   1, 0, KT_NEG_INF,      0, KT_MASK_BATCH},
};
const size_t kt_softmax_case_count = sizeof kt_softmax_cases / sizeof kt_softmax_cases[0];

const kt_rms_norm_case kt_rms_norm_cases[] = {
  /* name                 nd shape               eps     inplace pattern */
  {"h1",                  2, {7, 1},             1e-6f,  0, KT_UNIFORM},
  {"h3",                  2, {5, 3},             1e-5f,  0, KT_UNIFORM},
  {"h17",                 2, {9, 17},            1e-6f,  0, KT_UNIFORM},
  {"h1000",               2, {33, 1000},         1e-5f,  0, KT_UNIFORM},
  {"h4099",               2, {512, 4099},        1e-6f,  0, KT_UNIFORM},
  {"h8191",               2, {16, 8191},         1e-5f,  0, KT_UNIFORM},
  {"h20001",              2, {3, 20001},         1e-6f,  0, KT_UNIFORM},
  {"h32768_in_place",     2, {3, 32768},         1e-5f,  1, KT_ROW_SCALES},
  {"h300x32768",          2, {300, 32768},       1e-6f,  0, KT_ROW_SCALES},
  {"h5000x1000",          2, {5000, 1000},       1e-5f,  0, KT_UNIFORM},
  {"h2500x1021",          2, {2500, 1021},       1e-6f,  0, KT_UNIFORM},
  {"h3001x4000_in_place", 2, {3001, 4000},       1e-6f,  1, KT_ROW_SCALES},
  {"h70001",              2, {2, 70001},         1e-6f,  0, KT_UNIFORM},
  {"one_dim_4099",        1, {4099},             1e-6f,  0, KT_UNIFORM},
  {"batch_4d",            4, {2, 3, 4, 17},      1e-5f,  0, KT_UNIFORM},
  {"zero_rows",           2, {8, 64},            1e-6f,  0, KT_ZERO_ROWS},
  {"zero_rows_in_place",  3, {2, 4, 33},         1e-5f,  1, KT_ZERO_ROWS},
  {"zero_rows_eps_1e-30", 2, {4, 17},            1e-30f, 0, KT_ZERO_ROWS},
  {"row_scales_eps_1e-5", 2, {32, 257},          1e-5f,  0, KT_ROW_SCALES},
  {"row_scales_eps_0.1",  2, {32, 257},          0.1f,   0, KT_ROW_SCALES},
  {"row_scales_eps_1",    2, {16, 100},          1.0f,   0, KT_ROW_SCALES},
  {"in_place",            2, {12, 1000},         1e-6f,  1, KT_UNIFORM},
  {"in_place_row_scales", 2, {6, 4099},          1e-6f,  1, KT_ROW_SCALES},
};
const size_t kt_rms_norm_case_count = sizeof kt_rms_norm_cases / sizeof kt_rms_norm_cases[0];
/* clang-format on */

/* About a second of valgrind time per case at most. */
#define QUICK_MACS (INT64_C(1) << 21)
#define QUICK_ELEMENTS (INT64_C(1) << 16)

/* A quarter, kept odd so tails stay exercised. */
static int64_t shrink(int64_t d) { return ((d + 3) / 4) | 1; }

kt_matmul_case kt_matmul_case_quick(kt_matmul_case c) {
  int64_t batch = 1;
  for (int i = 0; i < c.nbatch; i++)
    batch *= c.batch[i];
  while (batch * c.m * c.n * c.k > QUICK_MACS) {
    int64_t *largest = c.m >= c.n && c.m >= c.k ? &c.m : c.n >= c.k ? &c.n : &c.k;
    *largest = shrink(*largest);
  }
  return c;
}

void kt_shape_quick(int ndim, int64_t *shape, int keep) {
  for (;;) {
    int64_t numel = 1;
    int largest = -1;
    for (int i = 0; i < ndim; i++) {
      numel *= shape[i];
      if (i < ndim - keep && shape[i] > 1 && (largest < 0 || shape[i] > shape[largest]))
        largest = i;
    }
    if (numel <= QUICK_ELEMENTS || largest < 0)
      return;
    shape[largest] = shrink(shape[largest]);
  }
}
