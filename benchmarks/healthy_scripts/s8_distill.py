import torch
import torch.nn.functional as F
from common import acc, batches, data, net
from torch import nn

x, y = data()
teacher = net()
ot = torch.optim.Adam(teacher.parameters(), 1e-3)
for _ep in range(4):
    for xb, yb in batches(x, y):
        ot.zero_grad()
        F.cross_entropy(teacher(xb), yb).backward()
        ot.step()
teacher.eval()
student = nn.Sequential(nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 5))
os_ = torch.optim.Adam(student.parameters(), 1e-3)
T = 4.0
for _ep in range(5):
    for xb, yb in batches(x, y):
        with torch.no_grad():
            tl = teacher(xb)
        sl = student(xb)
        loss = 0.9 * F.kl_div(
            F.log_softmax(sl / T, 1), F.softmax(tl / T, 1), reduction="batchmean"
        ) * T * T + 0.1 * F.cross_entropy(sl, yb)
        os_.zero_grad()
        loss.backward()
        os_.step()
print("acc", acc(student, x, y))
