"""Hugging Face transformers `examples/pytorch/language-modeling/run_mlm.py`: masked language modelling with
`Trainer`, a BERT trained from scratch (`--model_type bert --config_overrides ... --tokenizer_name ...`).

Ported (re-written to the same model class, preprocessing, collator, Trainer and arguments): the text files are
read one line per example (the `text` loader, empty lines included); every line is tokenized with
`return_special_tokens_mask=True` ([CLS] ... [SEP]); `group_texts` concatenates each map batch of 1,000 rows and
cuts it into blocks of `max_seq_length` tokens, dropping the remainder; the config is `CONFIG_MAPPING["bert"]()`
updated from the `config_overrides` string, the model `AutoModelForMaskedLM.from_config(config)` followed by
`resize_token_embeddings(len(tokenizer))`; `DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15)`
masks 15% of the non-special tokens of each batch anew (80% [MASK], 10% random, 10% kept) and sets the labels to
-100 everywhere else; `Trainer` with `TrainingArguments`' defaults (AdamW, weight decay 0, linear decay without
warmup, 3 epochs) and the README's `--per_device_train_batch_size 8 --per_device_eval_batch_size 8 --do_train
--do_eval`, `preprocess_logits_for_metrics` (argmax) and a masked-token accuracy `compute_metrics`; then
`trainer.train()` and `trainer.evaluate()` (eval_loss, perplexity).

Changes: WikiText-2 (or the train / validation text files) becomes the local English text stand-in
(`_data.text_splits`, train / valid, one example per line); the `--tokenizer_name` download becomes a lowercasing
WordPiece vocabulary of 1,000 entries trained on the train lines with the `tokenizers` library, written as
`vocab.txt` to a temporary directory and loaded from there by `BertTokenizerFast.from_pretrained`; `--config_overrides` makes the BERT tiny
(hidden 64, 2 layers, 2 heads, intermediate 256); `max_seq_length` 64 instead of 1,024 (the script's cap when the
tokenizer has no maximum length); `datasets` is not installed, so lists of rows and a torch `Dataset` stand in for
`raw_datasets.map`; `max_train_samples` 640 blocks (an option of the script) so that 3 epochs are 240 steps;
`learning_rate` 5e-4 instead of the default 5e-5 (a model trained from scratch for a few hundred steps barely
leaves chance at 5e-5; 5e-4 is the order of BERT's own pre-training rate for small models); the masked-token
accuracy is computed with numpy (`evaluate` / `load_metric` are not available); `logging_steps=1` (to read the
training losses), seed = the benchmark's seed; no checkpoints, saved model / metrics / state, model card or Hub
(CPU). The measure is minus `trainer.evaluate()`'s eval_loss, its chance level minus ln(vocabulary size).
"""

import math
import os
import tempfile
from itertools import chain

import _data
import _harness
import numpy as np
import torch
from tokenizers import BertWordPieceTokenizer
from transformers import (
    CONFIG_MAPPING,
    AutoModelForMaskedLM,
    BertTokenizerFast,
    DataCollatorForLanguageModeling,
    Trainer,
    TrainingArguments,
    set_seed,
)

VOCAB_SIZE = 1000
MAP_BATCH = 1000  # rows per batched `datasets.map` call, whose remainder `group_texts` drops


def build_tokenizer(lines, directory):
    """A lowercasing WordPiece vocabulary trained on ``lines``, saved as ``vocab.txt`` and loaded as a BERT
    tokenizer (stands in for ``--tokenizer_name``)."""
    wordpiece = BertWordPieceTokenizer(lowercase=True)
    wordpiece.train_from_iterator(lines, vocab_size=VOCAB_SIZE, min_frequency=2)
    wordpiece.save_model(directory)
    return BertTokenizerFast.from_pretrained(directory, do_lower_case=True)


class Rows(torch.utils.data.Dataset):
    """A list of feature dicts (stands in for the mapped ``datasets.Dataset``)."""

    def __init__(self, columns):
        self.columns = columns
        self.n = len(next(iter(columns.values())))

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {k: v[i] for k, v in self.columns.items()}

    def select(self, indices):
        return Rows({k: [v[i] for i in indices] for k, v in self.columns.items()})


def batched_map(function, columns, batch_size=MAP_BATCH):
    """``Dataset.map(function, batched=True)`` over a dict of columns: the outputs of each batch, joined."""
    n = len(next(iter(columns.values())))
    out = {}
    for start in range(0, n, batch_size):
        result = function({k: v[start:start + batch_size] for k, v in columns.items()})
        for k, v in result.items():
            out.setdefault(k, []).extend(v)
    return out


def main():
    seed = _harness.seed_everything()
    set_seed(seed)  # run_mlm.py: set_seed(training_args.seed) before the model is built

    train_text, valid_text, _ = _data.text_splits()
    raw_datasets = {"train": {"text": train_text.split("\n")}, "validation": {"text": valid_text.split("\n")}}
    text_column_name = "text"

    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = build_tokenizer(raw_datasets["train"][text_column_name], tmp)

        config = CONFIG_MAPPING["bert"]()
        config.update_from_string("hidden_size=64,num_hidden_layers=2,num_attention_heads=2,intermediate_size=256")
        model = AutoModelForMaskedLM.from_config(config)
        model.resize_token_embeddings(len(tokenizer))

        max_seq_length = min(64, tokenizer.model_max_length)

        def tokenize_function(examples):
            return tokenizer(examples[text_column_name], return_special_tokens_mask=True)

        def group_texts(examples):
            concatenated = {k: list(chain(*examples[k])) for k in examples.keys()}
            total_length = len(concatenated[list(examples.keys())[0]])
            if total_length >= max_seq_length:
                total_length = (total_length // max_seq_length) * max_seq_length
            return {k: [t[i:i + max_seq_length] for i in range(0, total_length, max_seq_length)]
                    for k, t in concatenated.items()}

        tokenized_datasets = {}
        for split, columns in raw_datasets.items():
            tokenized = {k: list(v) for k, v in batched_map(tokenize_function, columns).items()}
            tokenized_datasets[split] = Rows(batched_map(group_texts, tokenized))

        train_dataset = tokenized_datasets["train"]
        max_train_samples = min(len(train_dataset), 640)
        train_dataset = train_dataset.select(range(max_train_samples))
        eval_dataset = tokenized_datasets["validation"]
        print(f"{len(tokenizer)} tokens, {len(train_dataset)} train / {len(eval_dataset)} eval blocks of "
              f"{max_seq_length}")

        def preprocess_logits_for_metrics(logits, labels):
            if isinstance(logits, tuple):
                logits = logits[0]
            return logits.argmax(dim=-1)

        def compute_metrics(eval_preds):
            preds, labels = eval_preds
            labels = labels.reshape(-1)
            preds = preds.reshape(-1)
            mask = labels != -100
            return {"accuracy": float(np.mean(preds[mask] == labels[mask]))}

        data_collator = DataCollatorForLanguageModeling(tokenizer=tokenizer, mlm_probability=0.15,
                                                        pad_to_multiple_of=None)

        args = TrainingArguments(
            output_dir=os.path.join(tmp, "test-mlm"),
            do_train=True,
            do_eval=True,
            per_device_train_batch_size=8,
            per_device_eval_batch_size=8,
            learning_rate=5e-4,
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            use_cpu=True,
            seed=seed,
            disable_tqdm=True,
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=tokenizer,
            data_collator=data_collator,
            compute_metrics=compute_metrics,
            preprocess_logits_for_metrics=preprocess_logits_for_metrics,
            callbacks=_harness.callbacks("huggingface"),
        )
        trainer.train()
        metrics = trainer.evaluate()
    try:
        perplexity = math.exp(metrics["eval_loss"])
    except OverflowError:
        perplexity = float("inf")
    print(f"eval_loss {metrics['eval_loss']:.4f}, perplexity {perplexity:.1f}, "
          f"masked accuracy {metrics['eval_accuracy']:.3f}")
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    _harness.report(metric=-metrics["eval_loss"], metric_name="minus evaluation loss",
                    chance=-math.log(len(tokenizer)), losses=losses, accuracy=metrics["eval_accuracy"])


if __name__ == "__main__":
    main()
