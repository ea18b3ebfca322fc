"""pytorch/tutorials `intermediate_source/char_rnn_generation_tutorial.py` (NLP From Scratch: Generating
Names with a Character-Level RNN): a hand-made conditional RNN reads (language one-hot, current letter
one-hot, hidden) and predicts the next letter: i2h and i2o Linear layers on the concatenation, o2o on
(hidden, output), Dropout(0.1), LogSoftmax; nn.NLLLoss summed over the letters of one random (language, name)
pair per step, `rnn.zero_grad()`, `loss.backward()`, and the hand-written update `p.data.add_(-lr, p.grad)`
with learning_rate 0.0005.

Ported (re-written to the same model, loss, update and loop; the tutorial version with the Variable API, whose
letters are string.ascii_letters + " .,;'-" plus an EOS marker): the data/names download (18 languages)
becomes the name-like strings the benchmark generates per language from language-specific letter statistics
(`_data.names_by_language`), 100 names per language held out; 10,000 iterations instead of 100,000; the loss
plot and the sampled names go. Measure (task generative): minus the mean next-letter NLL (EOS included) on the
held-out names, in eval mode; chance: minus log(n_letters), a uniform guess.
"""

import math
import random
import string

import _data
import _harness
import torch
from torch import nn

N_ITERS = 10000

all_letters = string.ascii_letters + " .,;'-"
n_letters = len(all_letters) + 1  # plus the EOS marker

seed = _harness.seed_everything()
lines_by_language = _data.names_by_language(seed)
all_categories = list(_data.LANGUAGES)
n_categories = len(all_categories)
category_lines, held_out_lines = {}, {}
for category in all_categories:
    lines = [name for name in lines_by_language[category] if all(c in all_letters for c in name)]
    shuffled = random.sample(lines, len(lines))
    held_out_lines[category] = shuffled[:100]
    category_lines[category] = shuffled[100:]


class RNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(n_categories + input_size + hidden_size, hidden_size)
        self.i2o = nn.Linear(n_categories + input_size + hidden_size, output_size)
        self.o2o = nn.Linear(hidden_size + output_size, output_size)
        self.dropout = nn.Dropout(0.1)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, category, input, hidden):  # noqa: A002
        input_combined = torch.cat((category, input, hidden), 1)
        hidden = self.i2h(input_combined)
        output = self.i2o(input_combined)
        output_combined = torch.cat((hidden, output), 1)
        output = self.o2o(output_combined)
        output = self.dropout(output)
        output = self.softmax(output)
        return output, hidden

    def initHidden(self):  # noqa: N802
        return torch.zeros(1, self.hidden_size)


def randomChoice(items):  # noqa: N802
    return items[random.randint(0, len(items) - 1)]


def randomTrainingPair():  # noqa: N802
    category = randomChoice(all_categories)
    return category, randomChoice(category_lines[category])


def categoryTensor(category):  # noqa: N802
    tensor = torch.zeros(1, n_categories)
    tensor[0][all_categories.index(category)] = 1
    return tensor


def inputTensor(line):  # noqa: N802
    tensor = torch.zeros(len(line), 1, n_letters)
    for li, letter in enumerate(line):
        tensor[li][0][all_letters.find(letter)] = 1
    return tensor


def targetTensor(line):  # noqa: N802
    letter_indexes = [all_letters.find(line[li]) for li in range(1, len(line))]
    letter_indexes.append(n_letters - 1)  # EOS
    return torch.LongTensor(letter_indexes)


def randomTrainingExample():  # noqa: N802
    category, line = randomTrainingPair()
    return categoryTensor(category), inputTensor(line), targetTensor(line)


criterion = nn.NLLLoss()
learning_rate = 0.0005
rnn = RNN(n_letters, 128, n_letters)


def train(category_tensor, input_line_tensor, target_line_tensor):
    target_line_tensor.unsqueeze_(-1)
    hidden = rnn.initHidden()
    rnn.zero_grad()
    loss = 0
    for i in range(input_line_tensor.size(0)):
        output, hidden = rnn(category_tensor, input_line_tensor[i], hidden)
        loss += criterion(output, target_line_tensor[i])
    loss.backward()
    for p in rnn.parameters():
        p.data.add_(p.grad.data, alpha=-learning_rate)
    return output, loss.item() / input_line_tensor.size(0)


def held_out_nll():
    rnn.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for category in all_categories:
            category_tensor = categoryTensor(category)
            for line in held_out_lines[category]:
                input_line_tensor, target_line_tensor = inputTensor(line), targetTensor(line)
                hidden = rnn.initHidden()
                for i in range(input_line_tensor.size(0)):
                    output, hidden = rnn(category_tensor, input_line_tensor[i], hidden)
                    total += criterion(output, target_line_tensor[i:i + 1]).item()
                    count += 1
    rnn.train()
    return total / count


all_losses = []
for it in range(1, N_ITERS + 1):
    output, loss = train(*randomTrainingExample())
    all_losses.append(loss)
    if it % 1000 == 0:
        print(f"({it} {it / N_ITERS * 100:.0f}%) {sum(all_losses[-1000:]) / 1000:.4f}")

nll = held_out_nll()
print(f"held-out next-letter NLL {nll:.4f}")
_harness.report(metric=-nll, metric_name="minus held-out next-letter NLL", chance=-math.log(n_letters),
                losses=all_losses)
