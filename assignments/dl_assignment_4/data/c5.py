"""The data set and the model of task C5 (part of the assignment; students may use it).

``load_data()`` returns ``(X_train, y_train, X_valid, y_valid)``: 10 classes, 64
float32 features, 2,000 training and 500 validation examples, int64 labels. It is
generated from a fixed seed with NumPy only, so every run (the grader's, the
reference's, a student's) gets the same arrays. Each class is a mixture of two
Gaussian blobs in a 16-dimensional subspace, mixed into 64 standardized features
with a little noise: a small MLP reaches about 0.94 validation accuracy in five
epochs on a CPU.

``make_model(seed=42)`` builds the uncompiled MLP that the C5 tests hand to
``train_custom_loop``: 64 -> Dense(64, relu) -> Dense(10, softmax), initialized from
``seed``.

``forward(weights, X)`` is the same MLP in NumPy (the grader measures accuracy and
loss with it, from the weights ``model.get_weights()`` returns).
"""

from __future__ import annotations

from typing import Any

import numpy as np

SEED = 20240604
N_CLASSES = 10
N_FEATURES = 64
N_TRAIN = 2000
N_VALID = 500
HIDDEN = 64
# Shapes of model.get_weights() for make_model().
WEIGHT_SHAPES = ((N_FEATURES, HIDDEN), (HIDDEN,), (HIDDEN, N_CLASSES), (N_CLASSES,))

_SUBSPACE = 16
_BLOBS = 2
_SEPARATION = 1.35
_NOISE = 0.3


def load_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, y_train, X_valid, y_valid), the same arrays on every call."""
    rng = np.random.default_rng(SEED)
    n = N_TRAIN + N_VALID
    centers = rng.normal(size=(N_CLASSES, _BLOBS, _SUBSPACE)) * _SEPARATION
    y = rng.integers(0, N_CLASSES, size=n)
    blob = rng.integers(0, _BLOBS, size=n)
    z = centers[y, blob] + rng.normal(size=(n, _SUBSPACE))
    mix = rng.normal(size=(_SUBSPACE, N_FEATURES)) / np.sqrt(_SUBSPACE)
    X = z @ mix + rng.normal(size=(n, N_FEATURES)) * _NOISE
    X = (X - X[:N_TRAIN].mean(axis=0)) / X[:N_TRAIN].std(axis=0)
    X = X.astype(np.float32)
    y = y.astype(np.int64)
    return X[:N_TRAIN], y[:N_TRAIN], X[N_TRAIN:], y[N_TRAIN:]


def make_model(seed: int = 42) -> Any:
    """The uncompiled MLP of C5 (softmax output), its weights initialized from ``seed``."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input(shape=(N_FEATURES,)),
        keras.layers.Dense(HIDDEN, activation="relu"),
        keras.layers.Dense(N_CLASSES, activation="softmax"),
    ])


def forward(weights: list[np.ndarray] | tuple[np.ndarray, ...], X: np.ndarray) -> np.ndarray:
    """Class probabilities of the MLP with these weights (NumPy, float64)."""
    w1, b1, w2, b2 = (np.asarray(w, dtype=np.float64) for w in weights)
    h = np.maximum(np.asarray(X, dtype=np.float64) @ w1 + b1, 0.0)
    logits = h @ w2 + b2
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def accuracy(weights: Any, X: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(forward(weights, X), axis=1) == y))


def cross_entropy(weights: Any, X: np.ndarray, y: np.ndarray) -> float:
    p = forward(weights, X)[np.arange(len(y)), y]
    return float(np.mean(-np.log(np.clip(p, 1e-7, 1.0))))
