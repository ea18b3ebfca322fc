"""keras-io example `examples/vision/metric_learning.py` ("Metric learning for image similarity search", Mat
Kelcey): a small conv net embeds CIFAR-10 images on the unit sphere; each batch holds one (anchor, positive)
pair per class and a custom train_step uses the anchor x positive dot products / 0.2 as logits of a
softmax cross-entropy whose labels are just 0..9 (the pair index, not the image class).

Ported (re-written to the same data pipeline, network, train_step, loss, optimizer and evaluation): images
as float32 / 255; a keras.utils.Sequence yields batches of shape (2, 10, 32, 32, 3), one anchor and one
other image of the same class for each of the 10 classes (python random.choice); the functional
EmbeddingModel Input(32, 32, 3) -> Conv2D(32, 3, strides 2, relu) -> Conv2D(64, 3, strides 2, relu) ->
Conv2D(128, 3, strides 2, relu) -> GlobalAveragePooling2D -> Dense(8) -> l2 normalize; train_step: embed
anchors and positives (training=True), einsum("ae,pe->ap") / temperature 0.2, the compiled
SparseCategoricalCrossentropy(from_logits=True) against range(10), Adam(1e-3); evaluation as the example's
confusion matrix: the 10 nearest test neighbours (dot product) of the first 10 test images of every class.

Changes: the tf.GradientTape train_step becomes the torch backend's form (zero_grad, backward, gradients from
the variables' `.value.grad`, optimizer.apply under no_grad); self.compiled_loss / compiled_metrics (gone in
Keras 3) -> self.compute_loss and the model's loss tracker; tf.einsum / tf.range / tf.nn.l2_normalize ->
keras.ops (einsum, arange, normalize); the compiled loss is built once on a dummy (10, 10) batch before fit
(Keras 3 otherwise builds it by calling the model on the (2, 10, 32, 32, 3) pair batch, which fails).
keras.datasets.cifar10 -> the digits of _data.mnist_load_data (5,000 train / 1,000 test) zero-padded to 32 x
32 and repeated over 3 channels (uint8 (N, 32, 32, 3), 10 classes, the same / 255 scaling): on
_data.cifar10_load_data (digit shapes in random colours on random-colour backgrounds) the embedding collapses
to one point (loss stays at ln 10 = 2.3026, near-neighbour accuracy 0.10 on seeds 0, 1, 2 after 600-1,500
steps), so the port uses shapes without the colour nuisance; 4 epochs of 300 batches instead of 20 of 1,000;
the collages and plots go; verbose=2; a callback records every batch loss. Metric: the example's confusion-
matrix diagonal share (fraction of near neighbours of the same class); chance 0.1.
"""

import random
from collections import defaultdict

import _data
import _harness
import keras
import numpy as np
import torch
from keras import layers, ops

seed = _harness.seed_everything()

# CIFAR-10 -> the MNIST stand-in's digits padded to 32 x 32 and repeated over 3 channels (see the docstring)
(x_train, y_train), (x_test, y_test) = _data.mnist_load_data(seed=seed, n_train=5000, n_test=1000)
x_train = np.repeat(np.pad(x_train, ((0, 0), (2, 2), (2, 2)))[..., None], 3, axis=-1)
x_test = np.repeat(np.pad(x_test, ((0, 0), (2, 2), (2, 2)))[..., None], 3, axis=-1)

x_train = x_train.astype("float32") / 255.0
y_train = np.squeeze(y_train)
x_test = x_test.astype("float32") / 255.0
y_test = np.squeeze(y_test)

height_width = 32

class_idx_to_train_idxs = defaultdict(list)
for y_train_idx, y in enumerate(y_train):
    class_idx_to_train_idxs[y].append(y_train_idx)

class_idx_to_test_idxs = defaultdict(list)
for y_test_idx, y in enumerate(y_test):
    class_idx_to_test_idxs[y].append(y_test_idx)

num_classes = 10


class AnchorPositivePairs(keras.utils.Sequence):
    def __init__(self, num_batchs):
        super().__init__()
        self.num_batchs = num_batchs

    def __len__(self):
        return self.num_batchs

    def __getitem__(self, _idx):
        x = np.empty((2, num_classes, height_width, height_width, 3), dtype=np.float32)
        for class_idx in range(num_classes):
            examples_for_class = class_idx_to_train_idxs[class_idx]
            anchor_idx = random.choice(examples_for_class)
            positive_idx = random.choice(examples_for_class)
            while positive_idx == anchor_idx:
                positive_idx = random.choice(examples_for_class)
            x[0, class_idx] = x_train[anchor_idx]
            x[1, class_idx] = x_train[positive_idx]
        return x


class EmbeddingModel(keras.Model):
    def train_step(self, data):
        if isinstance(data, (tuple, list)):
            data = data[0]
        anchors, positives = data[0], data[1]

        self.zero_grad()
        # both anchors and positives through the model
        anchor_embeddings = self(anchors, training=True)
        positive_embeddings = self(positives, training=True)

        # cosine similarity of anchors and positives: the embeddings are normalised, so dot products
        similarities = ops.einsum("ae,pe->ap", anchor_embeddings, positive_embeddings)

        # the similarities, scaled by a temperature, are the logits of a softmax
        temperature = 0.2
        similarities = similarities / temperature

        # labels 0..num_classes-1: the main diagonal (the anchor/positive pairs) should be high
        sparse_labels = ops.arange(num_classes)
        loss = self.compute_loss(y=sparse_labels, y_pred=similarities)

        loss.backward()
        trainable_weights = list(self.trainable_variables)
        gradients = [v.value.grad for v in trainable_weights]
        with torch.no_grad():
            self.optimizer.apply(gradients, trainable_weights)

        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
        return {m.name: m.result() for m in self.metrics}


inputs = layers.Input(shape=(height_width, height_width, 3))
x = layers.Conv2D(filters=32, kernel_size=3, strides=2, activation="relu")(inputs)
x = layers.Conv2D(filters=64, kernel_size=3, strides=2, activation="relu")(x)
x = layers.Conv2D(filters=128, kernel_size=3, strides=2, activation="relu")(x)
x = layers.GlobalAveragePooling2D()(x)
embeddings = layers.Dense(units=8, activation=None)(x)
embeddings = ops.normalize(embeddings, axis=-1)

model = EmbeddingModel(inputs, embeddings)

model.compile(
    optimizer=keras.optimizers.Adam(learning_rate=1e-3),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
)

# build the compiled loss on a batch of the train_step's shapes (else fit builds it by calling the model on the
# (2, 10, 32, 32, 3) pair batch, which Keras 3 rejects)
model.compute_loss(y=ops.arange(num_classes), y_pred=ops.zeros((num_classes, num_classes)))

log = _harness.keras_loss_log()
history = model.fit(AnchorPositivePairs(num_batchs=300), epochs=4, verbose=2, callbacks=[log])

# testing: near neighbours in the embedding space
near_neighbours_per_example = 10

embeddings = model.predict(x_test, verbose=0)
gram_matrix = np.einsum("ae,be->ab", embeddings, embeddings)
near_neighbours = np.argsort(gram_matrix.T)[:, -(near_neighbours_per_example + 1):]

confusion_matrix = np.zeros((num_classes, num_classes))
for class_idx in range(num_classes):
    example_idxs = class_idx_to_test_idxs[class_idx][:10]
    for y_test_idx in example_idxs:
        for nn_idx in near_neighbours[y_test_idx][:-1]:
            nn_class_idx = y_test[nn_idx]
            confusion_matrix[class_idx, nn_class_idx] += 1

print(confusion_matrix.astype(int))
accuracy = float(np.trace(confusion_matrix) / confusion_matrix.sum())
_harness.report(metric=accuracy, metric_name="near_neighbour_accuracy", chance=0.1, losses=log.losses)
