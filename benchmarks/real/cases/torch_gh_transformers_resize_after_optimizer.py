"""huggingface/transformers PR #3532 ("Resizing embedding matrix before sending it to the optimizer"):
examples/run_language_modeling.py called `model.resize_token_embeddings(len(tokenizer))` inside `train()`,
after the AdamW optimizer had been built from `model.named_parameters()`. When the tokenizer has added tokens,
the resize builds a new `nn.Embedding` (and re-ties the LM head to it), so the optimizer keeps updating the
old, detached embedding matrix while the model reads the new one: "my token embeddings were not being updated
with their corresponding gradient". The fix swaps the lines: `train()` resizes the embeddings before it builds
the optimizer.

Ported (re-written with the example's training loop): GPT-2 causal LM fine-tuning as the script runs it with
`--model_type gpt2` and no `--mlm`: `TextDataset` blocks of `block_size` tokens drawn by a `RandomSampler`,
AdamW over two parameter groups (no weight decay for biases and LayerNorm weights; weight_decay 0 by default),
eps 1e-8, `get_linear_schedule_with_warmup` with 0 warmup steps, `model(inputs, labels=inputs)`, gradient
clipping at max_grad_norm 1.0, `model.zero_grad()` after each step, and the script's `evaluate()` (mean LM
loss over the evaluation blocks). A tiny randomly initialized `GPT2Config` replaces the pretrained gpt2 (no
download here), a character-level stand-in tokenizer with one added special token (a document separator)
replaces the GPT-2 tokenizer with added tokens, and the local English prose replaces the train / eval text
files. The installed transformers resizes the embedding matrix in place (the `Parameter` survives, so the
bug cannot show); `resize_token_embeddings_v2_6` re-implements the resize of transformers 2.6 that the
example ran on (a new `nn.Embedding` initialized with `_init_weights`, the old rows copied, then
`tie_weights`). The reported measure is minus the evaluation loss.
"""

import math

import _data
import _harness
import numpy as np
import torch
import transformers
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler, SequentialSampler
from transformers import GPT2Config, GPT2LMHeadModel, get_linear_schedule_with_warmup

BLOCK_SIZE = 64
BATCH_SIZE = 16
MAX_STEPS = 250
LEARNING_RATE = 1e-3
ADAM_EPSILON = 1e-8
WEIGHT_DECAY = 0.0
MAX_GRAD_NORM = 1.0


class CharTokenizer:
    """Stand-in for a tokenizer with added tokens: one id per character plus the added special tokens."""

    def __init__(self, text, added_tokens):
        self.vocab = {ch: i for i, ch in enumerate(sorted(set(text)))}
        self.base_size = len(self.vocab)
        self.added = {tok: self.base_size + i for i, tok in enumerate(added_tokens)}

    def __len__(self):
        return self.base_size + len(self.added)

    def encode_documents(self, documents, separator):
        ids = []
        for doc in documents:
            ids.extend(self.vocab[ch] for ch in doc)
            ids.append(self.added[separator])
        return ids


class TextDataset(Dataset):
    """The script's TextDataset: the tokenized text cut into consecutive blocks of block_size tokens."""

    def __init__(self, ids, block_size):
        self.examples = [ids[i:i + block_size] for i in range(0, len(ids) - block_size + 1, block_size)]

    def __len__(self):
        return len(self.examples)

    def __getitem__(self, item):
        return torch.tensor(self.examples[item], dtype=torch.long)


def resize_token_embeddings_v2_6(model, new_num_tokens):
    """PreTrainedModel.resize_token_embeddings as in transformers 2.6: a new embedding module replaces the
    old one (the old Parameter is dropped) and the output embeddings are re-tied to it."""
    old_embeddings = model.get_input_embeddings()
    old_num_tokens, old_embedding_dim = old_embeddings.weight.size()
    if old_num_tokens == new_num_tokens:
        return old_embeddings
    new_embeddings = nn.Embedding(new_num_tokens, old_embedding_dim)
    model._init_weights(new_embeddings)
    num_tokens_to_copy = min(old_num_tokens, new_num_tokens)
    new_embeddings.weight.data[:num_tokens_to_copy, :] = old_embeddings.weight.data[:num_tokens_to_copy, :]
    model.set_input_embeddings(new_embeddings)
    model.config.vocab_size = new_num_tokens
    model.tie_weights()
    return new_embeddings


def train(train_dataset, model, tokenizer, losses):
    train_dataloader = DataLoader(train_dataset, sampler=RandomSampler(train_dataset), batch_size=BATCH_SIZE)
    t_total = MAX_STEPS
    num_train_epochs = MAX_STEPS // len(train_dataloader) + 1

    if not _harness.buggy():  # the fix (PR #3532): resize before the optimizer takes the parameters
        resize_token_embeddings_v2_6(model, len(tokenizer))

    no_decay = ["bias", "LayerNorm.weight"]
    optimizer_grouped_parameters = [
        {"params": [p for n, p in model.named_parameters() if not any(nd in n for nd in no_decay)],
         "weight_decay": WEIGHT_DECAY},
        {"params": [p for n, p in model.named_parameters() if any(nd in n for nd in no_decay)],
         "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(optimizer_grouped_parameters, lr=LEARNING_RATE, eps=ADAM_EPSILON)
    scheduler = get_linear_schedule_with_warmup(optimizer, num_warmup_steps=0, num_training_steps=t_total)

    if _harness.buggy():  # the bug: the embeddings are replaced after the optimizer took the old parameters
        resize_token_embeddings_v2_6(model, len(tokenizer))

    global_step = 0
    model.zero_grad()
    for _ in range(num_train_epochs):
        for batch in train_dataloader:
            inputs, labels = batch, batch
            model.train()
            loss = model(inputs, labels=labels).loss
            loss.backward()
            losses.append(loss.item())
            torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
            optimizer.step()
            scheduler.step()
            model.zero_grad()
            global_step += 1
            if global_step % 50 == 0:
                print(f"step {global_step}: loss {loss.item():.4f}")
            if global_step >= MAX_STEPS:
                return global_step


def evaluate(eval_dataset, model):
    eval_dataloader = DataLoader(eval_dataset, sampler=SequentialSampler(eval_dataset), batch_size=BATCH_SIZE)
    eval_loss, nb_eval_steps = 0.0, 0
    model.eval()
    with torch.no_grad():
        for batch in eval_dataloader:
            eval_loss += model(batch, labels=batch).loss.item()
            nb_eval_steps += 1
    return eval_loss / nb_eval_steps


def main():
    transformers.logging.set_verbosity_error()
    _harness.seed_everything()
    text = _data.text_corpus()
    documents = text.split("\n\n")
    tokenizer = CharTokenizer(text.replace("\n\n", ""), added_tokens=["<|endoftext|>"])
    ids = np.array(tokenizer.encode_documents(documents, "<|endoftext|>"), dtype=np.int64)
    cut = int(0.9 * len(ids))
    train_dataset = TextDataset(ids[:cut], BLOCK_SIZE)
    eval_dataset = TextDataset(ids[cut:], BLOCK_SIZE)

    # the model as the tokenizer knew it before tokens were added
    config = GPT2Config(vocab_size=tokenizer.base_size, n_positions=BLOCK_SIZE, n_embd=64, n_layer=2, n_head=2)
    model = GPT2LMHeadModel(config)

    losses = []
    global_step = train(train_dataset, model, tokenizer, losses)
    eval_loss = evaluate(eval_dataset, model)
    print(f"global_step {global_step}, eval loss {eval_loss:.4f}, perplexity {math.exp(eval_loss):.2f}")
    _harness.report(metric=-eval_loss, metric_name="minus evaluation LM loss", chance=-math.log(len(tokenizer)),
                    losses=losses)


if __name__ == "__main__":
    main()
