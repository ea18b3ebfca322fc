"""Hugging Face transformers `examples/pytorch/text-classification/run_glue.py`: sequence classification with
`Trainer` (its default AdamW, linear learning-rate decay, no warmup) and an accuracy `compute_metrics`.

Ported (re-written to the same model class, padding, collator, Trainer and arguments): the sentences are
tokenized with `padding="max_length", max_length=max_seq_length, truncation=True` (the script's default
`pad_to_max_length=True`), so every example carries `input_ids`, `token_type_ids`, `attention_mask` and its
`label`, and the Trainer batches them with `default_data_collator`; the labels are mapped to ids through
`label_to_id` (the sorted unique labels, written into `model.config.label2id` / `id2label`); the model is
`BertForSequenceClassification` with `num_labels` from the data and `finetuning_task`; `compute_metrics` takes the
argmax of the logits and returns the accuracy; `TrainingArguments` as the README's command
(`--do_train --do_eval --max_seq_length 128 --per_device_train_batch_size 32 --learning_rate 2e-5
--num_train_epochs 3`), then `trainer.train()` and `trainer.evaluate()`.

Changes: the GLUE download and the pretrained `bert-base-cased` (config, tokenizer, weights) become a tiny,
randomly initialized `BertConfig` (2 layers, 2 heads, hidden 64, intermediate 256, vocabulary 1,000) and local
seeded sentences of word ids (an SST-2-like binary task: about a third of a sentence's words are cue words of
its class, the rest neutral; 2,000 train / 500 validation sentences of 6-30 words; `datasets` is not installed,
so a torch `Dataset` of tokenized rows stands in for `raw_datasets.map`); `max_seq_length` 32 instead of 128;
`learning_rate` 3e-4 instead of the README's 2e-5 (meant for a pretrained BERT: a model trained from scratch
stays at chance with 2e-5, 5e-5 or 1e-4 in 3 epochs here; 3e-4 is the largest rate of the fine-tuning grid
google-research/bert gives for its small BERTs); `logging_steps=1` (to read the training losses), seed = the benchmark's seed; no
checkpoints, saved metrics, model card or Hub (CPU). The measure is `trainer.evaluate()`'s accuracy, chance 0.5.
"""

import os
import tempfile

import _harness
import numpy as np
import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    EvalPrediction,
    Trainer,
    TrainingArguments,
    default_data_collator,
    set_seed,
)

PAD, CLS, SEP, FIRST_WORD = 0, 1, 2, 3  # the stand-in tokenizer's special ids
VOCAB_SIZE = 1000
N_CUES = 100  # words 3..102 are the negative class's cue words, 103..202 the positive class's


def make_split(rng, n):
    """``n`` sentences of 6..30 word ids (a str-free GLUE single-sentence split) and their 0/1 labels: an
    SST-2-like sentiment task where about a third of a sentence's words come from its class's cue words."""
    sentences, labels = [], []
    for _ in range(n):
        length = int(rng.integers(6, 31))
        label = int(rng.random() < 0.5)
        words = rng.integers(FIRST_WORD + 2 * N_CUES, VOCAB_SIZE, size=length)
        cue = rng.random(length) < 0.33
        words[cue] = FIRST_WORD + label * N_CUES + rng.integers(0, N_CUES, size=int(cue.sum()))
        sentences.append(words.tolist())
        labels.append(label)
    return {"sentence": sentences, "label": labels}


def tokenize(sentences, padding, max_length, truncation):
    """What the fast tokenizer returns for word-id sentences: [CLS] words [SEP], padded to ``max_length``."""
    assert padding == "max_length" and truncation
    out = {"input_ids": [], "token_type_ids": [], "attention_mask": []}
    for words in sentences:
        ids = [CLS] + words[:max_length - 2] + [SEP]
        pad = max_length - len(ids)
        out["input_ids"].append(ids + [PAD] * pad)
        out["token_type_ids"].append([0] * max_length)
        out["attention_mask"].append([1] * len(ids) + [0] * pad)
    return out


class Rows(torch.utils.data.Dataset):
    """A tokenized split as a list of rows (stands in for the mapped `datasets.Dataset`)."""

    def __init__(self, columns):
        keys = list(columns)
        self.rows = [dict(zip(keys, values)) for values in zip(*(columns[k] for k in keys))]

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


def main():
    _harness.seed_everything()
    seed = _harness.seed()
    set_seed(seed)  # run_glue.py: set_seed(training_args.seed) before the model is built
    rng = np.random.default_rng(seed)
    raw_datasets = {"train": make_split(rng, 2000), "validation": make_split(rng, 500)}

    # Labels: no task name and integer labels -> classification over the sorted unique labels
    label_list = sorted(set(raw_datasets["train"]["label"]))
    num_labels = len(label_list)

    config = BertConfig(vocab_size=VOCAB_SIZE, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=256, max_position_embeddings=64, pad_token_id=PAD,
                        num_labels=num_labels, finetuning_task=None)
    model = BertForSequenceClassification(config)

    padding = "max_length"  # pad_to_max_length=True
    # no task name and not a regression: map the sorted unique labels to ids and write them into the config
    label_to_id = {v: i for i, v in enumerate(label_list)}
    model.config.label2id = label_to_id
    model.config.id2label = {id: label for label, id in config.label2id.items()}
    max_seq_length = 32

    def preprocess_function(examples):
        result = tokenize(examples["sentence"], padding=padding, max_length=max_seq_length, truncation=True)
        if label_to_id is not None and "label" in examples:
            result["label"] = [(label_to_id[lab] if lab != -1 else -1) for lab in examples["label"]]
        return result

    train_dataset = Rows(preprocess_function(raw_datasets["train"]))
    eval_dataset = Rows(preprocess_function(raw_datasets["validation"]))

    def compute_metrics(p: EvalPrediction):
        preds = p.predictions[0] if isinstance(p.predictions, tuple) else p.predictions
        preds = np.argmax(preds, axis=1)
        return {"accuracy": float((preds == p.label_ids).mean())}  # evaluate.load("accuracy")

    data_collator = default_data_collator  # the examples are already padded

    with tempfile.TemporaryDirectory() as output_dir:
        training_args = TrainingArguments(
            output_dir=os.path.join(output_dir, "glue"),
            do_train=True,
            do_eval=True,
            per_device_train_batch_size=32,
            learning_rate=3e-4,  # README: 2e-5 (for a pretrained BERT)
            num_train_epochs=3,
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
            compute_metrics=compute_metrics,
            data_collator=data_collator,
            callbacks=_harness.callbacks("huggingface"),
        )
        train_result = trainer.train()
        print("train metrics:", train_result.metrics)
        metrics = trainer.evaluate(eval_dataset=eval_dataset)
        print("eval metrics:", metrics)
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    _harness.report(metric=metrics["eval_accuracy"], metric_name="accuracy", chance=0.5, losses=losses)


if __name__ == "__main__":
    main()
