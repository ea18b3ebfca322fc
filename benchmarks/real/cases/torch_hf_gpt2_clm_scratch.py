"""Hugging Face course, chapter 7 section 6 "Training a causal language model from scratch" (PyTorch, `Trainer`
part): a freshly initialized GPT-2 trained with `Trainer` and `DataCollatorForLanguageModeling(mlm=False)`.

Ported (re-written to the same model class, collator, Trainer and arguments): the documents are tokenized
with `truncation=True, max_length=context_length, return_overflowing_tokens=True, return_length=True`; a
`GPT2LMHeadModel(config)` is built from a GPT-2 config with `vocab_size=len(tokenizer)`,
`n_ctx=context_length` and the tokenizer's bos/eos ids; `tokenizer.pad_token = tokenizer.eos_token` and
`DataCollatorForLanguageModeling(tokenizer, mlm=False)` pads each batch and copies the inputs to `labels`
with -100 at padded positions (GPT-2 shifts them inside the model and its loss ignores -100);
`TrainingArguments(per_device_train_batch_size=32, per_device_eval_batch_size=32, gradient_accumulation_steps=8,
weight_decay=0.1, lr_scheduler_type="cosine", learning_rate=5e-4, eval_strategy="steps", ...)`, then
`trainer.train()` (AdamW with the Trainer's weight-decay groups, cosine schedule with warmup).

Changes: the codeparrot Python files become the paragraphs of the local English text stand-in
(`_data.text_splits`, train / valid); the `huggingface-course/code-search-net-tokenizer` download becomes a
byte-level BPE tokenizer of 320 tokens trained on the train paragraphs with the `tokenizers` library
(`<|endoftext|>` as bos/eos); `AutoConfig.from_pretrained("gpt2", ...)` becomes `GPT2Config(...)` with
2 layers, 2 heads and 64 dimensions instead of GPT-2 small's 12/12/768; context 32 tokens instead of 128;
the last, shorter chunk of each document is kept instead of dropped (only 1-token chunks, which have no
next token, are dropped), so batches are padded and their labels hold -100; `max_steps=60` (about 1.6 epochs) instead of 1 epoch of 16.7M chunks, `warmup_steps` 6
instead of 1,000, one evaluation at the end instead of every 5,000 steps; `logging_steps=1` (to read the
training losses) and `seed` = the benchmark's seed; no fp16, checkpoints or push to the Hub (CPU). The measure is minus the evaluation loss,
its chance level minus ln(vocabulary size).
"""

import math
import os
import tempfile

import _data
import _harness
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    DataCollatorForLanguageModeling,
    GPT2Config,
    GPT2LMHeadModel,
    PreTrainedTokenizerFast,
    Trainer,
    TrainingArguments,
)


def train_tokenizer(texts, vocab_size):
    """A GPT-2-style byte-level BPE tokenizer trained on ``texts`` (stands in for the course's download)."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                   unk_token="<|endoftext|>")


class TokenizedChunks(torch.utils.data.Dataset):
    def __init__(self, rows):
        self.rows = rows

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return {"input_ids": self.rows[i]}


def main():
    _harness.seed_everything()
    train_text, valid_text, _ = _data.text_splits()
    raw_datasets = {"train": [p for p in train_text.split("\n\n") if p.strip()],
                    "valid": [p for p in valid_text.split("\n\n") if p.strip()]}

    context_length = 32
    tokenizer = train_tokenizer(raw_datasets["train"], vocab_size=320)

    def tokenize(contents):
        outputs = tokenizer(contents, truncation=True, max_length=context_length, return_overflowing_tokens=True,
                            return_length=True)
        # (the course keeps only chunks of exactly context_length tokens; this port keeps every chunk)
        return [ids for length, ids in zip(outputs["length"], outputs["input_ids"]) if length > 1]

    tokenized_datasets = {split: TokenizedChunks(tokenize(docs)) for split, docs in raw_datasets.items()}

    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_ctx=context_length,
        n_layer=2,
        n_head=2,
        n_embd=64,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model = GPT2LMHeadModel(config)
    print(f"GPT-2 size: {sum(t.numel() for t in model.parameters()) / 1000 ** 2:.2f}M parameters")

    tokenizer.pad_token = tokenizer.eos_token
    data_collator = DataCollatorForLanguageModeling(tokenizer, mlm=False)

    with tempfile.TemporaryDirectory() as output_dir:
        args = TrainingArguments(
            output_dir=os.path.join(output_dir, "codeparrot-ds"),
            per_device_train_batch_size=32,
            per_device_eval_batch_size=32,
            eval_strategy="no",
            logging_steps=1,
            gradient_accumulation_steps=8,
            max_steps=60,
            weight_decay=0.1,
            warmup_steps=6,
            lr_scheduler_type="cosine",
            learning_rate=5e-4,
            save_strategy="no",
            fp16=False,
            push_to_hub=False,
            report_to="none",
            use_cpu=True,
            seed=_harness.seed(),
            disable_tqdm=True,
        )
        trainer = Trainer(
            model=model,
            processing_class=tokenizer,
            args=args,
            data_collator=data_collator,
            train_dataset=tokenized_datasets["train"],
            eval_dataset=tokenized_datasets["valid"],
            callbacks=_harness.callbacks("huggingface"),
        )
        trainer.train()
        eval_loss = trainer.evaluate()["eval_loss"]
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    _harness.report(metric=-eval_loss, metric_name="minus evaluation loss", chance=-math.log(len(tokenizer)),
                    losses=losses)


if __name__ == "__main__":
    main()
