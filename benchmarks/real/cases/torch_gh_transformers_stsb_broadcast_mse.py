"""huggingface/transformers issue #11583 ("Wrong results for GLUE task STS-B"), fixed by PR #11785 ("Fix
regression in regression"): `examples/pytorch/text-classification/run_glue.py --task_name stsb` with
`BertForSequenceClassification` at transformers 4.6.0.dev0.

Buggy: PR #11012 gave the sequence-classification heads a `problem_type`; for a regression (one label) the
loss became ``MSELoss()(logits.view(-1, self.num_labels), labels)``: logits of shape (batch, 1) against labels
of shape (batch,) broadcast to (batch, batch), so every prediction is pulled towards every label of the batch
and ends near the batch mean (PyTorch warns "Using a target size ... different to the input size"; the issue
reports Pearson 28.4 instead of 88.6). Fixed, as in PR #11785: ``loss_fct(logits.squeeze(),
labels.squeeze())`` when ``num_labels == 1``.

The installed transformers has the fix built into the model, so the port hands the regression branch of
``BertForSequenceClassification.forward`` — the 4.6.0.dev0 line for the buggy variant, PR #11785's for the
fixed one — to the Trainer as ``compute_loss_func``; everything else is the library's.

Ported (re-written to the same model class, padding, collator, Trainer and arguments as
torch_hf_glue_bert_tiny, with run_glue.py's STS-B branch): ``is_regression`` so ``num_labels = 1`` and no
label mapping; sentence pairs tokenized as [CLS] sentence1 [SEP] sentence2 [SEP] with token_type_ids 0 / 1,
padded to max_seq_length with an attention mask; float labels; ``compute_metrics`` = Pearson and Spearman
correlation of the squeezed predictions; the README command's batch size 32 and 3 epochs; ``trainer.train()``
then ``trainer.evaluate()``. Changes: the GLUE download and the pretrained bert-base-cased become a tiny
randomly initialized BertConfig (2 layers, 2 heads, hidden 64, vocabulary 1,000) and the local stand-in
``_data.stsb_word_id_pairs`` (2,000 train / 500 validation pairs scored 0..5 by word overlap);
max_seq_length 32 instead of 128; learning rate 3e-4 instead of 2e-5 (a model trained from scratch, as in
torch_hf_glue_bert_tiny); ``evaluate.load("glue", "stsb")`` -> scipy's pearsonr / spearmanr; logging_steps 1;
no checkpoints, model card or Hub; CPU. Measure: the validation Pearson correlation (chance 0).
"""

import os
import tempfile

import _data
import _harness
import numpy as np
import torch
from scipy.stats import pearsonr, spearmanr
from torch.nn import MSELoss
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


def tokenize(sentences1, sentences2, padding, max_length, truncation):
    """What the fast tokenizer returns for word-id sentence pairs: [CLS] s1 [SEP] s2 [SEP] (token types 0 then
    1), the longer sentence truncated first, padded to ``max_length``."""
    assert padding == "max_length" and truncation
    out = {"input_ids": [], "token_type_ids": [], "attention_mask": []}
    for a, b in zip(sentences1, sentences2):
        a, b = list(a), list(b)
        while len(a) + len(b) > max_length - 3:
            (a if len(a) >= len(b) else b).pop()
        ids = [CLS] + a + [SEP] + b + [SEP]
        types = [0] * (len(a) + 2) + [1] * (len(b) + 1)
        pad = max_length - len(ids)
        out["input_ids"].append(ids + [PAD] * pad)
        out["token_type_ids"].append(types + [0] * pad)
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


def regression_loss(outputs, labels, num_items_in_batch=None):
    """The regression branch of BertForSequenceClassification.forward (problem_type "regression")."""
    logits = outputs["logits"]
    num_labels = logits.shape[-1]
    loss_fct = MSELoss()
    if _harness.buggy():  # the bug: (batch, 1) logits against (batch,) labels broadcast to (batch, batch)
        return loss_fct(logits.view(-1, num_labels), labels)
    if num_labels == 1:
        return loss_fct(logits.squeeze(), labels.squeeze())
    return loss_fct(logits, labels)


def main():
    _harness.seed_everything()
    seed = _harness.seed()
    set_seed(seed)  # run_glue.py: set_seed(training_args.seed) before the model is built
    pairs = _data.stsb_word_id_pairs(seed=seed, n=2500, vocab_size=VOCAB_SIZE, first_word=FIRST_WORD)
    raw_datasets = {"train": {k: v[:2000] for k, v in pairs.items()},
                    "validation": {k: v[2000:] for k, v in pairs.items()}}

    # task_name "stsb": a regression, one label, no label mapping
    is_regression = True
    num_labels = 1
    sentence1_key, sentence2_key = "sentence1", "sentence2"

    config = BertConfig(vocab_size=VOCAB_SIZE, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=256, max_position_embeddings=64, pad_token_id=PAD,
                        num_labels=num_labels, finetuning_task="stsb")
    model = BertForSequenceClassification(config)

    padding = "max_length"  # pad_to_max_length=True
    label_to_id = None
    max_seq_length = 32

    def preprocess_function(examples):
        result = tokenize(examples[sentence1_key], examples[sentence2_key], padding=padding,
                          max_length=max_seq_length, truncation=True)
        if label_to_id is not None and "label" in examples:
            result["label"] = [(label_to_id[lab] if lab != -1 else -1) for lab in examples["label"]]
        else:
            result["label"] = list(examples["label"])
        return result

    train_dataset = Rows(preprocess_function(raw_datasets["train"]))
    eval_dataset = Rows(preprocess_function(raw_datasets["validation"]))

    def compute_metrics(p: EvalPrediction):
        preds = p.predictions[0] if isinstance(p.predictions, tuple) else p.predictions
        preds = np.squeeze(preds) if is_regression else np.argmax(preds, axis=1)
        pearson = float(pearsonr(preds, p.label_ids)[0]) if np.std(preds) > 0 else 0.0
        spearman = float(spearmanr(preds, p.label_ids)[0]) if np.std(preds) > 0 else 0.0
        return {"pearson": pearson, "spearmanr": spearman, "combined_score": (pearson + spearman) / 2}

    data_collator = default_data_collator  # the examples are already padded

    with tempfile.TemporaryDirectory() as output_dir:
        training_args = TrainingArguments(
            output_dir=os.path.join(output_dir, "stsb"),
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
            compute_loss_func=regression_loss,
        )
        train_result = trainer.train()
        print("train metrics:", train_result.metrics)
        metrics = trainer.evaluate(eval_dataset=eval_dataset)
        print("eval metrics:", metrics)
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    _harness.report(metric=metrics["eval_pearson"], metric_name="Pearson r (validation)", chance=0.0,
                    losses=losses)


if __name__ == "__main__":
    main()
