"""Bug sample: tf_cube_sum is a plain Python function, not a TF Function."""

import numpy as np
import tensorflow as tf
import keras


# --------------------------------------------------------------------------- C1
def huber_fn(y_true, y_pred):
    error = y_true - y_pred
    is_small_error = tf.abs(error) < 1.0
    squared_loss = tf.square(error) / 2
    linear_loss = tf.abs(error) - 0.5
    return tf.where(is_small_error, squared_loss, linear_loss)


# --------------------------------------------------------------------------- C2
class HuberLoss(keras.losses.Loss):
    def __init__(self, threshold=1.0, **kwargs):
        self.threshold = threshold
        super().__init__(**kwargs)

    def call(self, y_true, y_pred):
        error = y_true - y_pred
        is_small_error = tf.abs(error) < self.threshold
        squared_loss = tf.square(error) / 2
        linear_loss = self.threshold * tf.abs(error) - self.threshold ** 2 / 2
        return tf.where(is_small_error, squared_loss, linear_loss)

    def get_config(self):
        base_config = super().get_config()
        return {**base_config, "threshold": self.threshold}


# --------------------------------------------------------------------------- C3
def _huber(y_true, y_pred, threshold):
    error = y_true - y_pred
    is_small_error = tf.abs(error) < threshold
    squared_loss = tf.square(error) / 2
    linear_loss = threshold * tf.abs(error) - threshold ** 2 / 2
    return tf.where(is_small_error, squared_loss, linear_loss)


class HuberMetric(keras.metrics.Metric):
    def __init__(self, threshold=1.0, **kwargs):
        super().__init__(**kwargs)
        self.threshold = threshold
        self.total = self.add_weight(name="total", initializer="zeros")
        self.count = self.add_weight(name="count", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = tf.cast(y_true, tf.float32)
        y_pred = tf.cast(y_pred, tf.float32)
        values = _huber(y_true, y_pred, self.threshold)
        self.total.assign_add(tf.reduce_sum(values))
        self.count.assign_add(tf.cast(tf.size(values), tf.float32))

    def result(self):
        return tf.math.divide_no_nan(self.total, self.count)

    def get_config(self):
        base_config = super().get_config()
        return {**base_config, "threshold": self.threshold}


# --------------------------------------------------------------------------- C4
class LayerNormalization(keras.layers.Layer):
    def __init__(self, eps=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.eps = eps

    def build(self, batch_input_shape):
        self.alpha = self.add_weight(
            name="alpha", shape=batch_input_shape[-1:], initializer="ones")
        self.beta = self.add_weight(
            name="beta", shape=batch_input_shape[-1:], initializer="zeros")

    def call(self, X):
        mean, variance = tf.nn.moments(X, axes=-1, keepdims=True)
        return self.alpha * (X - mean) / (tf.sqrt(variance) + self.eps) + self.beta

    def get_config(self):
        base_config = super().get_config()
        return {**base_config, "eps": self.eps}


# --------------------------------------------------------------------------- C5
def train_custom_loop(model, X_train, y_train, X_valid, y_valid, epochs, batch_size, seed):
    tf.random.set_seed(seed)
    rng = np.random.default_rng(seed)
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    X_train = np.asarray(X_train, dtype=np.float32)
    y_train = np.asarray(y_train)

    @tf.function
    def train_step(X_batch, y_batch):
        with tf.GradientTape() as tape:
            y_pred = model(X_batch, training=True)
            loss = loss_fn(y_batch, y_pred)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    history = {"loss": [], "val_accuracy": []}
    n = len(X_train)
    for epoch in range(epochs):
        order = rng.permutation(n)
        total, steps = 0.0, 0
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            total += float(train_step(X_train[idx], y_train[idx]))
            steps += 1
        y_proba = model(np.asarray(X_valid, dtype=np.float32), training=False)
        val_accuracy = float(np.mean(np.argmax(y_proba, axis=1) == np.asarray(y_valid)))
        history["loss"].append(total / steps)
        history["val_accuracy"].append(val_accuracy)
    return history


# --------------------------------------------------------------------------- C6
def tf_cube_sum(x):
    return tf.reduce_sum(x ** 3)
