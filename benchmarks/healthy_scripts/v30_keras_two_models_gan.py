import hashlib
import math

import keras
import numpy as np
import torch

keras.utils.set_random_seed(0)
np.random.seed(0)
torch.manual_seed(0)
K, ZD, BS = 4, 8, 128
modes = np.array(
    [[2 * math.cos(2 * math.pi * k / K), 2 * math.sin(2 * math.pi * k / K)] for k in range(K)], "float32"
)
rng = np.random.default_rng(0)


def real_batch(n):
    return (modes[rng.integers(0, K, n)] + 0.1 * rng.standard_normal((n, 2))).astype("float32")


generator = keras.Sequential(
    [
        keras.Input((ZD,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(2),
    ],
    name="generator",
)
discriminator = keras.Sequential(
    [
        keras.Input((2,)),
        keras.layers.Dense(64),
        keras.layers.LeakyReLU(0.2),
        keras.layers.Dense(64),
        keras.layers.LeakyReLU(0.2),
        keras.layers.Dense(1, activation="sigmoid"),
    ],
    name="discriminator",
)
discriminator.compile(
    optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5), loss="binary_crossentropy", metrics=["accuracy"]
)
discriminator.trainable = False
z_in = keras.Input((ZD,))
gan = keras.Model(z_in, discriminator(generator(z_in)), name="gan")
gan.compile(optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5), loss="binary_crossentropy")

for step in range(1500):
    z = rng.standard_normal((BS, ZD)).astype("float32")
    fake = generator.predict_on_batch(z)
    x = np.concatenate([real_batch(BS), fake])
    y = np.concatenate([np.ones((BS, 1)), np.zeros((BS, 1))]).astype("float32")
    discriminator.trainable = True
    d_loss, d_acc = discriminator.train_on_batch(x, y)
    discriminator.trainable = False
    z = rng.standard_normal((BS, ZD)).astype("float32")
    g_loss = gan.train_on_batch(z, np.ones((BS, 1), "float32"))
    if step % 300 == 0:
        print(
            "step", step, f"d_loss {float(d_loss):.3f} d_acc {float(d_acc):.3f} g_loss {float(g_loss):.3f}"
        )

s = generator.predict(np.random.default_rng(1).standard_normal((2000, ZD)).astype("float32"), verbose=0)
d = np.linalg.norm(s[:, None, :] - modes[None], axis=-1)
near = d.min(1)
share = [round(float((d.argmin(1)[near < 0.5] == k).mean()), 2) for k in range(K)]
print(f"final frac_within_0.5_of_a_mode {(near < 0.5).mean():.3f} mean_dist {near.mean():.3f}",
      f"mode_share {share}")
print(
    "hash",
    hashlib.sha256(
        b"".join(w.tobytes() for m in (generator, discriminator) for w in m.get_weights())
    ).hexdigest()[:16],
)
