"""Hugging Face transformers `examples/pytorch/language-modeling/run_clm_no_trainer.py`: causal language
modeling with an Accelerate loop instead of `Trainer`, here with gradient accumulation and a warmed-up
linear schedule.

Ported (re-written to the same loop): a text file is read line by line (line breaks kept), each line is
tokenized, `group_texts` concatenates each group of 1,000 tokenized lines and cuts it into blocks of
`block_size` tokens (dropping the group's remainder) with `labels` = a copy of `input_ids` (GPT-2 shifts them
inside the model); `DataLoader(shuffle=True, collate_fn=default_data_collator)`; a model built from scratch
with `AutoModelForCausalLM.from_config(CONFIG_MAPPING["gpt2"](...))` and `resize_token_embeddings`; AdamW over
two parameter groups (weight decay except for names containing "bias" or "LayerNorm.weight");
`accelerator.prepare(...)`; `get_scheduler(lr_scheduler_type, num_warmup_steps, num_training_steps =
max_train_steps)`; the loop divides each batch's loss by `gradient_accumulation_steps`, calls
`accelerator.backward(loss)` and steps optimizer and scheduler when `step % gradient_accumulation_steps == 0`
or at the epoch's last batch; after each epoch it evaluates and logs the perplexity exp(mean eval loss).

Changes: the `--train_file` / `--validation_file` text files become the local English text stand-in
(`_data.text_splits`, train / valid) read as lines (the `datasets` library is not installed: plain lists do
what `load_dataset("text")` and `.map(batched=True)` do); `--tokenizer_name gpt2` (a download) becomes a
byte-level BPE tokenizer of 512 tokens trained locally with the `tokenizers` library; `--model_type gpt2`
with a tiny config (2 layers, 2 heads, 64 dims, 64 positions) instead of GPT-2 small; the command line is
`--block_size 64 --per_device_train_batch_size 8 --per_device_eval_batch_size 8 --learning_rate 1e-3
--weight_decay 0.01 --gradient_accumulation_steps 4 --lr_scheduler_type linear --num_warmup_steps 10
--num_train_epochs 1 --seed <benchmark seed>`; `transformers.AdamW` (removed from transformers 5) becomes
`torch.optim.AdamW` with transformers' eps=1e-6; `Accelerator(cpu=True)`; no logging set-up, output_dir or
push to the Hub. The measure is minus the last evaluation's mean loss (log of the script's perplexity), its
chance level minus ln(vocabulary size).
"""

import math

import _data
import _harness
import torch
from accelerate import Accelerator
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from torch.utils.data import DataLoader
from transformers import (
    CONFIG_MAPPING,
    AutoModelForCausalLM,
    PreTrainedTokenizerFast,
    default_data_collator,
    get_scheduler,
    set_seed,
)


class Args:
    block_size = 64
    per_device_train_batch_size = 8
    per_device_eval_batch_size = 8
    learning_rate = 1e-3
    weight_decay = 0.01
    num_train_epochs = 1
    max_train_steps = None
    gradient_accumulation_steps = 4
    lr_scheduler_type = "linear"
    num_warmup_steps = 10
    seed = _harness.seed()


def train_tokenizer(lines, vocab_size):
    """A GPT-2-style byte-level BPE tokenizer trained on ``lines`` (stands in for ``--tokenizer_name gpt2``)."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(lines, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                   unk_token="<|endoftext|>", model_max_length=1024)


def main():
    args = Args()
    accelerator = Accelerator(cpu=True)
    _harness.seed_everything()
    if args.seed is not None:
        set_seed(args.seed)

    train_text, valid_text, _ = _data.text_splits()
    # load_dataset("text", keep_linebreaks=True): one example per line, its "\n" kept
    raw_datasets = {"train": {"text": train_text.splitlines(keepends=True)},
                    "validation": {"text": valid_text.splitlines(keepends=True)}}

    tokenizer = train_tokenizer(raw_datasets["train"]["text"], vocab_size=512)
    config = CONFIG_MAPPING["gpt2"](n_layer=2, n_head=2, n_embd=64, n_positions=64,
                                    bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    model = AutoModelForCausalLM.from_config(config)
    model.resize_token_embeddings(len(tokenizer))

    text_column_name = "text"

    def tokenize_function(examples):
        return tokenizer(examples[text_column_name])

    block_size = min(args.block_size, tokenizer.model_max_length)

    def group_texts(examples):
        concatenated_examples = {k: sum(examples[k], []) for k in examples.keys()}
        total_length = len(concatenated_examples[list(examples.keys())[0]])
        if total_length >= block_size:
            total_length = (total_length // block_size) * block_size
        result = {k: [t[i: i + block_size] for i in range(0, total_length, block_size)]
                  for k, t in concatenated_examples.items()}
        result["labels"] = result["input_ids"].copy()
        return result

    def map_batched(function, columns, batch_size=1000):
        """``Dataset.map(function, batched=True)`` (batches of 1,000 rows) on a dict of columns, as rows."""
        n = len(next(iter(columns.values())))
        out = {}
        for start in range(0, n, batch_size):
            part = function({k: v[start:start + batch_size] for k, v in columns.items()})
            for k, v in part.items():
                out.setdefault(k, []).extend(v)
        return out

    lm_datasets = {}
    for split, columns in raw_datasets.items():
        tokenized = map_batched(tokenize_function, columns)
        tokenized = {k: list(v) for k, v in tokenized.items()}  # remove_columns=["text"]
        grouped = map_batched(group_texts, tokenized)
        lm_datasets[split] = [dict(zip(grouped, row)) for row in zip(*grouped.values())]

    train_dataset = lm_datasets["train"]
    eval_dataset = lm_datasets["validation"]
    print(f"{len(train_dataset)} train blocks, {len(eval_dataset)} validation blocks, vocabulary {len(tokenizer)}")

    train_dataloader = DataLoader(train_dataset, shuffle=True, collate_fn=default_data_collator,
                                  batch_size=args.per_device_train_batch_size)
    eval_dataloader = DataLoader(eval_dataset, collate_fn=default_data_collator,
                                 batch_size=args.per_device_eval_batch_size)

    no_decay = ["bias", "LayerNorm.weight"]
    optimizer_grouped_parameters = [
        {"params": [p for n, p in model.named_parameters() if not any(nd in n for nd in no_decay)],
         "weight_decay": args.weight_decay},
        {"params": [p for n, p in model.named_parameters() if any(nd in n for nd in no_decay)],
         "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(optimizer_grouped_parameters, lr=args.learning_rate, eps=1e-6)

    model, optimizer, train_dataloader, eval_dataloader = accelerator.prepare(
        model, optimizer, train_dataloader, eval_dataloader
    )

    num_update_steps_per_epoch = math.ceil(len(train_dataloader) / args.gradient_accumulation_steps)
    if args.max_train_steps is None:
        args.max_train_steps = args.num_train_epochs * num_update_steps_per_epoch
    else:
        args.num_train_epochs = math.ceil(args.max_train_steps / num_update_steps_per_epoch)

    lr_scheduler = get_scheduler(
        name=args.lr_scheduler_type,
        optimizer=optimizer,
        num_warmup_steps=args.num_warmup_steps,
        num_training_steps=args.max_train_steps,
    )

    print(f"Total optimization steps = {args.max_train_steps}")
    completed_steps = 0
    train_losses = []
    eval_loss = float("nan")
    for epoch in range(args.num_train_epochs):
        model.train()
        for step, batch in enumerate(train_dataloader):
            outputs = model(**batch)
            loss = outputs.loss
            train_losses.append(loss.item())
            loss = loss / args.gradient_accumulation_steps
            accelerator.backward(loss)
            if step % args.gradient_accumulation_steps == 0 or step == len(train_dataloader) - 1:
                optimizer.step()
                lr_scheduler.step()
                optimizer.zero_grad()
                completed_steps += 1

            if completed_steps >= args.max_train_steps:
                break

        model.eval()
        losses = []
        for step, batch in enumerate(eval_dataloader):
            with torch.no_grad():
                outputs = model(**batch)

            loss = outputs.loss
            losses.append(accelerator.gather(loss.repeat(args.per_device_eval_batch_size)))

        losses = torch.cat(losses)
        losses = losses[: len(eval_dataset)]
        eval_loss = torch.mean(losses).item()
        try:
            perplexity = math.exp(eval_loss)
        except OverflowError:
            perplexity = float("inf")
        print(f"epoch {epoch}: perplexity: {perplexity}")

    _harness.report(metric=-eval_loss, metric_name="minus evaluation loss", chance=-math.log(len(tokenizer)),
                    losses=train_losses)


if __name__ == "__main__":
    main()
