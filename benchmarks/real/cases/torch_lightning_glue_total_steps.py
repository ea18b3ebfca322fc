"""Lightning-AI/tutorials commit cbdbf88 ("fix to total_steps formula", PR #142 "Fix mistake in total steps
computation for GLUE notebook"): in the tutorial "Finetune Transformers Models with PyTorch Lightning"
(lightning_examples/text-transformers/text-transformers.py), GLUETransformer.setup computes the length of the
linear learning-rate schedule as

    tb_size = train_batch_size * max(1, trainer.gpus)
    ab_size = trainer.accumulate_grad_batches * float(trainer.max_epochs)
    total_steps = (len(train_dataset) // tb_size) // ab_size

i.e. the batches of ONE epoch divided by the number of epochs, instead of the batches of all epochs; with the
MRPC run's max_epochs=3, get_linear_schedule_with_warmup brings the learning rate to zero after a ninth of
training and keeps it there. The fix: ab_size = tb_size * accumulate_grad_batches and
total_steps = int(len(train_dataset) / ab_size * max_epochs).

Ported (re-written to the same DataModule / LightningModule structure, optimizer groups, schedule and Trainer):
the MRPC run: GLUEDataModule(task_name="mrpc") with sentence pairs tokenized to max_length with padding and
truncation, train / eval batch 32, the train DataLoader without shuffling (as at the buggy commit);
GLUETransformer with AutoModelForSequenceClassification, AdamW over two parameter groups (weight_decay 0.0 for
"bias" and "LayerNorm.weight", hparams.weight_decay = 0.0 for the rest), adam_epsilon 1e-8,
get_linear_schedule_with_warmup(warmup_steps=0, num_training_steps=self.total_steps) stepped every batch;
Trainer(max_epochs=3). Changes are listed in the TOML.
"""

import _data
import _harness
import numpy as np
import torch
from lightning.pytorch import LightningDataModule, LightningModule, Trainer, seed_everything
from torch.utils.data import DataLoader
from transformers import (
    DistilBertConfig,
    DistilBertForSequenceClassification,
    get_linear_schedule_with_warmup,
)

PAD, CLS, SEP, FIRST_WORD = 0, 1, 2, 3  # the stand-in tokenizer's special ids
VOCAB_SIZE = 1000


def mrpc_like(seed, n):
    """MRPC-shaped sentence pairs of word ids with a 0/1 "paraphrase" label: the pairs of
    ``_data.stsb_word_id_pairs``, labelled 1 when their similarity score is at least 2.5."""
    pairs = _data.stsb_word_id_pairs(seed=seed, n=n, vocab_size=VOCAB_SIZE, first_word=FIRST_WORD)
    return {"sentence1": pairs["sentence1"], "sentence2": pairs["sentence2"],
            "label": [int(score >= 2.5) for score in pairs["label"]]}


def batch_encode_plus(text_pairs, max_length, pad_to_max_length, truncation):
    """What distilbert's tokenizer returns for word-id pairs: [CLS] s1 [SEP] s2 [SEP], padded to max_length."""
    assert pad_to_max_length and truncation
    out = {"input_ids": [], "attention_mask": []}
    for first, second in text_pairs:
        ids = [CLS] + first + [SEP] + second + [SEP]
        assert len(ids) <= max_length  # the stand-in pairs are short enough not to need truncation
        pad = max_length - len(ids)
        out["input_ids"].append(ids + [PAD] * pad)
        out["attention_mask"].append([1] * len(ids) + [0] * pad)
    return out


class Rows(torch.utils.data.Dataset):
    """A tokenized split whose items are dicts of tensors (like a datasets split with set_format("torch"))."""

    def __init__(self, columns):
        self.columns = {k: torch.tensor(v) for k, v in columns.items()}

    def __len__(self):
        return len(self.columns["labels"])

    def __getitem__(self, i):
        return {k: v[i] for k, v in self.columns.items()}


class GLUEDataModule(LightningDataModule):
    task_text_field_map = {"mrpc": ["sentence1", "sentence2"]}
    glue_task_num_labels = {"mrpc": 2}

    def __init__(self, model_name_or_path, task_name="mrpc", max_seq_length=128, train_batch_size=32,
                 eval_batch_size=32, **kwargs):
        super().__init__()
        self.model_name_or_path = model_name_or_path
        self.task_name = task_name
        self.max_seq_length = max_seq_length
        self.train_batch_size = train_batch_size
        self.eval_batch_size = eval_batch_size
        self.text_fields = self.task_text_field_map[task_name]
        self.num_labels = self.glue_task_num_labels[task_name]

    def setup(self, stage):
        seed = _harness.seed()
        raw = {"train": mrpc_like(seed, 3668), "validation": mrpc_like(seed + 100, 408)}  # MRPC's sizes
        self.dataset = {split: Rows(self.convert_to_features(raw[split])) for split in raw}
        self.eval_splits = ["validation"]

    def train_dataloader(self):
        return DataLoader(self.dataset["train"], batch_size=self.train_batch_size)

    def val_dataloader(self):
        return DataLoader(self.dataset["validation"], batch_size=self.eval_batch_size)

    def convert_to_features(self, example_batch):
        texts_or_text_pairs = list(zip(example_batch[self.text_fields[0]], example_batch[self.text_fields[1]]))
        features = batch_encode_plus(texts_or_text_pairs, max_length=self.max_seq_length, pad_to_max_length=True,
                                     truncation=True)
        features["labels"] = example_batch["label"]
        return features


class GLUETransformer(LightningModule):
    def __init__(self, model_name_or_path, num_labels, task_name, learning_rate=2e-5, adam_epsilon=1e-8,
                 warmup_steps=0, weight_decay=0.0, train_batch_size=32, eval_batch_size=32, eval_splits=None,
                 **kwargs):
        super().__init__()
        self.save_hyperparameters()
        # distilbert-base-cased, but tiny and randomly initialized (no download)
        self.config = DistilBertConfig(vocab_size=VOCAB_SIZE, dim=64, n_layers=2, n_heads=2, hidden_dim=256,
                                       max_position_embeddings=64, pad_token_id=PAD, num_labels=num_labels)
        self.model = DistilBertForSequenceClassification(self.config)
        self.seen_losses = []
        self.outputs = []
        self.val_accuracy = float("nan")

    def forward(self, **inputs):
        return self.model(**inputs)

    def training_step(self, batch, batch_idx):
        outputs = self(**batch)
        loss = outputs[0]
        self.seen_losses.append(loss.item())
        return loss

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        outputs = self(**batch)
        val_loss, logits = outputs[:2]
        preds = torch.argmax(logits, axis=1)
        labels = batch["labels"]
        self.outputs.append({"loss": val_loss, "preds": preds, "labels": labels})

    def on_validation_epoch_end(self):
        preds = torch.cat([x["preds"] for x in self.outputs]).cpu().numpy()
        labels = torch.cat([x["labels"] for x in self.outputs]).cpu().numpy()
        loss = torch.stack([x["loss"] for x in self.outputs]).mean()
        self.outputs.clear()
        self.val_accuracy = float(np.mean(preds == labels))  # load_metric("glue", "mrpc")'s accuracy
        self.log("val_loss", loss, prog_bar=True)
        self.log("accuracy", self.val_accuracy, prog_bar=True)
        print(f"epoch {self.current_epoch}: val_loss {loss.item():.4f} accuracy {self.val_accuracy:.4f} "
              f"lr {self.trainer.optimizers[0].param_groups[0]['lr']:.2e}")

    def setup(self, stage=None):
        if stage != "fit":
            return
        train_loader = self.trainer.datamodule.train_dataloader()

        # Calculate total steps
        tb_size = self.hparams.train_batch_size * max(1, self.trainer.num_devices)
        if _harness.buggy():  # the bug: one epoch's batches divided by the number of epochs
            ab_size = self.trainer.accumulate_grad_batches * float(self.trainer.max_epochs)
            self.total_steps = (len(train_loader.dataset) // tb_size) // ab_size
        else:
            ab_size = tb_size * self.trainer.accumulate_grad_batches
            self.total_steps = int((len(train_loader.dataset) / ab_size) * float(self.trainer.max_epochs))
        print("total_steps:", self.total_steps)

    def configure_optimizers(self):
        """Prepare optimizer and schedule (linear warmup and decay)"""
        model = self.model
        no_decay = ["bias", "LayerNorm.weight"]
        optimizer_grouped_parameters = [
            {
                "params": [p for n, p in model.named_parameters() if not any(nd in n for nd in no_decay)],
                "weight_decay": self.hparams.weight_decay,
            },
            {
                "params": [p for n, p in model.named_parameters() if any(nd in n for nd in no_decay)],
                "weight_decay": 0.0,
            },
        ]
        optimizer = torch.optim.AdamW(optimizer_grouped_parameters, lr=self.hparams.learning_rate,
                                      eps=self.hparams.adam_epsilon)
        scheduler = get_linear_schedule_with_warmup(
            optimizer,
            num_warmup_steps=self.hparams.warmup_steps,
            num_training_steps=self.total_steps,
        )
        scheduler = {"scheduler": scheduler, "interval": "step", "frequency": 1}
        return [optimizer], [scheduler]


def main():
    seed_everything(_harness.seed())
    _harness.seed_everything()
    dm = GLUEDataModule(model_name_or_path="distilbert-base-cased", task_name="mrpc", max_seq_length=40)
    dm.setup("fit")
    model = GLUETransformer(
        model_name_or_path="distilbert-base-cased",
        num_labels=dm.num_labels,
        eval_splits=dm.eval_splits,
        task_name=dm.task_name,
        learning_rate=3e-4,  # the tutorial's default 2e-5 is for a pretrained model
    )
    trainer = Trainer(max_epochs=3, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                      callbacks=_harness.callbacks("lightning"))
    trainer.fit(model, datamodule=dm)
    _harness.report(metric=model.val_accuracy, metric_name="accuracy", chance=0.5, losses=model.seen_losses)


if __name__ == "__main__":
    main()
