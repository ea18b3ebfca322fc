"""Hugging Face transformers `examples/pytorch/multiple-choice/run_swag.py`: SWAG-style multiple choice (a context,
a header and four endings) with `RobertaForMultipleChoice`, dynamic padding by the script's
`DataCollatorForMultipleChoice`, `Trainer` and an argmax accuracy.

Ported (re-written to the same preprocessing, collator, model class, Trainer and arguments): `preprocess_function`
repeats each context (`sent1`) four times, pairs it with `f"{header} {ending}"` for the four endings (`sent2`
+ `ending0..3`), tokenizes the flattened pairs with `truncation=True, max_length=max_seq_length` and no padding
(`pad_to_max_length` defaults to False), and un-flattens them into groups of four; the collator pops the labels,
flattens the choices, `tokenizer.pad`s them to the longest in the batch, reshapes to (batch, 4, length) and adds
the labels back; `compute_metrics` is the argmax accuracy. `TrainingArguments` as the README's command
(`--do_train --do_eval --learning_rate 5e-5 --num_train_epochs 3 --per_device_train_batch_size 16
--per_device_eval_batch_size 16`), the Trainer's default AdamW and linear decay; `trainer.train()` then
`trainer.evaluate()`.

Changes: the SWAG download and the pretrained `FacebookAI/roberta-base` (config, BPE tokenizer, weights) become a
tiny, randomly initialized `RobertaConfig` (2 layers, 2 heads, hidden 64, intermediate 256) and a word-level
fast tokenizer built in the script (RoBERTa's `<s> A </s></s> B </s>` pair template) over a seeded local
SWAG-like task (`swag_like`: the context mixes words of one of 12 topics with neutral words; the right ending
repeats two context topic words with fillers from the plausible half of the neutral words, the three wrong
endings take two words of other topics with fillers mostly from the other half; 2,000 train / 400
validation examples); `datasets` is not installed, so a torch Dataset of the tokenized rows (fresh dicts per
item, as `datasets` returns, with only the model's columns) stands in for `datasets["train"].map(...)`;
`max_seq_length` 64 instead of the tokenizer's 512; `learning_rate` 5e-4 instead of 5e-5 (the README's rate
fine-tunes a pretrained RoBERTa; from scratch its training loss stays at ln 4 within 3 epochs here);
`logging_steps` 10; seed = the benchmark's; no checkpoints, saved metrics, model card or Hub (CPU).
"""

import os
import tempfile
from dataclasses import dataclass
from typing import Optional, Union

import _harness
import numpy as np
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import (
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
    RobertaConfig,
    RobertaForMultipleChoice,
    Trainer,
    TrainingArguments,
    set_seed,
)
from transformers.utils import PaddingStrategy

N_TOPICS, TOPIC_WORDS, NEUTRAL_WORDS = 12, 30, 200


def word_level_tokenizer():
    """A RoBERTa-style fast tokenizer over the stand-in words (no download)."""
    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    words = [f"t{k}_{i}" for k in range(N_TOPICS) for i in range(TOPIC_WORDS)]
    words += [f"n{i}" for i in range(NEUTRAL_WORDS)]
    vocab = {w: i for i, w in enumerate(specials + words)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   unk_token="<unk>", cls_token="<s>", sep_token="</s>", model_max_length=512)


def swag_like(rng, n):
    """SWAG-like columns: sent1 (context), sent2 (header), ending0..3 and label."""
    def topic_words(k, m):
        return [f"t{k}_{i}" for i in rng.integers(0, TOPIC_WORDS, size=m)]

    def neutral(m, lo=0, hi=NEUTRAL_WORDS):
        return [f"n{i}" for i in rng.integers(lo, hi, size=m)]

    cols = {"sent1": [], "sent2": [], "label": [], **{f"ending{i}": [] for i in range(4)}}
    for _ in range(n):
        topic = int(rng.integers(N_TOPICS))
        context = topic_words(topic, int(rng.integers(4, 8))) + neutral(int(rng.integers(3, 7)))
        rng.shuffle(context)
        label = int(rng.integers(4))
        others = rng.choice([k for k in range(N_TOPICS) if k != topic], size=3, replace=False)
        endings, j = [], 0
        for i in range(4):
            if i == label:
                ending = [str(w) for w in rng.choice([w for w in context if w.startswith("t")], size=2)]
                ending += neutral(int(rng.integers(2, 5)), 0, NEUTRAL_WORDS // 2)  # plausible fillers
            else:  # a wrong ending: another topic, fillers mostly from the implausible half
                ending = topic_words(int(others[j]), 2) + neutral(int(rng.integers(2, 5)), NEUTRAL_WORDS // 3)
                j += 1
            rng.shuffle(ending)
            endings.append(" ".join(ending))
        cols["sent1"].append(" ".join(context))
        cols["sent2"].append(" ".join(neutral(int(rng.integers(2, 4)))))
        cols["label"].append(label)
        for i in range(4):
            cols[f"ending{i}"].append(endings[i])
    return cols


class Rows(torch.utils.data.Dataset):
    """A mapped split as rows; every item is a fresh dict, as a `datasets.Dataset` returns."""

    def __init__(self, columns, keep):
        self.rows = [dict(zip(keep, values)) for values in zip(*(columns[k] for k in keep))]

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return dict(self.rows[i])


@dataclass
class DataCollatorForMultipleChoice:
    """Data collator that will dynamically pad the inputs for multiple choice received."""

    tokenizer: PreTrainedTokenizerBase
    padding: Union[bool, str, PaddingStrategy] = True
    max_length: Optional[int] = None
    pad_to_multiple_of: Optional[int] = None

    def __call__(self, features):
        label_name = "label" if "label" in features[0].keys() else "labels"
        labels = [feature.pop(label_name) for feature in features]
        batch_size = len(features)
        num_choices = len(features[0]["input_ids"])
        flattened_features = [
            [{k: v[i] for k, v in feature.items()} for i in range(num_choices)] for feature in features
        ]
        flattened_features = sum(flattened_features, [])
        batch = self.tokenizer.pad(
            flattened_features,
            padding=self.padding,
            max_length=self.max_length,
            pad_to_multiple_of=self.pad_to_multiple_of,
            return_tensors="pt",
        )
        batch = {k: v.view(batch_size, num_choices, -1) for k, v in batch.items()}
        batch["labels"] = torch.tensor(labels, dtype=torch.int64)
        return batch


def main():
    _harness.seed_everything()
    seed = _harness.seed()
    set_seed(seed)
    rng = np.random.default_rng(seed)
    datasets = {"train": swag_like(rng, 2000), "validation": swag_like(rng, 400)}

    tokenizer = word_level_tokenizer()
    config = RobertaConfig(vocab_size=tokenizer.vocab_size, hidden_size=64, num_hidden_layers=2,
                           num_attention_heads=2, intermediate_size=256, max_position_embeddings=130,
                           pad_token_id=tokenizer.pad_token_id, bos_token_id=0, eos_token_id=2)
    model = RobertaForMultipleChoice(config)

    ending_names = [f"ending{i}" for i in range(4)]
    context_name = "sent1"
    question_header_name = "sent2"
    max_seq_length = 64
    pad_to_max_length = False

    def preprocess_function(examples):
        first_sentences = [[context] * 4 for context in examples[context_name]]
        question_headers = examples[question_header_name]
        second_sentences = [
            [f"{header} {examples[end][i]}" for end in ending_names] for i, header in enumerate(question_headers)
        ]
        first_sentences = sum(first_sentences, [])
        second_sentences = sum(second_sentences, [])
        tokenized_examples = tokenizer(
            first_sentences,
            second_sentences,
            truncation=True,
            max_length=max_seq_length,
            padding="max_length" if pad_to_max_length else False,
        )
        return {k: [v[i: i + 4] for i in range(0, len(v), 4)] for k, v in tokenized_examples.items()}

    def mapped(split):
        columns = dict(datasets[split])
        columns.update(preprocess_function(datasets[split]))
        return Rows(columns, keep=["input_ids", "attention_mask", "label"])

    train_dataset = mapped("train")
    eval_dataset = mapped("validation")
    data_collator = DataCollatorForMultipleChoice(tokenizer=tokenizer, pad_to_multiple_of=None)

    def compute_metrics(eval_predictions):
        predictions, label_ids = eval_predictions
        preds = np.argmax(predictions, axis=1)
        return {"accuracy": (preds == label_ids).astype(np.float32).mean().item()}

    with tempfile.TemporaryDirectory() as output_dir:
        training_args = TrainingArguments(
            output_dir=os.path.join(output_dir, "swag_base"),
            do_train=True,
            do_eval=True,
            learning_rate=5e-4,  # README: 5e-5 (for the pretrained roberta-base)
            num_train_epochs=3,
            per_device_train_batch_size=16,
            per_device_eval_batch_size=16,
            logging_steps=10,
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
    _harness.report(metric=metrics["eval_accuracy"], metric_name="accuracy", chance=0.25, losses=losses)


if __name__ == "__main__":
    main()
