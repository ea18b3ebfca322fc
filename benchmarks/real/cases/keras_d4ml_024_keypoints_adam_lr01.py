"""defects4ML bug 024 (ShyamPoovaiah/FacialKeypointsDetection `src/1_single_hidden_layer.py`): a linear
Dense(50) -> Dense(100) -> Dense(30) regressor of the 15 Kaggle facial keypoints from the 96x96 pixels,
compiled with ``Adam(lr=0.1)``.

The original loads Kaggle's training.csv (the 2,140 complete rows), scales the pixels to [0, 1] and the
keypoint coordinates to [-1, 1] ((y - 48) / 48), and fits the three Dense layers (no activations) with mean
squared error, batch size 32 (the default) for 100 epochs. The bug: Adam with lr=0.1 makes steps far too large
for a 9,216-input linear layer, the loss jumps to millions and never comes back to the scale of the targets.
The fix (commit 6543925) compiles with ``SGD(lr=0.01, decay=1e-6, momentum=0.9, nesterov=True, clipnorm=1)``.

Ported to Keras 3: the Kaggle download becomes a stand-in of synthetic faces drawn from a keypoint template
(see ``faces``); a held-out set drawn from the same rule gives the reported R^2.
"""

import _harness
import keras
import numpy as np
from keras import optimizers
from keras.layers import Dense
from keras.models import Sequential
from sklearn.metrics import r2_score
from sklearn.utils import shuffle

_harness.seed_everything()

# Kaggle's 15 keypoints (x, y) in pixels on a 96x96 face, in the column order of training.csv.
TEMPLATE = np.array([
    (66.0, 37.0), (30.0, 37.0),  # left / right eye centre
    (59.0, 37.5), (73.0, 37.5),  # left eye inner / outer corner
    (37.0, 37.5), (23.0, 37.5),  # right eye inner / outer corner
    (56.5, 29.0), (80.0, 30.0),  # left eyebrow inner / outer end
    (39.5, 29.0), (16.0, 30.0),  # right eyebrow inner / outer end
    (48.0, 62.0),  # nose tip
    (63.0, 76.0), (33.0, 76.0),  # mouth left / right corner
    (48.0, 72.5), (48.0, 82.5),  # mouth centre top / bottom lip
])


def faces(seed, n):
    """Grey 96x96 faces (pixels in [0, 1]) with their 30 keypoint coordinates scaled to [-1, 1]: the template
    under a random shift, scale and rotation, eyes, brows, nose and mouth drawn dark on a lit face oval."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:96, 0:96].astype(np.float64)

    def window(lo, hi):
        """The pixel rows / columns within [lo, hi] (a feature is drawn only there)."""
        (x0, y0), (x1, y1) = np.clip(np.floor(lo), 0, 96).astype(int), np.clip(np.ceil(hi) + 1, 0, 96).astype(int)
        return np.s_[y0:y1, x0:x1]

    def blob(img, p, sx, sy, depth):
        w = window(p - 4 * max(sx, sy), p + 4 * max(sx, sy))
        img[w] -= depth * np.exp(-((xx[w] - p[0]) ** 2 / (2 * sx ** 2) + (yy[w] - p[1]) ** 2 / (2 * sy ** 2)))

    def stroke(img, p, q, width, depth):
        w = window(np.minimum(p, q) - 4 * width, np.maximum(p, q) + 4 * width)
        d = q - p
        u = np.clip(((xx[w] - p[0]) * d[0] + (yy[w] - p[1]) * d[1]) / (d @ d + 1e-9), 0, 1)
        dist2 = (xx[w] - p[0] - u * d[0]) ** 2 + (yy[w] - p[1] - u * d[1]) ** 2
        img[w] -= depth * np.exp(-dist2 / (2 * width ** 2))

    X = np.empty((n, 96 * 96), np.float32)
    y = np.empty((n, 30), np.float32)
    for i in range(n):
        s, a, t = rng.uniform(0.85, 1.1), np.deg2rad(rng.uniform(-10, 10)), rng.uniform(-6, 6, 2)
        rot = s * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        pts = (TEMPLATE - 48.0) @ rot.T + 48.0 + t + rng.normal(0, 0.7, TEMPLATE.shape)
        bg = rng.uniform(0.1, 0.45) + rng.uniform(-0.15, 0.15) * (xx - 48) / 48
        oval = ((xx - pts[10, 0]) / (34 * s)) ** 2 + ((yy - (pts[0, 1] + pts[14, 1]) / 2) / (44 * s)) ** 2
        skin = rng.uniform(0.5, 0.85)
        img = bg + (skin - bg) / (1 + np.exp((oval - 1) * 12))
        blob(img, pts[0], 2.5 * s, 2.0 * s, 0.45)
        blob(img, pts[1], 2.5 * s, 2.0 * s, 0.45)
        stroke(img, pts[2], pts[3], 1.5 * s, 0.2)
        stroke(img, pts[4], pts[5], 1.5 * s, 0.2)
        stroke(img, pts[6], pts[7], 1.3 * s, 0.35)
        stroke(img, pts[8], pts[9], 1.3 * s, 0.35)
        blob(img, pts[10], 3 * s, 2 * s, 0.15)
        for j, k, depth in ((11, 13, 0.3), (13, 12, 0.3), (11, 14, 0.2), (14, 12, 0.2)):
            stroke(img, pts[j], pts[k], 1.5 * s, depth)
        img += rng.normal(0, 0.03, img.shape)
        X[i] = np.clip(img, 0, 1).ravel()
        y[i] = ((pts - 48) / 48).ravel()
    return X, y


def load(test=False):
    """Like the original ``load()``: X in [0, 1] (float32), y scaled to [-1, 1], the training set shuffled."""
    X, y = faces(_harness.seed() + (1000 if test else 0), 400 if test else 2140)
    if not test:
        X, y = shuffle(X, y, random_state=42)
    return X, y


X, y = load()
X_test, y_test = load(test=True)
print(f"X.shape == {X.shape}; X.min == {X.min():.3f}; X.max == {X.max():.3f}")
print(f"y.shape == {y.shape}; y.min == {y.min():.3f}; y.max == {y.max():.3f}")

# Version - Single Hidden Layer
model = Sequential()
model.add(keras.Input(shape=(9216,)))  # 96x96 input pixels
model.add(Dense(50))
model.add(Dense(100))
model.add(Dense(30))  # 30 to represent 30 facial keypoints.

if _harness.buggy():  # the bug
    optimizer = optimizers.Adam(learning_rate=0.1)
else:
    optimizer = optimizers.SGD(learning_rate=optimizers.schedules.InverseTimeDecay(0.01, 1, 1e-6),
                               momentum=0.9, nesterov=True, clipnorm=1)
model.compile(optimizer=optimizer, loss="mean_squared_error")

log = _harness.keras_loss_log()
model.fit(X, y, epochs=30, verbose=2, callbacks=[log])
eval_result = model.evaluate(X, y, verbose=0)
print("\n\nTest loss:", eval_result)

r2 = r2_score(y_test, model.predict(X_test, verbose=0))
_harness.report(metric=r2, metric_name="held-out R^2", chance=0.0, losses=log.losses)
