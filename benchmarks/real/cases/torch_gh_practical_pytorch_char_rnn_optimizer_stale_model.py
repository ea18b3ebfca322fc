"""spro/practical-pytorch issue #9 ("char-rnn-classification parameters update method confusion"): in the
char-rnn-classification notebook the reporter replaced the hand-written update (``p.data.add_(-lr, p.grad)``)
by ``optimizer = torch.optim.SGD(rnn.parameters(), lr=learning_rate)`` and ``optimizer.step()``, and got "loss
is big, and loss flow up and down, do not diminish". The notebook creates the network twice: ``rnn = RNN(...)``
once where the model is first tried by hand, and again in the training cell. The optimizer, built between
the two, holds the first network's parameters, while the loop trains (zero_grad, backward) the second one, so
``optimizer.step()`` never changes the network that is trained and evaluated. The author's answer: "I have
the model instantiated twice ... Try moving the optimizer to below the second one", fixed in commit 67ac021
("use optimizer instead of manual parameters"), which keeps the optimizer and removes the second
instantiation.

Ported (re-written with the same model, loss, optimizer and loop): the notebook's RNN (i2h and i2o =
Linear(n_letters + 128, ...) on the concatenated input and hidden state, no non-linearity on the hidden
state, LogSoftmax on the output), one-hot letters over string.ascii_letters + " .,;'", NLLLoss on the output
after the last letter, SGD(lr=0.005), one random (language, name) pair per step. The data/names download (18
languages) becomes name-like strings generated per language (see ``_data.names_by_language``); some names of each
language are held out for the confusion-matrix pass.
"""

import random
import string

import _data
import _harness
import torch
import torch.nn as nn

all_letters = string.ascii_letters + " .,;'"
n_letters = len(all_letters)

LANGUAGES = _data.LANGUAGES


seed = _harness.seed_everything()

# Build the category_lines dictionary, a list of names per language
category_lines, held_out_lines = {}, {}
all_categories = []
for category, lines in _data.names_by_language(seed).items():
    all_categories.append(category)
    shuffled = random.sample(lines, len(lines))
    held_out_lines[category] = shuffled[:100]
    category_lines[category] = shuffled[100:]
n_categories = len(all_categories)
print("n_categories =", n_categories)


# Turn a line into a <line_length x 1 x n_letters>, or an array of one-hot letter vectors
def line_to_tensor(line):
    tensor = torch.zeros(len(line), 1, n_letters)
    for li, letter in enumerate(line):
        letter_index = all_letters.find(letter)
        tensor[li][0][letter_index] = 1
    return tensor


class RNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()

        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = output_size

        self.i2h = nn.Linear(input_size + hidden_size, hidden_size)
        self.i2o = nn.Linear(input_size + hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, input, hidden):  # noqa: A002
        combined = torch.cat((input, hidden), 1)
        hidden = self.i2h(combined)
        output = self.i2o(combined)
        output = self.softmax(output)
        return output, hidden

    def init_hidden(self):
        return torch.zeros(1, self.hidden_size)


n_hidden = 128
rnn = RNN(n_letters, n_hidden, n_categories)

# the notebook tries the untrained network by hand on one name
with torch.no_grad():
    output, next_hidden = rnn(line_to_tensor("Albert")[0], torch.zeros(1, n_hidden))
print(output)


def category_from_output(output):
    top_n, top_i = output.data.topk(1)
    category_i = top_i[0][0].item()
    return all_categories[category_i], category_i


def random_training_pair():
    category = random.choice(all_categories)
    line = random.choice(category_lines[category])
    category_tensor = torch.LongTensor([all_categories.index(category)])
    line_tensor = line_to_tensor(line)
    return category, line, category_tensor, line_tensor


criterion = nn.NLLLoss()

learning_rate = 0.005  # If you set this too high, it might explode. If too low, it might not learn
optimizer = torch.optim.SGD(rnn.parameters(), lr=learning_rate)


def train(category_tensor, line_tensor):
    rnn.zero_grad()
    hidden = rnn.init_hidden()

    for i in range(line_tensor.size()[0]):
        output, hidden = rnn(line_tensor[i], hidden)

    loss = criterion(output, category_tensor)
    loss.backward()

    optimizer.step()

    return output, loss.item()


n_epochs = 15000
print_every = 1000

if _harness.buggy():  # the bug: a second network, created after the optimizer took the first one's parameters
    rnn = RNN(n_letters, n_hidden, n_categories)

all_losses = []
for epoch in range(1, n_epochs + 1):
    category, line, category_tensor, line_tensor = random_training_pair()
    output, loss = train(category_tensor, line_tensor)
    all_losses.append(loss)

    # Print epoch number, loss, name and guess
    if epoch % print_every == 0:
        guess, guess_i = category_from_output(output)
        correct = "ok" if guess == category else f"wrong ({category})"
        recent = sum(all_losses[-print_every:]) / print_every
        print(f"{epoch} {epoch / n_epochs * 100:.0f}% {recent:.4f} {line} / {guess} {correct}")


# Just return an output given a line
def evaluate(line_tensor):
    hidden = rnn.init_hidden()

    for i in range(line_tensor.size()[0]):
        output, hidden = rnn(line_tensor[i], hidden)

    return output


# The notebook's confusion-matrix pass, here over the held-out names
confusion = torch.zeros(n_categories, n_categories)
with torch.no_grad():
    for category in all_categories:
        for line in held_out_lines[category]:
            guess, guess_i = category_from_output(evaluate(line_to_tensor(line)))
            confusion[all_categories.index(category)][guess_i] += 1
accuracy = (confusion.diag().sum() / confusion.sum()).item()
print(f"held-out accuracy {accuracy:.3f}")
_harness.report(metric=accuracy, metric_name="accuracy (held-out names)", chance=1.0 / n_categories,
                losses=all_losses)
