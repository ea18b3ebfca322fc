"""huggingface/transformers issue #5987 ("Possible bug in preparing decoder_input_ids for T5 in seq2seq
finetune.py"), fixed by PR #5994: the Lightning-based examples/seq2seq/finetune.py built the decoder inputs as
`target_ids[:, :-1]` and the labels as `target_ids[:, 1:]`. That suits BART, whose tokenized targets start
with `<s>`, but T5 targets carry no start token: the first target token is never a label, and the decoder is
never fed T5's decoder start token (pad), which is what `generate` starts from. The fix, for T5, feeds
`model._shift_right(target_ids)` and uses all of `target_ids` as labels.

Ported (re-written with the example's SummarizationModule training step): a LightningModule whose `_step`
computes the decoder inputs and labels as above, runs the model with `decoder_input_ids` and
`CrossEntropyLoss(ignore_index=pad)` on the logits (label_smoothing 0), `training_step` returns
{"loss": loss}, lightning_base's optimizer (AdamW over the no-decay parameter groups, weight_decay 0, eps 1e-8;
torch.optim.AdamW for the removed transformers.AdamW) with its linear schedule stepped every batch
(warmup_steps 0), a shuffled train DataLoader, Lightning's `Trainer.fit`, and greedy `generate` from the config's decoder start token for
evaluation. A tiny random `T5Config` replaces the pretrained t5-small (no download here), the local
English -> French stand-in `_data.fra_eng_text` (3,000 pairs: 2,800 train, 200 held out) replaces the
translation data, and a word-level stand-in tokenizer (pad 0, eos 1 appended to every sentence, unk 2)
replaces the T5 tokenizer. The reported measure is the mean sentence BLEU-2 (the example reports BLEU for
translation) of the greedy translations of the held-out sentences, special tokens stripped.
"""

import collections
import math

import _data
import _harness
import lightning.pytorch as pl
import numpy as np
import torch
import transformers
from torch.utils.data import DataLoader
from transformers import T5Config, T5ForConditionalGeneration, get_linear_schedule_with_warmup

PAD, EOS, UNK = _data.T5WordTokenizer.PAD, _data.T5WordTokenizer.EOS, _data.T5WordTokenizer.UNK



class Seq2SeqDataset(torch.utils.data.Dataset):
    def __init__(self, pairs, tokenizer):
        self.pairs, self.tokenizer = pairs, tokenizer

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, index):
        return self.pairs[index]

    def collate_fn(self, batch):
        input_ids, attention_mask = self.tokenizer([src for src, _ in batch])
        target_ids, _ = self.tokenizer([tgt for _, tgt in batch])
        return {"input_ids": input_ids, "attention_mask": attention_mask, "decoder_input_ids": target_ids}


class SummarizationModule(pl.LightningModule):
    def __init__(self, model, tokenizer, train_pairs, learning_rate=1e-3, train_batch_size=32):
        super().__init__()
        self.model, self.tokenizer = model, tokenizer
        self.train_pairs = train_pairs
        self.learning_rate, self.train_batch_size = learning_rate, train_batch_size
        self.losses = []

    def forward(self, input_ids, **kwargs):
        return self.model(input_ids, **kwargs)

    def _step(self, batch):
        pad_token_id = self.tokenizer.pad_token_id
        source_ids, source_mask, target_ids = batch["input_ids"], batch["attention_mask"], batch["decoder_input_ids"]
        if _harness.buggy():  # the bug: BART-style shift, no decoder start token for T5, first target token lost
            decoder_input_ids = target_ids[:, :-1].contiguous()
            lm_labels = target_ids[:, 1:].clone()
        else:  # PR #5994
            decoder_input_ids = self.model._shift_right(target_ids)
            lm_labels = target_ids
        outputs = self(source_ids, attention_mask=source_mask, decoder_input_ids=decoder_input_ids, use_cache=False)
        lm_logits = outputs[0]
        ce_loss_fct = torch.nn.CrossEntropyLoss(ignore_index=pad_token_id)
        loss = ce_loss_fct(lm_logits.view(-1, lm_logits.shape[-1]), lm_labels.reshape(-1))
        return (loss,)

    def training_step(self, batch, batch_idx):
        loss = self._step(batch)[0]
        self.losses.append(loss.item())
        self.log("loss", loss)
        return {"loss": loss}

    def configure_optimizers(self):
        no_decay = ["bias", "LayerNorm.weight"]
        optimizer_grouped_parameters = [
            {"params": [p for n, p in self.model.named_parameters() if not any(nd in n for nd in no_decay)],
             "weight_decay": 0.0},
            {"params": [p for n, p in self.model.named_parameters() if any(nd in n for nd in no_decay)],
             "weight_decay": 0.0},
        ]
        optimizer = torch.optim.AdamW(optimizer_grouped_parameters, lr=self.learning_rate, eps=1e-8)
        scheduler = get_linear_schedule_with_warmup(optimizer, num_warmup_steps=0,
                                                    num_training_steps=self.trainer.estimated_stepping_batches)
        return [optimizer], [{"scheduler": scheduler, "interval": "step", "frequency": 1}]

    def train_dataloader(self):
        dataset = Seq2SeqDataset(self.train_pairs, self.tokenizer)
        return DataLoader(dataset, batch_size=self.train_batch_size, collate_fn=dataset.collate_fn, shuffle=True)


def bleu(pred_tokens, label_tokens, k=2):
    """Sentence BLEU with uniform weights over 1..k-grams and the brevity penalty (0 if too short)."""
    if len(pred_tokens) < k:
        return 0.0
    score = math.exp(min(0.0, 1 - len(label_tokens) / len(pred_tokens)))
    for n in range(1, k + 1):
        ref_counts = collections.Counter(tuple(label_tokens[i:i + n]) for i in range(len(label_tokens) - n + 1))
        hyp_counts = collections.Counter(tuple(pred_tokens[i:i + n]) for i in range(len(pred_tokens) - n + 1))
        matches = sum(min(c, ref_counts[g]) for g, c in hyp_counts.items())
        score *= (matches / (len(pred_tokens) - n + 1)) ** (1.0 / k)
    return score


def main():
    transformers.logging.set_verbosity_error()
    _harness.seed_everything()
    pairs = [line.split("\t") for line in _data.fra_eng_text(seed=_harness.seed(), n=3000).splitlines()]
    train_pairs, test_pairs = pairs[:2800], pairs[2800:]
    tokenizer = _data.T5WordTokenizer([s for pair in train_pairs for s in pair])

    config = T5Config(vocab_size=len(tokenizer), d_model=64, d_kv=32, d_ff=128, num_layers=2, num_heads=2,
                      pad_token_id=PAD, eos_token_id=EOS, decoder_start_token_id=PAD, dropout_rate=0.1)
    module = SummarizationModule(T5ForConditionalGeneration(config), tokenizer, train_pairs)
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=4, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         callbacks=_harness.callbacks("lightning"))
    trainer.fit(module)

    # held-out greedy translations (generate starts from the decoder start token), scored like the example's
    # translation metric (BLEU) with a mean sentence BLEU-2 over the words (special tokens stripped)
    model = module.model.eval()
    scores = []
    with torch.no_grad():
        for start in range(0, len(test_pairs), 50):
            batch = test_pairs[start:start + 50]
            input_ids, attention_mask = tokenizer([src for src, _ in batch])
            references, _ = tokenizer([tgt for _, tgt in batch])
            generated = model.generate(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=16,
                                       do_sample=False, num_beams=1)
            for hyp, ref in zip(generated.tolist(), references.tolist()):
                hyp = [t for t in hyp if t > UNK]
                ref = [t for t in ref if t > UNK]
                scores.append(bleu(hyp, ref))
    score = float(np.mean(scores))
    print(f"held-out mean sentence BLEU-2 {score:.4f}; last losses {np.mean(module.losses[-20:]):.4f}")
    _harness.report(metric=score, metric_name="held-out mean sentence BLEU-2 (greedy generate)", chance=0.0,
                    losses=module.losses)


if __name__ == "__main__":
    main()
