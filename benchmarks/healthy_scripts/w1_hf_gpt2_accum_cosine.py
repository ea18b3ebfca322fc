import hashlib
import random
import tempfile

import numpy as np
import torch
from torch.utils.data import Dataset
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments, set_seed

torch.set_num_threads(1)
set_seed(0)
torch.manual_seed(0)
np.random.seed(0)
random.seed(0)


class PatternData(Dataset):
    def __init__(self, n, seqlen=16, seed=0):
        rng = np.random.RandomState(seed)
        self.items = []
        for _ in range(n):
            start, step = rng.randint(0, 64), rng.randint(1, 4)
            seq = (start + step * np.arange(seqlen)) % 64  # arithmetic progression mod 64
            self.items.append(torch.tensor(seq, dtype=torch.long))

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return {"input_ids": self.items[i], "labels": self.items[i].clone()}


train_ds, eval_ds = PatternData(768, seed=0), PatternData(128, seed=1)
cfg = GPT2Config(n_embd=32, n_layer=2, n_head=2, vocab_size=64, n_positions=64)
model = GPT2LMHeadModel(cfg)

args = TrainingArguments(
    output_dir=tempfile.mkdtemp(prefix="w1-"),
    per_device_train_batch_size=16,
    per_device_eval_batch_size=64,
    gradient_accumulation_steps=4,
    num_train_epochs=40,
    learning_rate=3e-3,
    warmup_steps=0.1,  # transformers 5: float = warmup ratio (warmup_ratio removed)
    lr_scheduler_type="cosine",
    eval_strategy="steps",
    eval_steps=60,
    logging_steps=30,
    save_strategy="no",
    report_to=[],
    seed=0,
    use_cpu=True,
    disable_tqdm=True,
)
trainer = Trainer(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds)
trainer.train()
ev = trainer.evaluate()
print("final eval_loss {:.4f}".format(ev["eval_loss"]))
model.eval()
with torch.no_grad():
    ids = torch.stack([eval_ds[i]["input_ids"] for i in range(len(eval_ds))])
    pred = model(ids).logits.argmax(-1)[:, 3:-1]
    acc = (pred == ids[:, 4:]).float().mean().item()
print(f"next-token acc after pos 4: {acc:.4f}")
print(
    "hash",
    hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.parameters())).hexdigest()[:16],
)
