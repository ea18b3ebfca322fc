"""keras-io `guides/functional_api.py` (The Functional API, fchollet), section "Models with multiple inputs and
outputs": a ticket model with three inputs (title and body word ids, 12 binary tags), one Embedding(10000, 64)
and one LSTM per text (128 and 32 units), concatenation with the tags, and two heads: a one-unit "priority"
logit (its sigmoid is in ``BinaryCrossentropy(from_logits=True)``) and a 4-way "department" logit layer
(``CategoricalCrossentropy(from_logits=True)``), loss weights 1.0 / 0.2, RMSprop(1e-3), batch 32, 2 epochs.

Ported (re-written to the same model, losses, loss weights, optimizer and ``model.fit`` call with dict
inputs and targets): the guide trains on pure random dummy arrays (nothing to learn); here the same shapes
are drawn so that they can be learned: the title (10 word ids) carries priority cue words, the body (100 word
ids) carries department cue words, the tags are noisy hints of the department, priority targets are 0/1 and
department targets one-hot. 1,280 training tickets as in the guide, plus 400 held-out tickets; 3 epochs
instead of 2. The outcome is the mean of the two heads' held-out accuracies.
"""

import _harness
import keras
import numpy as np
from keras import layers

_harness.seed_everything()

num_tags = 12  # unique issue tags
num_words = 10000  # vocabulary size
num_departments = 4


def make_tickets(n, rng):
    """Title / body word ids (Zipf background words), tags and targets with learnable links between them."""
    ranks = np.arange(1, num_words)
    zipf = 1.0 / ranks
    zipf /= zipf.sum()
    priority = rng.integers(0, 2, size=n)
    department = rng.integers(0, num_departments, size=n)
    title = rng.choice(ranks, size=(n, 10), p=zipf)
    body = rng.choice(ranks, size=(n, 100), p=zipf)
    priority_cues = np.array([[101, 102, 103, 104], [201, 202, 203, 204]])
    department_cues = 300 + 10 * np.arange(num_departments)[:, None] + np.arange(8)[None, :]
    for i in range(n):
        slots = rng.choice(10, size=3, replace=False)
        title[i, slots] = rng.choice(priority_cues[priority[i]], size=3)
        mask = rng.random(100) < 0.15
        body[i, mask] = rng.choice(department_cues[department[i]], size=int(mask.sum()))
    tags = (rng.random((n, num_tags)) < 0.2).astype("float32")
    tags[np.arange(n), department] = (rng.random(n) < 0.6).astype("float32")
    return title, body, tags, priority.reshape(-1, 1).astype("float32"), department


rng = np.random.default_rng(_harness.seed())
title_data, body_data, tags_data, priority_targets, dept_labels = make_tickets(1280, rng)
dept_targets = keras.utils.to_categorical(dept_labels, num_departments)
test_title, test_body, test_tags, test_priority, test_dept = make_tickets(400, rng)

title_input = keras.Input(shape=(None,), name="title")  # variable-length sequence of ints
body_input = keras.Input(shape=(None,), name="body")  # variable-length sequence of ints
tags_input = keras.Input(shape=(num_tags,), name="tags")  # binary vectors of size num_tags

title_features = layers.Embedding(num_words, 64)(title_input)
body_features = layers.Embedding(num_words, 64)(body_input)
title_features = layers.LSTM(128)(title_features)
body_features = layers.LSTM(32)(body_features)
x = layers.concatenate([title_features, body_features, tags_input])
priority_pred = layers.Dense(1, name="priority")(x)
department_pred = layers.Dense(num_departments, name="department")(x)
model = keras.Model(inputs=[title_input, body_input, tags_input], outputs=[priority_pred, department_pred])

model.compile(
    optimizer=keras.optimizers.RMSprop(1e-3),
    loss={
        "priority": keras.losses.BinaryCrossentropy(from_logits=True),
        "department": keras.losses.CategoricalCrossentropy(from_logits=True),
    },
    loss_weights={"priority": 1.0, "department": 0.2},
)
history = model.fit(
    {"title": title_data, "body": body_data, "tags": tags_data},
    {"priority": priority_targets, "department": dept_targets},
    epochs=3,
    batch_size=32,
    verbose=2,
)

priority_logits, department_logits = model.predict(
    {"title": test_title, "body": test_body, "tags": test_tags}, verbose=0)
priority_accuracy = float(np.mean((priority_logits[:, 0] > 0) == (test_priority[:, 0] > 0.5)))
department_accuracy = float(np.mean(department_logits.argmax(axis=1) == test_dept))
print("priority accuracy", priority_accuracy, "department accuracy", department_accuracy)
_harness.report(metric=(priority_accuracy + department_accuracy) / 2, metric_name="mean head accuracy",
                chance=(0.5 + 1 / num_departments) / 2, losses=history.history["loss"],
                priority_accuracy=priority_accuracy, department_accuracy=department_accuracy)
