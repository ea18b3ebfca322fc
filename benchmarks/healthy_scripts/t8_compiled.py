import torch
from common import acc, data, fit, net

x, y = data()
m = net()
cm = torch.compile(m)
opt = torch.optim.Adam(m.parameters(), 1e-3)
fit(m, opt, x, y, forward=cm)
print("acc", acc(m, x, y))
