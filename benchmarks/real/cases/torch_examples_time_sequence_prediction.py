"""pytorch/examples `time_sequence_prediction/train.py` (+ `generate_sine_wave.py`): two stacked LSTM cells
learn to predict the next value of sine waves, trained with L-BFGS.

Ported (re-written to the same data rule, model, loss, optimizer and loop): the data are the example's own
(`generate_sine_wave.py`: N=100 waves sin(x/T), T=20, each shifted by a random integer in [-4T, 4T) drawn
with numpy seed 2; the first 3 are the test set); the model is `LSTMCell(1, 51)` -> `LSTMCell(51, 51)` ->
`Linear(51, 1)` unrolled step by step from zero states, in float64 (`seq.double()`); loss `nn.MSELoss`;
`optim.LBFGS(lr=0.8)` stepped with a closure that zeroes, forwards, computes the loss and back-propagates.

Changes: waves of L=100 instead of 1,000 points; 5 L-BFGS steps instead of 15; the per-step test forecast
of 1,000 future points and its plot are dropped. The measure is the R^2 of the one-step-ahead prediction on
the 3 test waves (the example prints their MSE after each step).
"""

import argparse

import _harness
import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim


class Sequence(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm1 = nn.LSTMCell(1, 51)
        self.lstm2 = nn.LSTMCell(51, 51)
        self.linear = nn.Linear(51, 1)

    def forward(self, input, future=0):
        outputs = []
        h_t = torch.zeros(input.size(0), 51, dtype=torch.double)
        c_t = torch.zeros(input.size(0), 51, dtype=torch.double)
        h_t2 = torch.zeros(input.size(0), 51, dtype=torch.double)
        c_t2 = torch.zeros(input.size(0), 51, dtype=torch.double)
        for input_t in input.split(1, dim=1):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        for _ in range(future):  # if we should predict the future
            h_t, c_t = self.lstm1(output, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        return torch.cat(outputs, dim=1)


def generate_sine_wave(T=20, L=1000, N=100):
    """`generate_sine_wave.py`: N shifted sine waves of L points, float64."""
    rng = np.random.RandomState(2)
    x = np.empty((N, L), "int64")
    x[:] = np.array(range(L)) + rng.randint(-4 * T, 4 * T, N).reshape(N, 1)
    return np.sin(x / 1.0 / T).astype("float64")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--length", type=int, default=100)
    opt = parser.parse_args()
    _harness.seed_everything()

    data = generate_sine_wave(L=opt.length)
    input = torch.from_numpy(data[3:, :-1])
    target = torch.from_numpy(data[3:, 1:])
    test_input = torch.from_numpy(data[:3, :-1])
    test_target = torch.from_numpy(data[:3, 1:])
    seq = Sequence()
    seq.double()
    criterion = nn.MSELoss()
    # use LBFGS as optimizer since we can load the whole data to train
    optimizer = optim.LBFGS(seq.parameters(), lr=0.8)
    losses = []
    test_loss = float("nan")
    for i in range(opt.steps):
        print("STEP: ", i)

        def closure():
            optimizer.zero_grad()
            out = seq(input)
            loss = criterion(out, target)
            print("loss:", loss.item())
            losses.append(loss.item())
            loss.backward()
            return loss

        optimizer.step(closure)
        with torch.no_grad():
            pred = seq(test_input)
            test_loss = criterion(pred, test_target).item()
            print("test loss:", test_loss)
    r2 = 1.0 - test_loss / test_target.var(unbiased=False).item()
    _harness.report(metric=r2, metric_name="R^2 (test waves)", chance=0.0, losses=losses)


if __name__ == "__main__":
    main()
