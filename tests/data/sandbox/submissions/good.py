# A correct submission: every task earns all its points.
import numpy as np
import tensorflow as tf
import keras


def square(x):
    return tf.square(x)


@tf.function(reduce_retracing=True)
def cube_sum(x):
    total = tf.zeros([], dtype=x.dtype)
    for i in tf.range(tf.shape(x)[0]):
        total += x[i] ** 3
    return total


def train_small(X, y, seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((X.shape[1],)),
                              keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.05),
                  loss="sparse_categorical_crossentropy")
    model.fit(X, y, epochs=5, batch_size=32, verbose=0)
    return model


def scale_data(path):
    a = np.load(path)
    return a / a.max()
