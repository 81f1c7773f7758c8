#!/usr/bin/env python3
"""The same AlexNet presets and steps as `alexnet bench`, in TensorFlow/Keras (NHWC), printing
the same JSON keys.

    python bench/peers/keras_bench.py --model paper-1gpu --mode train --batch 128 --threads 2 --json

Models mirror Sources/AlexNetNetwork/Zoo.swift layer for layer. LRN is tf.nn.local_response_
normalization, whose alpha multiplies the sum as in the paper. The training step is a compiled
tf.function (forward, loss, gradients, SGD with momentum). Not part of the tests.
"""
import os

from peer_common import batch_size, measure_and_report, parser


def build(name, keras, tf):
    layers = keras.layers
    pool = lambda: layers.MaxPooling2D(3, 2)
    lrn = lambda: layers.Lambda(lambda t: tf.nn.local_response_normalization(t, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75))
    relu = "relu"
    if name in ("paper", "paper-1gpu"):
        g = 2 if name == "paper" else 1
        shape, classes = (227, 227, 3), 1000
        body = [layers.Conv2D(96, 11, strides=4, activation=relu), lrn(), pool(),
                layers.Conv2D(256, 5, padding="same", groups=g, activation=relu), lrn(), pool(),
                layers.Conv2D(384, 3, padding="same", activation=relu),
                layers.Conv2D(384, 3, padding="same", groups=g, activation=relu),
                layers.Conv2D(256, 3, padding="same", groups=g, activation=relu), pool(),
                layers.Flatten(), layers.Dense(4096, activation=relu), layers.Dropout(0.5),
                layers.Dense(4096, activation=relu), layers.Dropout(0.5), layers.Dense(classes)]
    elif name == "torchvision":
        shape, classes = (224, 224, 3), 1000
        body = [layers.ZeroPadding2D(2), layers.Conv2D(64, 11, strides=4, activation=relu), pool(),
                layers.Conv2D(192, 5, padding="same", activation=relu), pool(),
                layers.Conv2D(384, 3, padding="same", activation=relu),
                layers.Conv2D(256, 3, padding="same", activation=relu),
                layers.Conv2D(256, 3, padding="same", activation=relu), pool(),
                layers.Flatten(), layers.Dropout(0.5), layers.Dense(4096, activation=relu),
                layers.Dropout(0.5), layers.Dense(4096, activation=relu), layers.Dense(classes)]
    elif name == "d2l-fashion":
        shape, classes = (224, 224, 1), 10
        body = [layers.ZeroPadding2D(1), layers.Conv2D(96, 11, strides=4, activation=relu), pool(),
                layers.Conv2D(256, 5, padding="same", activation=relu), pool(),
                layers.Conv2D(384, 3, padding="same", activation=relu),
                layers.Conv2D(384, 3, padding="same", activation=relu),
                layers.Conv2D(256, 3, padding="same", activation=relu), pool(),
                layers.Flatten(), layers.Dense(4096, activation=relu), layers.Dropout(0.5),
                layers.Dense(4096, activation=relu), layers.Dropout(0.5), layers.Dense(classes)]
    else:  # cifar10
        shape, classes = (32, 32, 3), 10
        bn = lambda: layers.BatchNormalization(momentum=0.99, epsilon=1e-3)
        body = [layers.Conv2D(96, 3), bn(), layers.Activation(relu), pool(),
                layers.Conv2D(256, 3), bn(), layers.Activation(relu), pool(),
                layers.Conv2D(384, 3, padding="same", activation=relu),
                layers.Conv2D(384, 3, padding="same", activation=relu),
                layers.Conv2D(256, 3, padding="same", activation=relu), pool(),
                layers.Flatten(), layers.Dense(2048, activation=relu), layers.Dropout(0.5),
                layers.Dense(2048, activation=relu), layers.Dropout(0.5), layers.Dense(classes)]
    return keras.Sequential([keras.Input(shape)] + body), shape, classes




def main():
    args = parser(__doc__).parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    from tensorflow import keras
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    batch = batch_size(args)
    tf.random.set_seed(1)
    model, shape, classes = build(args.model, keras, tf)
    x = tf.random.uniform((batch,) + shape)
    labels = tf.range(batch) % classes
    optimizer = keras.optimizers.SGD(learning_rate=1e-4, momentum=0.9)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(x, training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    @tf.function
    def infer_step():
        return model(x, training=False)

    compiled = train_step if args.mode == "train" else infer_step
    measure_and_report(args, "keras (tensorflow " + tf.__version__ + ", NHWC)", batch, lambda: compiled().numpy())


if __name__ == "__main__":
    main()
