"""Lightning `examples/pytorch/basics/transformer.py`: a word-level Transformer language model trained with
the Lightning Trainer.

Ported (re-written around the same library model, loss, optimizer and Trainer settings): the model is
Lightning's own demo `lightning.pytorch.demos.Transformer(vocab_size=...)`, imported from the installed
library exactly as the example does (an `nn.Transformer` encoder-decoder, 2+2 layers, d_model 200, 2 heads,
feed-forward 200, dropout 0.2, `log_softmax` output; the example feeds the target sequence to its decoder
under a causal mask, see Lightning issue #20920); `training_step` / `validation_step` / `test_step` compute
`F.nll_loss(output, target.view(-1))`; `configure_optimizers` returns SGD lr 0.1; batches of 20 sequences of
35 words; `Trainer(gradient_clip_val=0.25)`, then `trainer.test`.

Changes: `WikiText2()` (which downloads Wikitext-2's train.txt) becomes a dataset of the same shape built from
the first 250,000 characters of the local English text stand-in (`_data.text_corpus`, same word-level
tokenization with `<eos>` per line, 35 words per item); the random split [n-4000, 2000, 2000] becomes
[n-400, 200, 200]; 1 epoch instead of 20; `L.seed_everything(42)` becomes the benchmark's seed; CPU, no
logger, checkpoints or progress bar. The measure is minus the test loss (`trainer.test`), its chance level
minus ln(vocabulary size).
"""

import math

import _data
import _harness
import lightning as L  # noqa: N812
import torch
import torch.nn.functional as F  # noqa: N812
from lightning.pytorch.demos import Transformer
from torch.utils.data import DataLoader, Dataset, random_split


class TextBlocks(Dataset):
    """Like `lightning.pytorch.demos.WikiText2`: the corpus as word ids, items of `block_size` words."""

    def __init__(self, text, block_size=35):
        self.word2idx = {}
        ids = []
        for line in text.splitlines():
            for word in line.split() + ["<eos>"]:
                ids.append(self.word2idx.setdefault(word, len(self.word2idx)))
        self.data = torch.tensor(ids, dtype=torch.int64)
        self.block_size = block_size

    @property
    def vocab_size(self):
        return len(self.word2idx)

    def __len__(self):
        return len(self.data) // self.block_size - 1

    def __getitem__(self, index):
        start = index * self.block_size
        end = start + self.block_size
        return self.data[start:end], self.data[start + 1:end + 1]


class LanguageModel(L.LightningModule):
    def __init__(self, vocab_size):
        super().__init__()
        self.model = Transformer(vocab_size=vocab_size)
        self.seen_losses = []

    def training_step(self, batch, batch_idx):
        input, target = batch
        output = self.model(input, target)
        loss = F.nll_loss(output, target.view(-1))
        self.log("train_loss", loss, prog_bar=True)
        self.seen_losses.append(loss.item())
        return loss

    def validation_step(self, batch, batch_idx):
        input, target = batch
        output = self.model(input, target)
        loss = F.nll_loss(output, target.view(-1))
        self.log("val_loss", loss, prog_bar=True)
        return loss

    def test_step(self, batch, batch_idx):
        input, target = batch
        output = self.model(input, target)
        loss = F.nll_loss(output, target.view(-1))
        self.log("test_loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def main():
    _harness.seed_everything()
    dataset = TextBlocks(_data.text_corpus()[:250_000])
    n = len(dataset)
    train_dataset, val_dataset, test_dataset = random_split(dataset, [n - 400, 200, 200])
    train_dataloader = DataLoader(train_dataset, batch_size=20, shuffle=True)
    val_dataloader = DataLoader(val_dataset, batch_size=20, shuffle=False)
    test_dataloader = DataLoader(test_dataset, batch_size=20, shuffle=False)

    model = LanguageModel(vocab_size=dataset.vocab_size)
    trainer = L.Trainer(gradient_clip_val=0.25, max_epochs=1, accelerator="cpu", devices=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        callbacks=_harness.callbacks("lightning"))
    trainer.fit(model, train_dataloader, val_dataloader)
    test_loss = trainer.test(model, test_dataloader)[0]["test_loss"]
    _harness.report(metric=-test_loss, metric_name="minus test loss", chance=-math.log(dataset.vocab_size),
                    losses=model.seen_losses)


if __name__ == "__main__":
    main()
