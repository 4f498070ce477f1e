/**
 * Floating-point operations of the matrix products one training example costs, the work the
 * achieved GFLOP/s is computed from. For each weight layer l with W_l of n_out × n_in:
 *   forward          z = W·a               2·n_in·n_out
 *   weight gradient  ∂C/∂W = δ·aᵀ          2·n_in·n_out
 *   back-propagation δ_below = Wᵀ·δ        2·n_in·n_out, every layer but the first (no one needs
 *                                          the error at the input pixels, and the core skips it)
 * The update w ← (1 − ηλ/n)·w − (η/m)·Σ∂C/∂W is folded into the gradient's sgemm (beta, alpha),
 * so it costs no extra pass. Bias and activation work (O(neurons)) is left out. The common
 * "6 × parameters" rule counts the first layer's back-propagation too; for networks whose first
 * layer holds nearly all the weights it reads about 1.5 × higher than this count.
 */
export function flopsPerExample(sizes: readonly number[]): number {
  let flops = 0;
  for (let l = 0; l + 1 < sizes.length; l++) {
    const weights = sizes[l]! * sizes[l + 1]!;
    flops += (l === 0 ? 4 : 6) * weights;
  }
  return flops;
}
