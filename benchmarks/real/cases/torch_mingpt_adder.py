"""karpathy/minGPT `projects/adder/adder.py` (+ `mingpt/model.py`, `mingpt/trainer.py`): a GPT learns to add
two 2-digit numbers.

Ported (re-written to the same data, model, loss, optimizer and loop): each problem a + b is the digit string
of a, b and the reversed 3-digit sum; the targets of the first 2*ndigit-1 positions are -1 so the loss
(`F.cross_entropy(..., ignore_index=-1)` inside `forward()`) only covers the answer. The model is minGPT's
`gpt-nano` (3 layers, 3 heads, 48 dims, vocabulary 10, block 6): embedding + position embedding + dropout
0.1, pre-LayerNorm blocks with explicit masked self-attention, the tanh-approximation `NewGELU` MLP, final
LayerNorm and a bias-free `lm_head`; weights N(0, 0.02), LayerNorm (1, 0), and N(0, 0.02/sqrt(2*n_layer))
on every `c_proj.weight`. `configure_optimizers` decays only Linear weights (0.1) in one AdamW (lr 5e-4 as
the project sets it, betas (0.9, 0.95)); the minGPT `Trainer` loop draws batches of 64 from a
`RandomSampler` with replacement, zeroes with `set_to_none=True`, clips the gradient norm at 1.0 and steps.
Scored as the project does (greedy completion of the test problems, exact sums).

Changes: the data are the program's own (generated, no download); `max_iters` 1,200 instead of unbounded
(the project runs until stopped); DataLoader workers 0 instead of 4; the test split is scored once at the
end instead of every 500 iterations with checkpoint saving; no work-dir logging. The model and the trainer are
`_mingpt.py`, shared with the chargpt port as upstream's projects share `mingpt/` (its `generate` also crops
to `top_k`, unused here).
"""

import _harness
import torch
from _mingpt import GPT, Trainer
from torch.utils.data import Dataset
from torch.utils.data.dataloader import DataLoader


class AdditionDataset(Dataset):
    """n-digit addition problems "a b reversed(a+b)" (e.g. 85 + 50 = 135 -> "8550531")."""

    def __init__(self, ndigit, split):
        self.ndigit = ndigit
        num = (10 ** ndigit) ** 2
        rng = torch.Generator()
        rng.manual_seed(1337)
        perm = torch.randperm(num, generator=rng)
        num_test = min(int(num * 0.2), 500)
        self.ixes = perm[:num_test] if split == "test" else perm[num_test:]

    def get_vocab_size(self):
        return 10

    def get_block_size(self):
        return 3 * self.ndigit + 1 - 1

    def __len__(self):
        return self.ixes.nelement()

    def __getitem__(self, idx):
        ndigit = self.ndigit
        idx = self.ixes[idx].item()
        nd = 10 ** ndigit
        a, b = idx // nd, idx % nd
        c = a + b
        render = f"%0{ndigit}d" % a + f"%0{ndigit}d" % b + (f"%0{ndigit + 1}d" % c)[::-1]
        dix = [int(s) for s in render]
        x = torch.tensor(dix[:-1], dtype=torch.long)
        y = torch.tensor(dix[1:], dtype=torch.long)
        y[:ndigit * 2 - 1] = -1  # only train on the output locations
        return x, y


def main():
    _harness.seed_everything()
    ndigit = 2
    train_dataset = AdditionDataset(ndigit, split="train")
    test_dataset = AdditionDataset(ndigit, split="test")

    model_config = GPT.get_default_config()
    model_config.model_type = "gpt-nano"
    model_config.vocab_size = train_dataset.get_vocab_size()
    model_config.block_size = train_dataset.get_block_size()
    model = GPT(model_config)

    trainer_config = Trainer.get_default_config()
    trainer_config.learning_rate = 5e-4
    trainer_config.max_iters = 1200
    trainer = Trainer(trainer_config, model, train_dataset)

    def eval_split(dataset):
        factors = torch.tensor([[10 ** i for i in range(ndigit + 1)][::-1]])
        results = []
        for x, _y in DataLoader(dataset, batch_size=100, num_workers=0, drop_last=False):
            d1d2 = x[:, :ndigit * 2]
            d1d2d3 = model.generate(d1d2, ndigit + 1, do_sample=False)
            d3 = d1d2d3[:, -(ndigit + 1):].flip(1)
            d1i = (d1d2[:, :ndigit] * factors[:, 1:]).sum(1)
            d2i = (d1d2[:, ndigit:ndigit * 2] * factors[:, 1:]).sum(1)
            results.extend((d3 * factors).sum(1).eq(d1i + d2i).int().tolist())
        return sum(results) / len(results)

    losses = []

    def batch_end_callback(trainer):
        losses.append(trainer.loss.item())
        if trainer.iter_num % 100 == 0:
            print(f"iter {trainer.iter_num}: train loss {trainer.loss.item():.5f}")

    trainer.callbacks.append(batch_end_callback)
    trainer.run()
    model.eval()
    accuracy = eval_split(test_dataset)
    print(f"test final score: {accuracy:.2%} correct")
    # chance: a guess of the 3-digit sum among its 199 possible values
    _harness.report(metric=accuracy, metric_name="test exact-sum accuracy", chance=1 / 199, losses=losses)


if __name__ == "__main__":
    main()
