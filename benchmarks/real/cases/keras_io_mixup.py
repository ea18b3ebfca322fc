"""keras-io `examples/vision/mixup.py` (MixUp augmentation for image classification, Sayak Paul; Keras 3
version): Fashion-MNIST images and one-hot labels are mixed pairwise, ``lam * a + (1 - lam) * b``, with
``lam ~ Beta(0.2, 0.2)`` drawn per example (as the ratio of two Gamma(0.2) samples), the pairs coming from
two independently shuffled copies of the training set zipped batch by batch; a small CNN (Conv2D 16/5x5,
MaxPool, Conv2D 32/5x5, MaxPool, Dropout 0.2, GlobalAveragePooling2D, Dense 128 relu, Dense 10 softmax) is
trained on the mixed batches with categorical cross-entropy on the soft labels, Adam, batch 64, 10 epochs,
2,000 training images held out for validation.

Ported (re-written to the same model, loss, optimizer, batch size, epochs, validation hold-out and mixing
rule): the original's ``tf.data`` pipeline and ``tf.random.gamma`` become a ``keras.utils.PyDataset`` that
reshuffles two index permutations every epoch and mixes each pair of batches with numpy's Gamma sampler
(the backend here is torch); the Fashion-MNIST download is replaced by the local stand-in of the same
format (3,000 train / 1,000 test images, of which 500 rather than 2,000 are held out for validation); the second, un-mixed training run the example makes for
comparison, the saved/loaded initial weights (which only make the two runs start alike) and the plots are
left out.
"""

import _data
import _harness
import keras
import numpy as np
from keras import layers

_harness.seed_everything()

(x_train, y_train), (x_test, y_test) = _data.fashion_mnist_load_data(seed=_harness.seed(), n_train=3000)

x_train = np.reshape(x_train.astype("float32") / 255.0, (-1, 28, 28, 1))
y_train = keras.utils.to_categorical(y_train, 10)
x_test = np.reshape(x_test.astype("float32") / 255.0, (-1, 28, 28, 1))
y_test = keras.utils.to_categorical(y_test, 10)

BATCH_SIZE = 64
EPOCHS = 10

# Put aside a few samples to create the validation set.
val_samples = 500
x_val, y_val = x_train[:val_samples], y_train[:val_samples]
new_x_train, new_y_train = x_train[val_samples:], y_train[val_samples:]

rng = np.random.default_rng(_harness.seed())


def sample_beta_distribution(size, concentration_0=0.2, concentration_1=0.2):
    gamma_1_sample = rng.gamma(concentration_1, size=size).astype("float32")
    gamma_2_sample = rng.gamma(concentration_0, size=size).astype("float32")
    return gamma_1_sample / (gamma_1_sample + gamma_2_sample)


def mix_up(ds_one, ds_two, alpha=0.2):
    images_one, labels_one = ds_one
    images_two, labels_two = ds_two
    batch_size = images_one.shape[0]

    # One lambda per example, broadcast over the image and over the label.
    lam = sample_beta_distribution(batch_size, alpha, alpha)
    x_l = np.reshape(lam, (batch_size, 1, 1, 1))
    y_l = np.reshape(lam, (batch_size, 1))

    images = images_one * x_l + images_two * (1 - x_l)
    labels = labels_one * y_l + labels_two * (1 - y_l)
    return images, labels


class MixUpDataset(keras.utils.PyDataset):
    """Two independently shuffled batchings of the training set, zipped and mixed batch by batch."""

    def __init__(self, x, y, batch_size, alpha=0.2):
        super().__init__()
        self.x, self.y, self.batch_size, self.alpha = x, y, batch_size, alpha
        self.on_epoch_end()

    def __len__(self):
        return int(np.ceil(len(self.x) / self.batch_size))

    def on_epoch_end(self):
        self.order_one = rng.permutation(len(self.x))
        self.order_two = rng.permutation(len(self.x))

    def __getitem__(self, index):
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        one, two = self.order_one[part], self.order_two[part]
        return mix_up((self.x[one], self.y[one]), (self.x[two], self.y[two]), alpha=self.alpha)


train_ds_mu = MixUpDataset(new_x_train, new_y_train, BATCH_SIZE, alpha=0.2)


def get_training_model():
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(16, (5, 5), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(32, (5, 5), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Dropout(0.2),
            layers.GlobalAveragePooling2D(),
            layers.Dense(128, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )
    return model


# Train the model on the mixed-up dataset.
model = get_training_model()
model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
log = _harness.keras_loss_log()
model.fit(train_ds_mu, validation_data=(x_val, y_val), validation_batch_size=BATCH_SIZE, epochs=EPOCHS,
          callbacks=[log], verbose=2)
_, test_acc = model.evaluate(x_test, y_test, batch_size=BATCH_SIZE, verbose=0)
print("Test accuracy: {:.2f}%".format(test_acc * 100))

_harness.report(metric=test_acc, metric_name="accuracy", chance=0.1, losses=log.losses)
