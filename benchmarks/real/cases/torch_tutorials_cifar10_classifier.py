"""pytorch/tutorials `beginner_source/blitz/cifar10_tutorial.py` ("Training a Classifier", the 60-minute
blitz): a LeNet-style CNN on CIFAR-10 trained with cross-entropy and SGD with momentum, batch size 4.

Ported (re-written to the same normalization, model, loss, optimizer, batch size and loops): images are
scaled to [0, 1] and normalized with mean 0.5 / std 0.5 per channel to [-1, 1]; the network is Conv2d(3, 6,
5) / ReLU / MaxPool2d(2) / Conv2d(6, 16, 5) / ReLU / MaxPool2d(2) / flatten / Linear(400, 120) / ReLU /
Linear(120, 84) / ReLU / Linear(84, 10) (logits) with nn.CrossEntropyLoss and SGD(lr=0.001, momentum=0.9);
2 epochs over a shuffled DataLoader of batch 4, the running loss printed every 2,000 mini-batches; then the
test accuracy over the whole test set and per class.

Changes: the torchvision CIFAR10 download becomes the local stand-in of the same shape and range (20,000 train /
1,000 test images instead of 50,000 / 10,000); no DataLoader workers, image display or checkpoint save /
re-load (the trained net is evaluated directly).
"""

import _data
import _harness
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn, optim

_harness.seed_everything()


def to_dataset(images, labels):
    """ToTensor() then Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)): (N, 3, 32, 32) float32 in [-1, 1]."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    x = (x - 0.5) / 0.5
    return torch.utils.data.TensorDataset(x, torch.from_numpy(labels[:, 0].astype("int64")))


batch_size = 4
(x_train, y_train), (x_test, y_test) = _data.cifar10_load_data(seed=_harness.seed(), n_train=20000)
trainset = to_dataset(x_train, y_train)
trainloader = torch.utils.data.DataLoader(trainset, batch_size=batch_size, shuffle=True)
testset = to_dataset(x_test, y_test)
testloader = torch.utils.data.DataLoader(testset, batch_size=batch_size, shuffle=False)

classes = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


net = Net()
criterion = nn.CrossEntropyLoss()
optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)

losses = []
for epoch in range(2):
    running_loss = 0.0
    for i, data in enumerate(trainloader, 0):
        inputs, labels = data
        optimizer.zero_grad()
        outputs = net(inputs)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()

        running_loss += loss.item()
        losses.append(loss.item())
        if i % 2000 == 1999:
            print(f"[{epoch + 1}, {i + 1:5d}] loss: {running_loss / 2000:.3f}")
            running_loss = 0.0
print("Finished Training")

correct = 0
total = 0
with torch.no_grad():
    for data in testloader:
        images, labels = data
        outputs = net(images)
        _, predicted = torch.max(outputs.data, 1)
        total += labels.size(0)
        correct += (predicted == labels).sum().item()
print(f"Accuracy of the network on the {total} test images: {100 * correct // total} %")

correct_pred = {classname: 0 for classname in classes}
total_pred = {classname: 0 for classname in classes}
with torch.no_grad():
    for data in testloader:
        images, labels = data
        outputs = net(images)
        _, predictions = torch.max(outputs, 1)
        for label, prediction in zip(labels, predictions):
            if label == prediction:
                correct_pred[classes[label]] += 1
            total_pred[classes[label]] += 1
for classname, correct_count in correct_pred.items():
    print(f"Accuracy for class: {classname:5s} is {100 * float(correct_count) / total_pred[classname]:.1f} %")

_harness.report(metric=correct / total, metric_name="accuracy", chance=0.1, losses=losses)
