import hashlib
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments, set_seed

torch.manual_seed(0)
np.random.seed(0)
set_seed(0)

SEQ = 16


def make(n, seed):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(10, 100, (n, SEQ), generator=g)
    lab = (torch.rand(n, generator=g) < 0.3).long()  # 30% positive -> imbalanced
    pos = torch.randint(1, SEQ, (n,), generator=g)
    ids[lab == 1, pos[lab == 1]] = 7  # label = "token 7 appears"
    ids[:, 0] = 2  # [CLS]-like token
    return [
        {"input_ids": i, "attention_mask": torch.ones(SEQ, dtype=torch.long), "labels": label}
        for i, label in zip(ids, lab, strict=False)
    ]


train, evals = make(2000, 0), make(400, 1)


class WeightedTrainer(Trainer):
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        w = torch.tensor([1.0, 2.3], device=outputs.logits.device)
        loss = F.cross_entropy(outputs.logits, labels, weight=w)
        return (loss, outputs) if return_outputs else loss


def metrics(p):
    return {"accuracy": float((p.predictions.argmax(-1) == p.label_ids).mean())}


cfg = BertConfig(
    vocab_size=100,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    max_position_embeddings=64,
    num_labels=2,
)
model = BertForSequenceClassification(cfg)
args = TrainingArguments(
    output_dir=tempfile.mkdtemp(),
    per_device_train_batch_size=32,
    per_device_eval_batch_size=128,
    num_train_epochs=6,
    learning_rate=2e-3,
    warmup_steps=20,
    eval_strategy="steps",
    eval_steps=100,
    logging_steps=50,
    save_strategy="no",
    report_to=[],
    seed=0,
    use_cpu=True,
    disable_tqdm=True,
)
tr = WeightedTrainer(model=model, args=args, train_dataset=train, eval_dataset=evals, compute_metrics=metrics)
tr.train()
res = tr.evaluate()
print("final acc {:.4f} eval_loss {:.4f}".format(res["eval_accuracy"], res["eval_loss"]))
print(
    "hash",
    hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.parameters())).hexdigest()[:16],
)
