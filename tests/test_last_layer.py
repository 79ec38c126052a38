"""The [CLS]-only last encoder layer: same logits and gradients, less work."""

import numpy as np

from glue_repro import model


def test_cls_only_last_layer_keeps_logits_and_gradients(small_pairs):
    import tensorflow as tf
    import tf_keras

    from glue_repro.last_layer import cls_only_last_layer

    tf_keras.utils.set_random_seed(1)
    tokenizer = model.load_tokenizer("tiny")
    classifier = model.build_model("tiny", vocab_size=len(tokenizer))
    rows = small_pairs["train"].select(range(5))
    x = dict(tokenizer(list(rows["sentence1"]), list(rows["sentence2"]), padding=True, return_tensors="tf"))
    y = tf.constant(list(rows["label"]))
    loss_fn = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def logits_and_gradients():
        with tf.GradientTape() as tape:
            logits = classifier(x, training=False).logits
            loss = loss_fn(y, logits)
        grads = tape.gradient(loss, classifier.trainable_weights)
        return logits.numpy(), [tf.convert_to_tensor(g).numpy() for g in grads]

    before_logits, before_grads = logits_and_gradients()
    assert cls_only_last_layer(classifier)
    after_logits, after_grads = logits_and_gradients()
    np.testing.assert_allclose(after_logits, before_logits, atol=1e-6)
    for a, b in zip(after_grads, before_grads, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    # and the layer really changed: its output keeps only the [CLS] position
    hidden = classifier.bert(x, training=False).last_hidden_state
    assert hidden.shape[1] == 1


def test_models_it_cannot_change_are_left_alone_and_said_so():
    """No base model, no encoder, no layers, a decoder, or layers that are not BERT's: False, nothing changed."""
    from types import SimpleNamespace as Obj

    from glue_repro.last_layer import cls_only_last_layer

    bert_layer = Obj(bert_output=object())
    encoder_config, decoder_config = Obj(is_decoder=False), Obj(is_decoder=True)
    for classifier in (
        Obj(base_model_prefix="bert", config=encoder_config),
        Obj(base_model_prefix="bert", config=encoder_config, bert=Obj()),
        Obj(base_model_prefix="bert", config=encoder_config, bert=Obj(encoder=Obj())),
        Obj(base_model_prefix="bert", config=encoder_config, bert=Obj(encoder=Obj(layer=[]))),
        Obj(base_model_prefix="bert", config=decoder_config, bert=Obj(encoder=Obj(layer=[bert_layer]))),
        Obj(base_model_prefix="mpnet", config=encoder_config, mpnet=Obj(encoder=Obj(layer=[Obj(output=1)]))),
    ):
        assert cls_only_last_layer(classifier) is False
    assert not hasattr(bert_layer, "call")
    supported = Obj(base_model_prefix="bert", config=encoder_config, bert=Obj(encoder=Obj(layer=[bert_layer])))
    assert cls_only_last_layer(supported) is True and callable(bert_layer.call)


def test_the_cls_only_layer_applies_its_dropouts_in_training():
    """With dropout only in the last layer's attention output, or only in its feed-forward output,
    two training calls differ and inference calls agree."""
    import tensorflow as tf
    import tf_keras

    from glue_repro.last_layer import cls_only_last_layer
    from tests.weights import tiny_bert

    tf_keras.utils.set_random_seed(0)
    classifier = tiny_bert(hidden_dropout_prob=0.5)
    assert cls_only_last_layer(classifier)
    last = classifier.bert.encoder.layer[-1]
    x = {"input_ids": tf.constant(np.random.default_rng(0).integers(5, 60, (3, 7)).astype("int32"))}
    dropouts = [m for m in classifier.submodules if isinstance(m, tf_keras.layers.Dropout)]
    for active in (last.attention.dense_output.dropout, last.bert_output.dropout):
        for layer in dropouts:
            layer.rate = 0.5 if layer is active else 0.0
        assert not np.allclose(*(classifier(x, training=True).logits.numpy() for _ in range(2)))
        np.testing.assert_array_equal(*(classifier(x, training=False).logits.numpy() for _ in range(2)))


def test_the_cls_only_layer_still_hands_back_its_attention_when_asked():
    """output_attentions: the cut layer's attention is [CLS]'s one row over every position."""
    from glue_repro import last_layer, model

    tokenizer = model.load_tokenizer("tiny")
    classifier = model.build_model("tiny", vocab_size=len(tokenizer))
    assert last_layer.cls_only_last_layer(classifier)
    batch = tokenizer(["a cat sat on the mat", "the dog"], padding=True, return_tensors="tf")
    width = batch["input_ids"].shape[1]
    shapes = [tuple(a.shape) for a in classifier(dict(batch), output_attentions=True).attentions]
    assert shapes == [(2, 2, width, width), (2, 2, 1, width)]
