"""Skip work the classifier never reads: the last encoder layer for every token but [CLS].

A BERT sequence classifier reads only the [CLS] position of the last layer (through the
pooler). In that layer every other position's query, attention output and feed-forward
pass are computed and thrown away: about 5/6 of the layer, 1/n_layers of the model.
This computes the last layer for [CLS] alone, attending over all positions' keys and
values, through the layer's own weights: outputs and gradients are unchanged.
"""

from __future__ import annotations


def cls_only_last_layer(classifier) -> bool:
    """Make the classifier's last encoder layer compute [CLS] only. Returns False if unsupported."""
    main = getattr(classifier, classifier.base_model_prefix, None)
    encoder = getattr(main, "encoder", None)
    layers = getattr(encoder, "layer", None)
    if not layers or classifier.config.is_decoder or not hasattr(layers[-1], "bert_output"):
        return False
    last = layers[-1]

    def call(hidden_states, attention_mask, head_mask, encoder_hidden_states, encoder_attention_mask,
             past_key_value, output_attentions, training=False):
        cls = hidden_states[:, :1, :]
        # The attention block's key/value path for "encoder states" uses the same key and
        # value weights: the query comes from [CLS] only, keys and values from every position.
        attention = last.attention(
            input_tensor=cls, attention_mask=None, head_mask=head_mask,
            encoder_hidden_states=hidden_states, encoder_attention_mask=attention_mask,
            past_key_value=None, output_attentions=output_attentions, training=training,
        )
        hidden = last.intermediate(hidden_states=attention[0])
        return (last.bert_output(hidden_states=hidden, input_tensor=attention[0], training=training),) + tuple(
            attention[1:]
        )

    last.call = call
    return True

