/**
 * Frame orders for looping animations.
 *
 * `pingPongOrder(n)` plays 0..n-1 and back down to 1; the loop then wraps from 1 to 0, so every step is
 * to a neighbouring frame, no frame shows twice in a row and none is skipped. (The Keras SD3 guide's
 * `images + images[2:-1][::-1]` comes back n-2..2 and wraps from 2 to 0, skipping frame 1.)
 */
export function pingPongOrder(n: number): number[] {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`pingPongOrder: n must be a non-negative integer, got ${n}`);
  const order: number[] = [];
  for (let i = 0; i < n; i++) order.push(i);
  for (let i = n - 2; i >= 1; i--) order.push(i);
  return order;
}

/** Plain forward order 0..n-1. */
export function forwardOrder(n: number): number[] {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`forwardOrder: n must be a non-negative integer, got ${n}`);
  return Array.from({ length: n }, (_, i) => i);
}
