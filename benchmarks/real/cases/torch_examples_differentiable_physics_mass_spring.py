"""pytorch/examples `differentiable_physics/mass_spring.py`: gradient descent through a differentiable
mass-spring simulation. The only parameters are the initial positions of the free particles (an
nn.Parameter of a MassSpringSystem module, no layers); every epoch simulates 50 semi-implicit Euler steps
of spring forces and gravity from those positions (particle 0 pinned at the origin by in-place assignment)
and Adam moves the initial positions so that the final positions reach the targets.

Ported (re-written to the same module, simulation, loss, optimizer, defaults and loop): 2 particles, one
spring (0, 1) with rest length 1 and stiffness 10, mass 1, dt 0.01, gravity 9.81, the free particle's initial
position torch.randn(1, 2) as the parameter, velocities zero; per step the spring force
k (|d| - L) d / (|d| + 1e-6) added to particle i and subtracted from j (in-place on a zeros_like tensor),
gravity on y, v += a dt, x += v dt, then positions[0] and velocities[0] reset in place; targets
[[0, 0], [1, 0]]; loss mean((final - target)^2); optim.Adam(lr=0.01); the defaults' 1,000 epochs of 50 steps.

Changes: argparse goes (the defaults are used), CUDA selection goes (CPU), the matplotlib visualization and
the eval mode go; the initial position follows the benchmark seed; every epoch's loss is recorded. Metric
(higher is better): minus the final loss (a fresh forward pass after training); chance: minus the loss of
the untrained system (its random initial positions).
"""

import _harness
import torch
import torch.nn as nn
import torch.optim as optim

_harness.seed_everything()


class MassSpringSystem(nn.Module):
    def __init__(self, num_particles, springs, mass=1.0, dt=0.01, gravity=9.81, device="cpu"):
        super().__init__()
        self.device = device
        self.mass = mass
        self.springs = springs
        self.dt = dt
        self.gravity = gravity
        # particle 0 is fixed at the origin
        self.initial_position_0 = torch.tensor([0.0, 0.0], device=device)
        # the remaining particles' initial positions are trained
        self.initial_positions_rest = nn.Parameter(torch.randn(num_particles - 1, 2, device=device))
        self.velocities = torch.zeros(num_particles, 2, device=device)

    def forward(self, steps):
        positions = torch.cat([self.initial_position_0.unsqueeze(0), self.initial_positions_rest], dim=0)
        velocities = self.velocities
        for _ in range(steps):
            forces = torch.zeros_like(positions)
            # spring forces
            for (i, j, rest_length, stiffness) in self.springs:
                xi, xj = positions[i], positions[j]
                dir_vec = xj - xi
                dist = dir_vec.norm()
                force = stiffness * (dist - rest_length) * dir_vec / (dist + 1e-6)
                forces[i] += force
                forces[j] -= force
            # gravity
            forces[:, 1] -= self.gravity * self.mass
            # semi-implicit Euler integration
            acceleration = forces / self.mass
            velocities = velocities + acceleration * self.dt
            positions = positions + velocities * self.dt
            # particle 0 stays at the origin
            positions[0] = self.initial_position_0
            velocities[0] = torch.tensor([0.0, 0.0], device=positions.device)
        return positions


# the example's argparse defaults
epochs, steps, lr, dt, mass, stiffness, num_particles, log_interval, gravity = (
    1000, 50, 0.01, 0.01, 1.0, 10.0, 2, 100, 9.81)

device = torch.device("cpu")
system = MassSpringSystem(num_particles=num_particles, springs=[(0, 1, 1.0, stiffness)], mass=mass, dt=dt,
                          gravity=gravity, device=device)

optimizer = optim.Adam(system.parameters(), lr=lr)
target_positions = torch.tensor([[0.0, 0.0], [1.0, 0.0]], device=device)

with torch.no_grad():
    initial_loss = float((system(steps) - target_positions).pow(2).mean())

losses = []
for epoch in range(epochs):
    optimizer.zero_grad()
    final_positions = system(steps)
    loss = (final_positions - target_positions).pow(2).mean()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
    if (epoch + 1) % log_interval == 0:
        print(f"Epoch {epoch + 1}/{epochs}, Loss: {loss.item():.6f}")

with torch.no_grad():
    final_positions = system(steps)
    final_loss = float((final_positions - target_positions).pow(2).mean())
print(f"Final positions:\n{final_positions.numpy()}\nTarget positions:\n{target_positions.numpy()}")
_harness.report(metric=-final_loss, metric_name="minus_final_position_mse", chance=-initial_loss, losses=losses)
