"""keras-io example `examples/vision/siamese_contrastive.py` ("Image similarity estimation using a Siamese
Network with a contrastive loss", Mehdi): a siamese network on pairs of MNIST digits trained with a
contrastive loss on its sigmoid output.

Ported (re-written to the same model, loss, optimizer, batch size and `fit` call): pairs are made as the
example makes them (every image once with a random image of its own class, label 1, and once with a random
image of another class, label 0); the images stay float32 in 0..255 (the example does not rescale them, the
first BatchNormalization does). The shared embedding network is BatchNormalization / Conv2D(4, 5, tanh) /
AveragePooling2D(2) / Conv2D(16, 5, tanh) / AveragePooling2D(2) / Flatten / BatchNormalization /
Dense(10, tanh); the two towers' outputs are merged by a Lambda computing the Euclidean distance
(sqrt(max(sum of squares, epsilon))), then BatchNormalization and Dense(1, sigmoid). The loss is the
example's contrastive loss with margin 1, mean((1 - y) * p^2 + y * max(margin - p, 0)^2) on the sigmoid
output p; compile(optimizer="RMSprop", metrics=["accuracy"]); fit with batch_size 16 and the validation
pairs; evaluate on the test pairs.

Changes: the MNIST download becomes the local stand-in: 2,400 train images split in half into train and
validation (the example keeps 30,000 / 30,000) and 600 test images, so 2,400 / 2,400 / 1,200 pairs; 4 epochs
instead of 10; the plots go; verbose=2. The reported metric is the example's own test accuracy (evaluate on
the test pairs); chance is 0.5 (half the pairs match).
"""

import random

import _data
import _harness
import keras
import numpy as np
from keras import layers, ops

_harness.seed_everything()

epochs = 4
batch_size = 16
margin = 1  # margin of the contrastive loss

(x_train_val, y_train_val), (x_test, y_test) = _data.mnist_load_data(seed=_harness.seed(), n_train=2400,
                                                                     n_test=600)
x_train_val = x_train_val.astype("float32")
x_test = x_test.astype("float32")

# half of train_val for validation
half_n = len(x_train_val) // 2
x_train, x_val = x_train_val[:half_n], x_train_val[half_n:]
y_train, y_val = y_train_val[:half_n], y_train_val[half_n:]


def make_pairs(x, y):
    """For every image, one pair with an image of the same class (label 1) and one with an image of a
    different class (label 0)."""
    num_classes = max(y) + 1
    digit_indices = [np.where(y == i)[0] for i in range(num_classes)]
    pairs, labels = [], []
    for idx1 in range(len(x)):
        x1, label1 = x[idx1], y[idx1]
        idx2 = random.choice(digit_indices[label1])
        pairs += [[x1, x[idx2]]]
        labels += [1]
        label2 = random.randint(0, num_classes - 1)
        while label2 == label1:
            label2 = random.randint(0, num_classes - 1)
        idx2 = random.choice(digit_indices[label2])
        pairs += [[x1, x[idx2]]]
        labels += [0]
    return np.array(pairs), np.array(labels).astype("float32")


pairs_train, labels_train = make_pairs(x_train, y_train)
pairs_val, labels_val = make_pairs(x_val, y_val)
pairs_test, labels_test = make_pairs(x_test, y_test)

x_train_1, x_train_2 = pairs_train[:, 0], pairs_train[:, 1]
x_val_1, x_val_2 = pairs_val[:, 0], pairs_val[:, 1]
x_test_1, x_test_2 = pairs_test[:, 0], pairs_test[:, 1]


def euclidean_distance(vects):
    """sqrt(sum((x - y)^2)) per row, kept away from 0 by epsilon."""
    x, y = vects
    sum_square = ops.sum(ops.square(x - y), axis=1, keepdims=True)
    return ops.sqrt(ops.maximum(sum_square, keras.backend.epsilon()))


inputs = layers.Input((28, 28, 1))
x = layers.BatchNormalization()(inputs)
x = layers.Conv2D(4, (5, 5), activation="tanh")(x)
x = layers.AveragePooling2D(pool_size=(2, 2))(x)
x = layers.Conv2D(16, (5, 5), activation="tanh")(x)
x = layers.AveragePooling2D(pool_size=(2, 2))(x)
x = layers.Flatten()(x)
x = layers.BatchNormalization()(x)
x = layers.Dense(10, activation="tanh")(x)
embedding_network = keras.Model(inputs, x)

input_1 = layers.Input((28, 28, 1))
input_2 = layers.Input((28, 28, 1))
# the two towers share the embedding network
tower_1 = embedding_network(input_1)
tower_2 = embedding_network(input_2)

merge_layer = layers.Lambda(euclidean_distance, output_shape=(1,))([tower_1, tower_2])
normal_layer = layers.BatchNormalization()(merge_layer)
output_layer = layers.Dense(1, activation="sigmoid")(normal_layer)
siamese = keras.Model(inputs=[input_1, input_2], outputs=output_layer)


def loss(margin=1):
    """The contrastive loss with ``margin`` in its closure."""

    def contrastive_loss(y_true, y_pred):
        square_pred = ops.square(y_pred)
        margin_square = ops.square(ops.maximum(margin - (y_pred), 0))
        return ops.mean((1 - y_true) * square_pred + (y_true) * margin_square)

    return contrastive_loss


siamese.compile(loss=loss(margin=margin), optimizer="RMSprop", metrics=["accuracy"])
siamese.summary()

log = _harness.keras_loss_log()
history = siamese.fit(
    [x_train_1, x_train_2],
    labels_train,
    validation_data=([x_val_1, x_val_2], labels_val),
    batch_size=batch_size,
    epochs=epochs,
    verbose=2,
    callbacks=[log],
)

results = siamese.evaluate([x_test_1, x_test_2], labels_test, verbose=0)
print("test loss, test acc:", results)
_harness.report(metric=float(results[1]), metric_name="test pair accuracy", chance=0.5, losses=log.losses)
