"""Prompt-adherence measure: which colour and which shape an RGB image shows.

Written with plain loops so that it ports line by line to TypeScript (see README,
"Adherence measure"). Input: uint8 array [H, W, 3].
"""
import numpy as np

from shapes_data import PALETTE

MIN_CONTRAST = 48.0      # a pixel closer than this to the background is background
HOLE_MIN_FRACTION = 0.08  # enclosed background / filled area at or above this: ring
STAR_MAX_SOLIDITY = 0.8   # area / convex-hull area below this: star
SQUARE_MIN_FILL = 0.88    # area / bounding-box area at or above this: square
CIRCLE_MIN_FILL = 0.64    # ... at or above this (and below square): circle, else triangle


def nearest_colour(rgb):
    best, bestd = None, None
    for name, c in PALETTE.items():
        d = (rgb[0] - c[0]) ** 2 + (rgb[1] - c[1]) ** 2 + (rgb[2] - c[2]) ** 2
        if bestd is None or d < bestd:
            best, bestd = name, d
    return best


def _border_median(img):
    h, w, _ = img.shape
    border = np.concatenate([img[0, :, :], img[h - 1, :, :], img[1:h - 1, 0, :], img[1:h - 1, w - 1, :]], axis=0)
    # Median per channel (lower median of an even count: sorted[(n-1)//2]).
    out = []
    for ch in range(3):
        v = np.sort(border[:, ch].astype(np.float64))
        out.append(float(v[(len(v) - 1) // 2]))
    return out


def _components(mask):
    """4-connected components of a boolean mask; returns the largest as a list of (y, x)."""
    h, w = mask.shape
    seen = np.zeros_like(mask, dtype=bool)
    best = []
    for y0 in range(h):
        for x0 in range(w):
            if not mask[y0, x0] or seen[y0, x0]:
                continue
            comp = []
            stack = [(y0, x0)]
            seen[y0, x0] = True
            while stack:
                y, x = stack.pop()
                comp.append((y, x))
                for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                    if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not seen[ny, nx]:
                        seen[ny, nx] = True
                        stack.append((ny, nx))
            if len(comp) > len(best):  # first largest in row-major scan order wins ties
                best = comp
    return best


def _cross(o, a, b):
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _hull_area(points):
    """Area of the convex hull (Andrew's monotone chain + shoelace)."""
    pts = sorted(set(points))
    if len(pts) < 3:
        return 0.0
    lower, upper = [], []
    for p in pts:
        while len(lower) >= 2 and _cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and _cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    hull = lower[:-1] + upper[:-1]
    area = 0.0
    for i in range(len(hull)):
        x1, y1 = hull[i]
        x2, y2 = hull[(i + 1) % len(hull)]
        area += x1 * y2 - x2 * y1
    return abs(area) / 2.0


def analyse(img):
    """Return dict(colour, shape, features...). colour/shape are None when no shape is found."""
    img = np.asarray(img)
    h, w, _ = img.shape
    bg = _border_median(img)
    f = img.astype(np.float64)
    dist = np.sqrt((f[:, :, 0] - bg[0]) ** 2 + (f[:, :, 1] - bg[1]) ** 2 + (f[:, :, 2] - bg[2]) ** 2)
    dmax = float(dist.max())
    res = dict(background_rgb=bg, background=nearest_colour(bg), colour=None, shape=None)
    if dmax < MIN_CONTRAST:
        return res
    thr = max(MIN_CONTRAST, 0.5 * dmax)
    mask = dist > thr
    comp = _components(mask)
    inside = np.zeros((h, w), dtype=bool)
    s = [0.0, 0.0, 0.0]
    for y, x in comp:
        inside[y, x] = True
        for ch in range(3):
            s[ch] += f[y, x, ch]
    mean = [v / len(comp) for v in s]
    res["mean_rgb"] = mean
    res["colour"] = nearest_colour(mean)
    # Holes: pixels outside the shape that a 4-connected flood from the image border cannot reach.
    outside = np.zeros((h, w), dtype=bool)
    stack = []
    for y in range(h):
        for x in range(w):
            if (y == 0 or x == 0 or y == h - 1 or x == w - 1) and not inside[y, x]:
                outside[y, x] = True
                stack.append((y, x))
    while stack:
        y, x = stack.pop()
        for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
            if 0 <= ny < h and 0 <= nx < w and not inside[ny, nx] and not outside[ny, nx]:
                outside[ny, nx] = True
                stack.append((ny, nx))
    filled = ~outside
    area = int(filled.sum())
    holes = area - len(comp)
    ys, xs = np.nonzero(filled)
    bbox = (int(xs.max()) - int(xs.min()) + 1) * (int(ys.max()) - int(ys.min()) + 1)
    # Convex hull over the corners of the leftmost and rightmost filled pixel of each row.
    corners = []
    for y in range(h):
        row = np.nonzero(filled[y])[0]
        if len(row) == 0:
            continue
        for x in (int(row[0]), int(row[-1]) + 1):
            corners.append((x, y))
            corners.append((x, y + 1))
    hull = _hull_area(corners)
    hole_frac = holes / area
    fill = area / bbox
    solidity = area / hull if hull > 0 else 0.0
    if hole_frac >= HOLE_MIN_FRACTION:
        shape = "ring"
    elif solidity < STAR_MAX_SOLIDITY:
        shape = "star"
    elif fill >= SQUARE_MIN_FILL:
        shape = "square"
    elif fill >= CIRCLE_MIN_FILL:
        shape = "circle"
    else:
        shape = "triangle"
    res.update(shape=shape, area=area, hole_fraction=hole_frac, fill=fill, solidity=solidity,
               threshold=thr, component_pixels=len(comp))
    return res
