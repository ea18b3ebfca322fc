"""huggingface/transformers issues #16276 and #21381 (fixed by passing `use_reentrant=False`, PR #23422): a BERT
classifier fine-tuned with gradient checkpointing and its embeddings frozen. With the re-entrant
`torch.utils.checkpoint`, a checkpointed block whose input does not require grad returns an output that does
not either, so no encoder layer receives a gradient: "the training procedures behave the same no matter what
layers_to_freeze I set"; only the pooler and the classification head (outside the checkpoints) learn.

A small program with the issues' structure: `BertForSequenceClassification` (a tiny config, random init
instead of the pretrained checkpoint, which cannot be downloaded here), the embeddings frozen with
`requires_grad = False` as in #16276, `gradient_checkpointing_enable` with re-entrant checkpoints (the default
of transformers 4.22 used in #21381), a plain PyTorch loop with AdamW over the trainable parameters and the
model's own cross-entropy loss. transformers >= 4.35 also registers an input-embedding hook that hides the
problem; the script removes that hook (`disable_input_require_grads`) to run as 4.22 did. The fix is
`gradient_checkpointing_kwargs={"use_reentrant": False}`. Data: the local IMDB stand-in (2,500 / 1,000 reviews,
10,000-word vocabulary, cut or padded to 64 tokens); 3 epochs.
"""

import _data
import _harness
import numpy as np
import torch
import transformers
from transformers import BertConfig, BertForSequenceClassification

MAX_LEN, VOCAB = 64, 10000


def encode(docs):
    ids = np.zeros((len(docs), MAX_LEN), dtype=np.int64)
    mask = np.zeros((len(docs), MAX_LEN), dtype=np.int64)
    for i, doc in enumerate(docs):
        doc = doc[:MAX_LEN]
        ids[i, :len(doc)] = doc
        mask[i, :len(doc)] = 1
    return torch.from_numpy(ids), torch.from_numpy(mask)


def main():
    transformers.logging.set_verbosity_error()
    _harness.seed_everything()
    (x_train, y_train), (x_test, y_test) = _data.imdb_load_data(num_words=VOCAB, seed=_harness.seed())
    train_ids, train_mask = encode(x_train)
    test_ids, test_mask = encode(x_test)
    train_labels = torch.from_numpy(np.asarray(y_train, dtype=np.int64))
    test_labels = torch.from_numpy(np.asarray(y_test, dtype=np.int64))

    config = BertConfig(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=128, max_position_embeddings=MAX_LEN, num_labels=2)
    model = BertForSequenceClassification(config)

    # freeze the embeddings (#16276 freezes them together with the first `layers_to_freeze` layers)
    for param in model.bert.embeddings.parameters():
        param.requires_grad = False

    use_reentrant = _harness.buggy()  # the bug: re-entrant checkpoints cut the gradient of every layer
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": use_reentrant})
    model.disable_input_require_grads()  # transformers 4.22 had no such hook

    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-4)
    batch_size, epochs = 32, 3
    losses = []
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(train_ids))
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            out = model(input_ids=train_ids[idx], attention_mask=train_mask[idx], labels=train_labels[idx])
            optimizer.zero_grad()
            out.loss.backward()
            optimizer.step()
            losses.append(out.loss.item())
        model.eval()
        correct = 0
        with torch.no_grad():
            for start in range(0, len(test_ids), 100):
                logits = model(input_ids=test_ids[start:start + 100],
                               attention_mask=test_mask[start:start + 100]).logits
                correct += (logits.argmax(-1) == test_labels[start:start + 100]).sum().item()
        accuracy = correct / len(test_ids)
        print(f"epoch {epoch + 1}: loss {np.mean(losses[-len(order) // batch_size:]):.4f}, "
              f"test accuracy {accuracy:.4f}")
    _harness.report(metric=accuracy, metric_name="accuracy", chance=0.5, losses=losses)


if __name__ == "__main__":
    main()
