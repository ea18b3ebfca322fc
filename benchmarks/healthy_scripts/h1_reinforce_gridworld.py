# REINFORCE policy gradient on a tiny 5x5 gridworld (goal in corner), with a moving-average baseline.

import numpy as np
import torch
import torch.nn as nn
from hashing import whash

torch.manual_seed(0)
np.random.seed(0)
rng = np.random.default_rng(0)

N = 5
GOAL = (4, 4)
MOVES = [(0, 1), (1, 0), (0, -1), (-1, 0)]


def obs(pos):
    v = torch.zeros(N * N)
    v[pos[0] * N + pos[1]] = 1.0
    return v


policy = nn.Sequential(nn.Linear(N * N, 64), nn.Tanh(), nn.Linear(64, 4))
opt = torch.optim.Adam(policy.parameters(), lr=1e-2)
gamma = 0.95
baseline = 0.0
returns_hist = []

for episode in range(600):
    pos = (int(rng.integers(0, 3)), int(rng.integers(0, 3)))
    logps, rewards = [], []
    for t in range(20):
        logits = policy(obs(pos))
        dist = torch.distributions.Categorical(logits=logits)
        a = dist.sample()
        logps.append(dist.log_prob(a))
        dr, dc = MOVES[a.item()]
        pos = (min(max(pos[0] + dr, 0), N - 1), min(max(pos[1] + dc, 0), N - 1))
        if pos == GOAL:
            rewards.append(1.0)
            break
        rewards.append(-0.01)
    G, rets = 0.0, []
    for r in reversed(rewards):
        G = r + gamma * G
        rets.append(G)
    rets = torch.tensor(list(reversed(rets)))
    baseline = 0.9 * baseline + 0.1 * rets[0].item()
    loss = -(torch.stack(logps) * (rets - baseline)).sum()
    opt.zero_grad()
    loss.backward()
    opt.step()
    returns_hist.append(rets[0].item())
    if episode % 100 == 0:
        print(f"ep {episode} loss {loss.item():.3f} avg_return {np.mean(returns_hist[-50:]):.3f}")

# greedy evaluation from every start cell
successes, steps = 0, []
with torch.no_grad():
    for r0 in range(N):
        for c0 in range(N):
            pos = (r0, c0)
            for t in range(20):
                if pos == GOAL:
                    break
                a = policy(obs(pos)).argmax().item()
                dr, dc = MOVES[a]
                pos = (min(max(pos[0] + dr, 0), N - 1), min(max(pos[1] + dc, 0), N - 1))
            successes += pos == GOAL
            steps.append(t)
print(f"final avg_return {np.mean(returns_hist[-100:]):.3f} greedy_success {successes}/{N*N}")
print("hash", whash(policy))
