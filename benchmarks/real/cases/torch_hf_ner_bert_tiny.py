"""Hugging Face transformers `examples/pytorch/token-classification/run_ner.py`: named-entity recognition with
`BertForTokenClassification`, `DataCollatorForTokenClassification` and `Trainer`, scored by seqeval's
entity-level F1.

Ported (re-written to the same model class, label handling, tokenization, collator, Trainer and metric): the
data set's words and integer NER tags (CoNLL-2003's ClassLabel names O, B-PER, I-PER, B-ORG, I-ORG, B-LOC,
I-LOC, B-MISC, I-MISC) are tokenized with `is_split_into_words=True`, truncation and no padding (the default
`pad_to_max_length=False`); `tokenize_and_align_labels` gives the first sub-token of each word the word's
label and special tokens -100 (`label_all_tokens=False`); `label2id` / `id2label` are written into the config;
`DataCollatorForTokenClassification(tokenizer)` pads each batch (labels with -100); `compute_metrics` drops the
-100 positions and reports seqeval's overall precision, recall, F1 and accuracy; `TrainingArguments` as the
README's command (`--do_train --do_eval`, so Trainer defaults: batch 8, 3 epochs, AdamW, linear decay);
`trainer.train()` then `trainer.evaluate()`.

Changes: the CoNLL-2003 download and the pretrained `bert-base-uncased` become seeded local sentences and a
tiny, randomly initialized `BertConfig` (2 layers, 2 heads, hidden 64); the tokenizer is a real
`BertTokenizerFast` built from a local WordPiece vocabulary (no download);
`datasets` and `evaluate` are not installed, so a torch `Dataset` of tokenized rows stands in for
`raw_datasets.map` and seqeval's default (conlleval) chunk F1 is computed in the script; the learning rate is
3e-4 instead of the default 5e-5 (meant for a pretrained BERT; see the TOML); 3,000 training / 400
validation sentences; no checkpoints, saved model, metrics files, model card or predictions (CPU).
"""

import os
import tempfile

import _harness
import numpy as np
import torch
from transformers import (
    BertConfig,
    BertForTokenClassification,
    BertTokenizerFast,
    DataCollatorForTokenClassification,
    Trainer,
    TrainingArguments,
    set_seed,
)

LABEL_NAMES = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]  # CoNLL-2003
ENTITY_WORDS = 60  # word strings per entity type
CONTEXT_WORDS = 400
ENTITY_LENGTH_P = (0.6, 0.3, 0.1)  # an entity's length in words: 1, 2 or 3


def vocabulary():
    """The words of the stand-in corpus: lower-case strings, entity words of each type and context words."""
    words = {kind: [f"{kind.lower()}{i}" for i in range(ENTITY_WORDS)] for kind in ("PER", "ORG", "LOC", "MISC")}
    words["O"] = [f"w{i}" for i in range(CONTEXT_WORDS)]
    return words


def make_split(rng, n, words):
    """``n`` sentences (lists of words) with CoNLL-style integer BIO tags: 5-20 context words with 1-3
    entities of 1 (60%), 2 (30%) or 3 (10%) words (type drawn uniformly), never two entities side by side."""
    tokens, tags = [], []
    for _ in range(n):
        sent, sent_tags = [], []
        n_context = int(rng.integers(5, 21))
        slots = set(rng.choice(n_context, size=int(rng.integers(1, 4)), replace=False).tolist())
        for i in range(n_context):
            sent.append(words["O"][int(rng.integers(CONTEXT_WORDS))])
            sent_tags.append(0)
            if i in slots:
                kind = int(rng.integers(4))
                name = ("PER", "ORG", "LOC", "MISC")[kind]
                for j in range(int(rng.choice(3, p=ENTITY_LENGTH_P)) + 1):
                    sent.append(words[name][int(rng.integers(ENTITY_WORDS))])
                    sent_tags.append(1 + 2 * kind + (j > 0))
        tokens.append(sent)
        tags.append(sent_tags)
    return {"tokens": tokens, "ner_tags": tags}


def chunks(tags):
    """seqeval's default (conlleval) chunks of a BIO sequence: (type, start, end) triples."""
    out, start, kind = set(), None, None
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, name = tag.partition("-")
        ends = start is not None and (prefix != "I" or name != kind)
        if ends:
            out.add((kind, start, i))
            start = kind = None
        if prefix == "B" or (prefix == "I" and start is None):
            start, kind = i, name
    return out


def seqeval_overall(predictions, references):
    """seqeval's overall precision / recall / F1 over entity chunks and its token accuracy."""
    true_pos = n_pred = n_true = correct = total = 0
    for pred, ref in zip(predictions, references, strict=True):
        p, r = chunks(pred), chunks(ref)
        true_pos, n_pred, n_true = true_pos + len(p & r), n_pred + len(p), n_true + len(r)
        correct += sum(a == b for a, b in zip(pred, ref, strict=True))
        total += len(ref)
    precision = true_pos / n_pred if n_pred else 0.0
    recall = true_pos / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"overall_precision": precision, "overall_recall": recall, "overall_f1": f1,
            "overall_accuracy": correct / total}


class Rows(torch.utils.data.Dataset):
    """A tokenized split as a list of rows (stands in for the mapped `datasets.Dataset`)."""

    def __init__(self, columns):
        keys = list(columns)
        self.rows = [dict(zip(keys, values, strict=True)) for values in zip(*(columns[k] for k in keys), strict=True)]

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


def main():
    _harness.seed_everything()
    seed = _harness.seed()
    set_seed(seed)
    rng = np.random.default_rng(seed)
    words = vocabulary()
    raw_datasets = {"train": make_split(rng, 3000, words), "validation": make_split(rng, 400, words)}

    with tempfile.TemporaryDirectory() as output_dir:
        pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *(w for ws in words.values() for w in ws)]
        tokenizer = BertTokenizerFast(vocab={piece: i for i, piece in enumerate(pieces)}, do_lower_case=True)

        # ClassLabel features: the label names come from the data set, the tags are already ids
        label_list = LABEL_NAMES
        labels_are_int = True
        label_to_id = {i: i for i in range(len(label_list))} if labels_are_int else None
        num_labels = len(label_list)

        config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=64, num_hidden_layers=2,
                            num_attention_heads=2, intermediate_size=256, max_position_embeddings=128,
                            num_labels=num_labels, finetuning_task="ner")
        model = BertForTokenClassification(config)
        model.config.label2id = {label: i for i, label in enumerate(label_list)}
        model.config.id2label = dict(enumerate(label_list))

        b_to_i_label = []
        for idx, label in enumerate(label_list):
            if label.startswith("B-") and label.replace("B-", "I-") in label_list:
                b_to_i_label.append(label_list.index(label.replace("B-", "I-")))
            else:
                b_to_i_label.append(idx)

        padding = False  # pad_to_max_length=False
        label_all_tokens = False
        max_seq_length = None

        def tokenize_and_align_labels(examples):
            tokenized_inputs = tokenizer(examples["tokens"], padding=padding, truncation=True,
                                         max_length=max_seq_length, is_split_into_words=True)
            labels = []
            for i, label in enumerate(examples["ner_tags"]):
                word_ids = tokenized_inputs.word_ids(batch_index=i)
                previous_word_idx = None
                label_ids = []
                for word_idx in word_ids:
                    if word_idx is None:  # special tokens: ignored by the loss
                        label_ids.append(-100)
                    elif word_idx != previous_word_idx:  # the first sub-token of a word
                        label_ids.append(label_to_id[label[word_idx]])
                    elif label_all_tokens:
                        label_ids.append(b_to_i_label[label_to_id[label[word_idx]]])
                    else:
                        label_ids.append(-100)
                    previous_word_idx = word_idx
                labels.append(label_ids)
            tokenized_inputs["labels"] = labels
            return tokenized_inputs

        train_dataset = Rows(dict(tokenize_and_align_labels(raw_datasets["train"])))
        eval_dataset = Rows(dict(tokenize_and_align_labels(raw_datasets["validation"])))
        data_collator = DataCollatorForTokenClassification(tokenizer)

        def compute_metrics(p):
            predictions, labels = p
            predictions = np.argmax(predictions, axis=2)
            true_predictions = [[label_list[p] for (p, lab) in zip(prediction, label, strict=True) if lab != -100]
                                for prediction, label in zip(predictions, labels, strict=True)]
            true_labels = [[label_list[lab] for (p, lab) in zip(prediction, label, strict=True) if lab != -100]
                           for prediction, label in zip(predictions, labels, strict=True)]
            results = seqeval_overall(true_predictions, true_labels)  # evaluate.load("seqeval").compute
            return {"precision": results["overall_precision"], "recall": results["overall_recall"],
                    "f1": results["overall_f1"], "accuracy": results["overall_accuracy"]}

        training_args = TrainingArguments(
            output_dir=os.path.join(output_dir, "ner"),
            do_train=True,
            do_eval=True,
            learning_rate=3e-4,  # default 5e-5 (for a pretrained BERT)
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            use_cpu=True,
            seed=seed,
            disable_tqdm=True,
        )
        trainer = Trainer(
            model=model,
            args=training_args,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=tokenizer,
            data_collator=data_collator,
            compute_metrics=compute_metrics,
            callbacks=_harness.callbacks("huggingface"),
        )
        train_result = trainer.train()
        print("train metrics:", train_result.metrics)
        metrics = trainer.evaluate()
        print("eval metrics:", metrics)
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    _harness.report(metric=metrics["eval_f1"], metric_name="entity F1", chance=0.0, losses=losses)


if __name__ == "__main__":
    main()
