"""nobuco's channel-order example (its README, "Channel order wizardry"): a GRU feeding two
Conv1d. Shared by the nobuco section tests and the LiteRT tests."""

from __future__ import annotations

import torch.nn as nn


class GruTwoConv1d(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(32, 128, num_layers=1, batch_first=True, bidirectional=False)
        self.conv1 = nn.Conv1d(12, 40, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(12, 60, kernel_size=1, padding=0)

    def forward(self, x):
        x, hx = self.gru(x)
        x1 = self.conv1(x)
        x2 = self.conv2(x)
        return x1, x2
