"""pytorch/tutorials `intermediate_source/char_rnn_classification_tutorial.py`: classifying names by language.

Ported (re-written to the same model, loss, hand-written parameter update and loop): the tutorial's hand-made
RNN (i2h, h2h, tanh, h2o, LogSoftmax), one-hot letters over string.ascii_letters + " .,;'", nn.NLLLoss on the
output after the last letter, learning_rate 0.005 applied by ``p.data.add_(p.grad.data, alpha=-lr)`` after
``rnn.zero_grad()`` / ``loss.backward()``, one random (language, name) pair per step with the language drawn
uniformly. The data/names download (18 languages) becomes name-like strings generated per language from
language-specific letter statistics (see ``_data.names_by_language``); some names of each language are held out.
"""

import random
import string

import _data
import _harness
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

all_letters = string.ascii_letters + " .,;'"
n_letters = len(all_letters)

LANGUAGES = _data.LANGUAGES


def letterToIndex(letter):  # noqa: N802
    return all_letters.find(letter)


def lineToTensor(line):  # noqa: N802
    tensor = torch.zeros(len(line), 1, n_letters)
    for li, letter in enumerate(line):
        tensor[li][0][letterToIndex(letter)] = 1
    return tensor


class RNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(input_size, hidden_size)
        self.h2h = nn.Linear(hidden_size, hidden_size)
        self.h2o = nn.Linear(hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, input, hidden):  # noqa: A002
        hidden = F.tanh(self.i2h(input) + self.h2h(hidden))
        output = self.h2o(hidden)
        output = self.softmax(output)
        return output, hidden

    def initHidden(self):  # noqa: N802
        return torch.zeros(1, self.hidden_size)


seed = _harness.seed_everything()
lines_by_language = _data.names_by_language(seed)
all_categories = list(LANGUAGES)
n_categories = len(all_categories)
category_lines, held_out_lines = {}, {}
for category, lines in lines_by_language.items():
    shuffled = random.sample(lines, len(lines))
    held_out_lines[category] = shuffled[:100]
    category_lines[category] = shuffled[100:]

n_hidden = 128
rnn = RNN(n_letters, n_hidden, n_categories)
criterion = nn.NLLLoss()
learning_rate = 0.005  # If you set this too high, it might explode. If too low, it might not learn


def categoryFromOutput(output):  # noqa: N802
    top_n, top_i = output.topk(1)
    category_i = top_i[0].item()
    return all_categories[category_i], category_i


def randomChoice(items):  # noqa: N802
    return items[random.randint(0, len(items) - 1)]


def randomTrainingExample(lines=category_lines):  # noqa: N802
    category = randomChoice(all_categories)
    line = randomChoice(lines[category])
    category_tensor = torch.tensor([all_categories.index(category)], dtype=torch.long)
    return category, line, category_tensor, lineToTensor(line)


def train(category_tensor, line_tensor):
    hidden = rnn.initHidden()
    rnn.zero_grad()
    for i in range(line_tensor.size()[0]):
        output, hidden = rnn(line_tensor[i], hidden)
    loss = criterion(output, category_tensor)
    loss.backward()
    # Add parameters' gradients to their values, multiplied by learning rate
    for p in rnn.parameters():
        p.data.add_(p.grad.data, alpha=-learning_rate)
    return output, loss.item()


def evaluate(line_tensor):
    hidden = rnn.initHidden()
    for i in range(line_tensor.size()[0]):
        output, hidden = rnn(line_tensor[i], hidden)
    return output


n_iters = 12000
print_every = 1000
all_losses = []
for it in range(1, n_iters + 1):
    category, line, category_tensor, line_tensor = randomTrainingExample()
    output, loss = train(category_tensor, line_tensor)
    all_losses.append(loss)
    if it % print_every == 0:
        guess, guess_i = categoryFromOutput(output)
        correct = "ok" if guess == category else f"wrong ({category})"
        recent = sum(all_losses[-print_every:]) / print_every
        print(f"{it} {it / n_iters * 100:.0f}% {recent:.4f} {line} / {guess} {correct}")

# The tutorial's confusion-matrix pass (evaluate() on random examples), here over the held-out names.
confusion = torch.zeros(n_categories, n_categories)
with torch.no_grad():
    for category in all_categories:
        for line in held_out_lines[category]:
            guess, guess_i = categoryFromOutput(evaluate(lineToTensor(line)))
            confusion[all_categories.index(category)][guess_i] += 1
accuracy = (confusion.diag().sum() / confusion.sum()).item()
_harness.report(metric=accuracy, metric_name="accuracy", chance=1.0 / n_categories, losses=all_losses)
