# %% [markdown]
# DL Assignment 4 -- Part B (code), Bob.
# Written answers handed in separately; this file is the code part only.

# %%
import numpy as np
import tensorflow as tf
from tensorflow import keras


# %% C1 -- Huber loss as a function
def huber_fn(y_true, y_pred):
    """Element-wise Huber loss, threshold 1."""
    err = tf.abs(tf.cast(y_true, tf.float32) - tf.cast(y_pred, tf.float32))
    quadratic = tf.minimum(err, 1.0)
    linear = err - quadratic
    return 0.5 * tf.square(quadratic) + linear


# %% C2 -- Huber loss as a Loss subclass (averaged over the last axis, like Keras's own)
class HuberLoss(keras.losses.Loss):
    def __init__(self, threshold=1.0, name="huber_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.threshold = float(threshold)

    def call(self, y_true, y_pred):
        err = tf.abs(tf.cast(y_true, tf.float32) - tf.cast(y_pred, tf.float32))
        quadratic = tf.minimum(err, self.threshold)
        linear = err - quadratic
        per_element = 0.5 * tf.square(quadratic) + self.threshold * linear
        return tf.reduce_mean(per_element, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(threshold=self.threshold)
        return config


# %% C3 -- streaming Huber metric
class HuberMetric(keras.metrics.Metric):
    def __init__(self, threshold=1.0, name="huber_metric", **kwargs):
        super().__init__(name=name, **kwargs)
        self.threshold = threshold
        self.loss_sum = self.add_weight(name="loss_sum", shape=(), initializer="zeros")
        self.n_seen = self.add_weight(name="n_seen", shape=(), initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        err = tf.abs(tf.cast(y_true, tf.float32) - tf.cast(y_pred, tf.float32))
        quadratic = tf.minimum(err, self.threshold)
        values = 0.5 * tf.square(quadratic) + self.threshold * (err - quadratic)
        self.loss_sum.assign_add(tf.reduce_sum(values))
        self.n_seen.assign_add(tf.cast(tf.size(values), tf.float32))

    def result(self):
        safe = tf.maximum(self.n_seen, 1.0)
        return tf.where(self.n_seen > 0, self.loss_sum / safe, 0.0)

    def reset_state(self):
        self.loss_sum.assign(0.0)
        self.n_seen.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


# %% C4 -- layer normalization (Keras-style: sqrt(var + eps))
class LayerNormalization(keras.layers.Layer):
    def __init__(self, eps=0.001, **kwargs):
        super().__init__(**kwargs)
        self.eps = eps

    def build(self, input_shape):
        dim = input_shape[-1:]
        self.alpha = self.add_weight(shape=dim, initializer="ones", name="alpha")
        self.beta = self.add_weight(shape=dim, initializer="zeros", name="beta")
        super().build(input_shape)

    def call(self, inputs):
        mean = tf.reduce_mean(inputs, axis=-1, keepdims=True)
        var = tf.reduce_mean(tf.square(inputs - mean), axis=-1, keepdims=True)
        return self.alpha * (inputs - mean) * tf.math.rsqrt(var + self.eps) + self.beta


# %% C5 -- custom training loop with tf.data
def _evaluate(model, X, y):
    acc = keras.metrics.SparseCategoricalAccuracy()
    for xb, yb in tf.data.Dataset.from_tensor_slices((X, y)).batch(256):
        acc.update_state(yb, model(xb, training=False))
    return float(acc.result())


def train_custom_loop(model, X_train, y_train, X_valid, y_valid, epochs, batch_size, seed):
    tf.random.set_seed(seed)
    optimizer = keras.optimizers.Nadam(learning_rate=0.005)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    mean_loss = keras.metrics.Mean()
    data = (tf.data.Dataset.from_tensor_slices((X_train, y_train))
            .shuffle(len(X_train), seed=seed, reshuffle_each_iteration=True)
            .batch(batch_size))

    @tf.function
    def step(xb, yb):
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True))
        grads = tape.gradient(loss, model.trainable_weights)
        optimizer.apply_gradients(zip(grads, model.trainable_weights))
        return loss

    history = {"loss": [], "val_accuracy": [], "epoch_seconds": []}
    for epoch in range(epochs):
        mean_loss.reset_state()
        for xb, yb in data:
            mean_loss.update_state(step(xb, yb))
        history["loss"].append(float(mean_loss.result()))
        history["val_accuracy"].append(_evaluate(model, X_valid, y_valid))
        print(f"epoch {epoch + 1}: loss {history['loss'][-1]:.4f} "
              f"val_acc {history['val_accuracy'][-1]:.4f}")
    return history


# %% C6 -- sum of cubes as a TF Function (a graph loop over tf.range)
@tf.function(reduce_retracing=True)
def tf_cube_sum(x):
    total = tf.zeros([], dtype=x.dtype)
    for i in tf.range(tf.size(x)):
        total += x[i] ** 3
    return total


# %% quick self-check
if __name__ == "__main__":
    print(huber_fn(tf.constant([0.0, 3.0]), tf.constant([0.5, 0.0])).numpy())
    print(tf_cube_sum(tf.constant([1, 2, 3])).numpy())
