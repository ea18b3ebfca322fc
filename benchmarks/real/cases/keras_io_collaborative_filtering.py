"""keras-io `examples/structured_data/collaborative_filtering_movielens.py` (Collaborative Filtering for Movie
Recommendations, Siddhartha Banerjee): a `RecommenderNet(keras.Model)` subclass scores a (user, movie) pair by
the dot product of 50-d user and movie embeddings (he_normal, l2 1e-6) plus a user bias and a movie bias
embedding, squashed by a sigmoid, and is trained with BinaryCrossentropy against ratings min-max scaled to
[0, 1] (soft targets, not labels), Adam 0.001, batch 128, 5 epochs, on a 90 / 10 split of the shuffled ratings.

Ported (re-written to the same model, loss, optimizer and `fit` call). The MovieLens download (ratings.csv of
ml-latest-small) becomes ratings generated here with the same format (see the TOML).
"""

import _harness
import keras
import numpy as np
from keras import layers, ops

_harness.seed_everything()


def movielens_like_ratings(seed, num_users=300, num_movies=500, n=50000):
    """(userId, movieId, rating) rows like ratings.csv: non-sequential ids, ratings 0.5..5 in steps of 0.5
    from a user bias, a movie bias and a rank-3 taste match, plus noise; popular movies are rated more."""
    rng = np.random.default_rng(seed + 15000)
    user_bias = rng.normal(0.0, 0.5, num_users)
    movie_bias = rng.normal(0.0, 0.6, num_movies)
    user_taste = rng.normal(0.0, 0.6, (num_users, 3))
    movie_taste = rng.normal(0.0, 0.6, (num_movies, 3))
    popularity = rng.zipf(1.6, num_movies).astype(float)
    pairs = set()
    while len(pairs) < n:
        users = rng.integers(0, num_users, n)
        movies = rng.choice(num_movies, n, p=popularity / popularity.sum())
        pairs.update(zip(users.tolist(), movies.tolist(), strict=True))
    pairs = sorted(pairs)[:n]
    rng.shuffle(pairs)
    u = np.array([p[0] for p in pairs])
    m = np.array([p[1] for p in pairs])
    score = 3.5 + user_bias[u] + movie_bias[m] + (user_taste[u] * movie_taste[m]).sum(1) + rng.normal(0, 0.3, n)
    rating = np.clip(np.round(score * 2) / 2, 0.5, 5.0)
    user_ids = rng.permutation(10 * num_users)[:num_users] + 1
    movie_ids = rng.permutation(50 * num_movies)[:num_movies] + 1
    return {"userId": user_ids[u], "movieId": movie_ids[m], "rating": rating}


df = movielens_like_ratings(_harness.seed())

# encode the non-sequential ids as indices
user_ids = list(dict.fromkeys(df["userId"].tolist()))
user2user_encoded = {x: i for i, x in enumerate(user_ids)}
movie_ids = list(dict.fromkeys(df["movieId"].tolist()))
movie2movie_encoded = {x: i for i, x in enumerate(movie_ids)}
user = np.array([user2user_encoded[x] for x in df["userId"]])
movie = np.array([movie2movie_encoded[x] for x in df["movieId"]])

num_users = len(user2user_encoded)
num_movies = len(movie2movie_encoded)
rating = df["rating"].astype(np.float32)
min_rating = min(rating)
max_rating = max(rating)
print(f"Number of users: {num_users}, Number of Movies: {num_movies}, Min rating: {min_rating}, "
      f"Max rating: {max_rating}")

# shuffle, scale the targets to [0, 1], keep 90% for training
order = np.random.default_rng(42).permutation(len(rating))
x = np.stack([user, movie], axis=1)[order]
y = ((rating - min_rating) / (max_rating - min_rating))[order]
train_indices = int(0.9 * len(y))
x_train, x_test, y_train, y_test = x[:train_indices], x[train_indices:], y[:train_indices], y[train_indices:]

EMBEDDING_SIZE = 50


class RecommenderNet(keras.Model):
    def __init__(self, num_users, num_movies, embedding_size, min_rating, max_rating, **kwargs):
        super().__init__(**kwargs)
        self.num_users = num_users
        self.num_movies = num_movies
        self.embedding_size = embedding_size
        self.min_rating = min_rating
        self.max_rating = max_rating
        self.user_embedding = layers.Embedding(
            num_users,
            embedding_size,
            embeddings_initializer="he_normal",
            embeddings_regularizer=keras.regularizers.l2(1e-6),
        )
        self.user_bias = layers.Embedding(num_users, 1)
        self.movie_embedding = layers.Embedding(
            num_movies,
            embedding_size,
            embeddings_initializer="he_normal",
            embeddings_regularizer=keras.regularizers.l2(1e-6),
        )
        self.movie_bias = layers.Embedding(num_movies, 1)

    def call(self, inputs):
        user_vector = self.user_embedding(inputs[:, 0])
        user_bias = self.user_bias(inputs[:, 0])
        movie_vector = self.movie_embedding(inputs[:, 1])
        movie_bias = self.movie_bias(inputs[:, 1])
        dot_user_movie = layers.Dot(axes=1)([user_vector, movie_vector])
        # all the components, biases included
        x = dot_user_movie + user_bias + movie_bias
        # the sigmoid keeps the score between 0 and 1
        x = ops.sigmoid(x)
        return x


inputs = layers.Input(shape=(2,), dtype="int32")
model = RecommenderNet(num_users, num_movies, EMBEDDING_SIZE, min_rating, max_rating)
outputs = model(inputs)
opt = keras.optimizers.Adam(learning_rate=0.001)
model.compile(loss=keras.losses.BinaryCrossentropy(), optimizer=opt)

log = _harness.keras_loss_log()
history = model.fit(
    x=x_train,
    y=y_train,
    batch_size=128,
    epochs=5,
    verbose=2,
    validation_data=(x_test, y_test),
    callbacks=[log],
)

# held-out measure (not in the example, which plots the losses and lists recommendations): R^2 of the
# predicted ratings on the 10% held out; chance 0 (always predicting the mean rating)
pred = model.predict(x_test, verbose=0).flatten() * (max_rating - min_rating) + min_rating
true = y_test * (max_rating - min_rating) + min_rating
r2 = 1.0 - float(np.sum((true - pred) ** 2) / np.sum((true - true.mean()) ** 2))
print(f"held-out R^2 {r2:.3f}")

# the top 10 recommendations for one user, as in the example
user_encoder = int(x_train[0, 0])
watched = set(x[x[:, 0] == user_encoder, 1].tolist())
not_watched = np.array([m for m in range(num_movies) if m not in watched])
user_movie_array = np.stack([np.full(len(not_watched), user_encoder), not_watched], axis=1)
ratings = model.predict(user_movie_array, verbose=0).flatten()
print("top 10 movies for user", user_ids[user_encoder], ":", [movie_ids[m] for m in not_watched[ratings.argsort()[-10:][::-1]]])

_harness.report(metric=r2, metric_name="R2", chance=0.0, losses=log.losses)
