# Advantage actor-critic with a shared trunk and two heads (policy + value) on a contextual bandit-ish
# 1-D chain: walk right to reach the reward at the end.

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from hashing import whash

torch.manual_seed(0)
np.random.seed(0)
rng = np.random.default_rng(0)

L = 8


class AC(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(L, 64), nn.ReLU())
        self.pi = nn.Linear(64, 2)
        self.v = nn.Linear(64, 1)

    def forward(self, x):
        h = self.trunk(x)
        return self.pi(h), self.v(h).squeeze(-1)


def onehot(s):
    v = torch.zeros(L)
    v[s] = 1.0
    return v


model = AC()
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
gamma = 0.9
lens = []
for ep in range(500):
    s = int(rng.integers(0, L - 1))
    logps, values, rewards, ents = [], [], [], []
    for t in range(30):
        logits, v = model(onehot(s))
        dist = torch.distributions.Categorical(logits=logits)
        a = dist.sample()
        logps.append(dist.log_prob(a))
        ents.append(dist.entropy())
        values.append(v)
        s = min(s + 1, L - 1) if a.item() == 1 else max(s - 1, 0)
        done = s == L - 1
        rewards.append(1.0 if done else 0.0)
        if done:
            break
    lens.append(t + 1)
    G, rets = 0.0, []
    for r in reversed(rewards):
        G = r + gamma * G
        rets.insert(0, G)
    rets = torch.tensor(rets)
    values = torch.stack(values)
    adv = rets - values.detach()
    actor_loss = -(torch.stack(logps) * adv).mean()
    critic_loss = F.mse_loss(values, rets)
    ent = torch.stack(ents).mean()
    loss = actor_loss + 0.5 * critic_loss - 0.01 * ent
    opt.zero_grad()
    loss.backward()
    opt.step()
    if ep % 100 == 0:
        print(f"ep {ep} actor {actor_loss.item():.3f} critic {critic_loss.item():.4f} ent {ent.item():.3f} len {np.mean(lens[-50:]):.2f}")

with torch.no_grad():
    probs_right = torch.stack([F.softmax(model(onehot(s))[0], -1)[1] for s in range(L - 1)])
print(f"final mean_episode_len {np.mean(lens[-100:]):.2f} min_p_right {probs_right.min().item():.3f}")
print("hash", whash(model))
