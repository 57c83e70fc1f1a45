/* y = softmax(x @ w^T): a PyTorch-style Linear layer followed by a softmax. */
#include <kiln.h>
#include <stdio.h>

static int check(kiln_status s) {
  if (s != KILN_OK)
    fprintf(stderr, "%s: %s\n", kiln_status_string(s), kiln_last_error());
  return s != KILN_OK;
}

int main(void) {
  kiln_context *ctx;
  if (check(kiln_context_create(KILN_DEVICE_AUTO, 0, &ctx)))
    return 1;
  printf("%s\n", kiln_context_describe(ctx));

  const int64_t x_shape[2] = {2, 3}, w_shape[2] = {4, 3}, y_shape[2] = {2, 4};
  const float xv[6] = {1, 2, 3, 4, 5, 6};
  const float wv[12] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1};
  float yv[8];
  kiln_tensor *x = NULL, *w = NULL, *y = NULL;
  kiln_matmul_params linear = {.transpose_b = 1, .alpha = 1.0f}; /* w is [out, in] */

  int failed = check(kiln_tensor_create(ctx, KILN_F32, 2, x_shape, &x)) ||
               check(kiln_tensor_create(ctx, KILN_F32, 2, w_shape, &w)) ||
               check(kiln_tensor_create(ctx, KILN_F32, 2, y_shape, &y)) ||
               check(kiln_tensor_write(x, xv, sizeof xv)) ||
               check(kiln_tensor_write(w, wv, sizeof wv)) ||
               check(kiln_matmul(ctx, x, w, y, &linear)) ||
               check(kiln_softmax(ctx, y, y, NULL)) || /* in place, over the last axis */
               check(kiln_tensor_read(y, yv, sizeof yv));
  for (int i = 0; !failed && i < 8; i++)
    printf("%.4f%c", yv[i], i % 4 == 3 ? '\n' : ' ');

  kiln_tensor_destroy(x);
  kiln_tensor_destroy(w);
  kiln_tensor_destroy(y);
  kiln_context_destroy(ctx);
  return failed;
}
