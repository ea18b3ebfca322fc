"""pytorch/tutorials `beginner_source/text_sentiment_ngrams_tutorial.py` (Text classification with the
torchtext library): AG_NEWS news topics with an EmbeddingBag + Linear model.

Ported (re-written to the same model, initialisation, loss, optimizer, gradient clipping, scheduler and loop):
TextClassificationModel = nn.EmbeddingBag(vocab_size, 64) (mode "mean", offsets instead of padding) followed by
nn.Linear(64, 4), both weights uniform(-0.5, 0.5) and the bias zero; nn.CrossEntropyLoss; SGD lr 5;
clip_grad_norm_(parameters, 0.1) before every step; StepLR(step_size 1, gamma 0.1) stepped only after an epoch
whose validation accuracy fell below the best so far; batch 64; 95 / 5 random_split of the training set into
train / valid; collate_batch concatenates the token ids and records each text's offset.
The AG_NEWS download (and the basic_english tokenizer / vocabulary built from it) becomes documents that are
already lists of word ids (``_data._token_documents``: Zipf-distributed words with a few frequent cue words per
topic), labels 1..4 mapped by label_pipeline to 0..3.
"""

import time

import _data
import _harness
import torch
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.data.dataset import random_split

_harness.seed_everything()

device = torch.device("cpu")

# AG_NEWS stand-in: (label 1..4, list of word ids) pairs; the vocabulary is the id range
VOCAB_SIZE = 5000
docs, topics = _data._token_documents(_harness.seed() + 7000, 12000 + 2000, VOCAB_SIZE, 4, (15, 60), 15, 0.06)
samples = [(int(t) + 1, d) for t, d in zip(topics, docs, strict=True)]
train_dataset, test_dataset = samples[:12000], samples[12000:]

text_pipeline = lambda x: x  # noqa: E731  (the stand-in texts are already word ids)
label_pipeline = lambda x: int(x) - 1  # noqa: E731


def collate_batch(batch):
    label_list, text_list, offsets = [], [], [0]
    for _label, _text in batch:
        label_list.append(label_pipeline(_label))
        processed_text = torch.tensor(text_pipeline(_text), dtype=torch.int64)
        text_list.append(processed_text)
        offsets.append(processed_text.size(0))
    label_list = torch.tensor(label_list, dtype=torch.int64)
    offsets = torch.tensor(offsets[:-1]).cumsum(dim=0)
    text_list = torch.cat(text_list)
    return label_list.to(device), text_list.to(device), offsets.to(device)


class TextClassificationModel(nn.Module):
    def __init__(self, vocab_size, embed_dim, num_class):
        super().__init__()
        self.embedding = nn.EmbeddingBag(vocab_size, embed_dim, sparse=False)
        self.fc = nn.Linear(embed_dim, num_class)
        self.init_weights()

    def init_weights(self):
        initrange = 0.5
        self.embedding.weight.data.uniform_(-initrange, initrange)
        self.fc.weight.data.uniform_(-initrange, initrange)
        self.fc.bias.data.zero_()

    def forward(self, text, offsets):
        embedded = self.embedding(text, offsets)
        return self.fc(embedded)


num_class = len({label for (label, text) in train_dataset})
vocab_size = VOCAB_SIZE
emsize = 64
model = TextClassificationModel(vocab_size, emsize, num_class).to(device)

losses = []


def train(dataloader):
    model.train()
    total_acc, total_count = 0, 0
    log_interval = 50
    for idx, (label, text, offsets) in enumerate(dataloader):
        optimizer.zero_grad()
        predicted_label = model(text, offsets)
        loss = criterion(predicted_label, label)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
        optimizer.step()
        losses.append(loss.item())
        total_acc += (predicted_label.argmax(1) == label).sum().item()
        total_count += label.size(0)
        if idx % log_interval == 0 and idx > 0:
            print(f"| epoch {epoch:3d} | {idx:5d}/{len(dataloader):5d} batches | accuracy {total_acc / total_count:8.3f}")
            total_acc, total_count = 0, 0


def evaluate(dataloader):
    model.eval()
    total_acc, total_count = 0, 0
    with torch.no_grad():
        for label, text, offsets in dataloader:
            predicted_label = model(text, offsets)
            criterion(predicted_label, label)
            total_acc += (predicted_label.argmax(1) == label).sum().item()
            total_count += label.size(0)
    return total_acc / total_count


EPOCHS = 10
LR = 5
BATCH_SIZE = 64

criterion = torch.nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=LR)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1.0, gamma=0.1)
total_accu = None
num_train = int(len(train_dataset) * 0.95)
split_train_, split_valid_ = random_split(train_dataset, [num_train, len(train_dataset) - num_train])

train_dataloader = DataLoader(split_train_, batch_size=BATCH_SIZE, shuffle=True, collate_fn=collate_batch)
valid_dataloader = DataLoader(split_valid_, batch_size=BATCH_SIZE, shuffle=True, collate_fn=collate_batch)
test_dataloader = DataLoader(test_dataset, batch_size=BATCH_SIZE, shuffle=True, collate_fn=collate_batch)

for epoch in range(1, EPOCHS + 1):
    epoch_start_time = time.time()
    train(train_dataloader)
    accu_val = evaluate(valid_dataloader)
    if total_accu is not None and total_accu > accu_val:
        scheduler.step()
    else:
        total_accu = accu_val
    print(f"| end of epoch {epoch:3d} | time: {time.time() - epoch_start_time:5.2f}s | valid accuracy {accu_val:8.3f} ")

accu_test = evaluate(test_dataloader)
print(f"test accuracy {accu_test:8.3f}")

_harness.report(metric=accu_test, metric_name="accuracy", chance=0.25, losses=losses)
