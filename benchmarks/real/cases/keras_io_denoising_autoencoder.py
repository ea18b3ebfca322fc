"""keras-io `examples/vision/autoencoder.py` (Convolutional Autoencoder For Image Denoising, Santiago L.
Valdarrama): a functional convolutional autoencoder on MNIST (encoder Conv2D(32, 3, relu, same) / MaxPooling2D
x2, decoder Conv2D(32) / UpSampling2D x2 and a Conv2D(1, sigmoid) output), binary cross-entropy with Adam,
batch 128, shuffled; first fitted to reconstruct clean images, then refitted from noisy images (Gaussian
noise, factor 0.4, clipped to [0, 1]) to the clean ones.

Ported (re-written to the same model, loss, optimizer, batch size and both ``fit`` phases with their
validation data): the MNIST download becomes the local stand-in (3,000 train / 500 test images instead of
60,000 / 10,000); 2 epochs for each phase instead of 50 and 100; no plots. The outcome is minus the
binary cross-entropy of the denoised test images against the clean ones (task "generative"); its chance
level is minus that of a model that ignores its input (the mean training image as every output).
"""

import _data
import _harness
import keras
import numpy as np
from keras.layers import Conv2D, Input, MaxPooling2D, UpSampling2D
from keras.models import Model

_harness.seed_everything()


def preprocess(dataset):
    """Normalizes the supplied dataset and reshapes it into the appropriate format."""
    dataset = dataset.astype("float32") / 255.0
    return np.reshape(dataset, (len(dataset), 28, 28, 1))


def noise(dataset):
    """Adds random noise to each image in the supplied dataset."""
    noise_factor = 0.4
    noisy_dataset = dataset + noise_factor * np.random.normal(loc=0.0, scale=1.0, size=dataset.shape)
    return np.clip(noisy_dataset, 0.0, 1.0)


(train_dataset, _), (test_dataset, _) = _data.mnist_load_data(seed=_harness.seed(), n_train=3000, n_test=500)
train_dataset = preprocess(train_dataset)
test_dataset = preprocess(test_dataset)
noisy_train_dataset = noise(train_dataset)
noisy_test_dataset = noise(test_dataset)

input = Input(shape=(28, 28, 1))
# Encoder
x = Conv2D(32, (3, 3), activation="relu", padding="same")(input)
x = MaxPooling2D((2, 2), padding="same")(x)
x = Conv2D(32, (3, 3), activation="relu", padding="same")(x)
x = MaxPooling2D((2, 2), padding="same")(x)
# Decoder
x = Conv2D(32, (3, 3), activation="relu", padding="same")(x)
x = UpSampling2D((2, 2))(x)
x = Conv2D(32, (3, 3), activation="relu", padding="same")(x)
x = UpSampling2D((2, 2))(x)
x = Conv2D(1, (3, 3), activation="sigmoid", padding="same")(x)

autoencoder = Model(input, x)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")

clean_history = autoencoder.fit(x=train_dataset, y=train_dataset, epochs=2, batch_size=128, shuffle=True,
                                validation_data=(test_dataset, test_dataset), verbose=2)
noisy_history = autoencoder.fit(x=noisy_train_dataset, y=train_dataset, epochs=2, batch_size=128,
                                shuffle=True, validation_data=(noisy_test_dataset, test_dataset), verbose=2)

denoising_loss = float(autoencoder.evaluate(noisy_test_dataset, test_dataset, verbose=0))
mean_image = np.broadcast_to(train_dataset.mean(axis=0, keepdims=True), test_dataset.shape)
chance_loss = float(keras.ops.mean(keras.losses.binary_crossentropy(
    keras.ops.convert_to_tensor(test_dataset), keras.ops.convert_to_tensor(np.ascontiguousarray(mean_image)))))
print(f"denoising loss {denoising_loss:.4f}, mean-image loss {chance_loss:.4f}")
_harness.report(metric=-denoising_loss, metric_name="minus test denoising BCE", chance=-chance_loss,
                losses=clean_history.history["loss"] + noisy_history.history["loss"])
