# A contextual bandit trained by REINFORCE with the batch's mean reward as baseline: the policy loss
# -(log pi(a) * (r - mean r)) is as often negative as positive, and its level says nothing about learning.

import torch
import torch.nn as nn
from hashing import whash

torch.manual_seed(0)
policy = nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 3))
opt = torch.optim.Adam(policy.parameters(), lr=1e-2)
means = torch.tensor([0.1, 0.5, 0.9])  # the reward probability of each arm

for step in range(400):
    context = torch.randn(16, 4)
    logp = torch.log_softmax(policy(context), 1)
    arm = torch.multinomial(logp.exp(), 1).squeeze(1)
    reward = torch.bernoulli(means[arm])
    loss = -(logp[torch.arange(16), arm] * (reward - reward.mean())).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()

with torch.no_grad():
    best = torch.softmax(policy(torch.randn(256, 4)), 1)[:, 2].mean().item()
print(f"probability of the best arm {best:.3f} (1/3 at random)")
print("weights", whash(policy))
