"""DLA-34, Deep Layer Aggregation (Yu et al. 2018), small-image form.

Stages are binary trees of residual blocks: each tree merges its two subtrees (and, at a
stage root, the stage's downsampled input) through a `Root` 1x1 conv over their channel
concatenation, so shallow and deep features are fused iteratively and hierarchically.

Small-image adaptation, as in the study: 3x3 stride-1 stem, no stride in the second stem
layer nor in the first tree, so a 32x32 input runs at 32, 32, 16, 8, 4. Projection
shortcuts live only in depth-1 trees (the original checkpoints also carry unused ones in
deeper trees; they are left out). Weights keep PyTorch's default init, as in the study.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from archrisk.arch.manual._base import ManualNet, check_args, register_manual, scaled
from archrisk.arch.manual.resnet import BasicBlock, conv_bn


class Root(nn.Module):
    """1x1 conv-BN-ReLU over the concatenation of the nodes it aggregates."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = conv_bn(cin, cout, 1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return self.relu(self.conv(torch.cat(xs, dim=1)))


class Tree(nn.Module):
    """A depth-`levels` aggregation tree. `root_dim` is how many channels its final Root
    sees: its two children's outputs plus whatever earlier nodes are handed down."""

    def __init__(self, levels: int, cin: int, cout: int, stride: int = 1,
                 level_root: bool = False, root_dim: int = 0):
        super().__init__()
        root_dim = root_dim or 2 * cout
        if level_root:
            root_dim += cin  # the stage input (downsampled) joins the aggregation
        self.level_root, self.leaf = level_root, levels == 1
        # ceil_mode matches the strided 3x3 conv's output size on odd maps (7 -> 4)
        self.down = nn.MaxPool2d(stride, stride, ceil_mode=True) if stride > 1 else nn.Identity()
        if self.leaf:
            self.tree1 = BasicBlock(cin, cout, cout, stride, project=False)
            self.tree2 = BasicBlock(cout, cout, cout)
            self.root = Root(root_dim, cout)
            self.project = conv_bn(cin, cout, 1) if cin != cout else nn.Identity()
        else:
            self.tree1 = Tree(levels - 1, cin, cout, stride)
            self.tree2 = Tree(levels - 1, cout, cout, root_dim=root_dim + cout)

    def forward(self, x: torch.Tensor, children: list[torch.Tensor] | None = None) -> torch.Tensor:
        children = [] if children is None else children
        bottom = self.down(x)  # x at the output resolution
        if self.level_root:
            children = children + [bottom]
        if self.leaf:
            x1 = self.tree1(x, residual=self.project(bottom))
            x2 = self.tree2(x1)
            return self.root([x2, x1, *children])
        x1 = self.tree1(x)
        return self.tree2(x1, children + [x1])  # deeper root also aggregates x1


@register_manual(source="Yu et al., Deep Layer Aggregation (CVPR 2018)")
def dla34(num_classes: int = 10, in_channels: int = 3, width: float = 1.0,
          dropout: float = 0.0) -> nn.Module:
    """Channels 16-32-64-128-256-512, tree depths [1, 2, 2, 1], BasicBlocks."""
    check_args(num_classes, in_channels, width, dropout)
    c = [scaled(v, width) for v in (16, 32, 64, 128, 256, 512)]
    features = nn.Sequential(
        conv_bn(in_channels, c[0], 3), nn.ReLU(inplace=True),  # stem (7x7 -> 3x3)
        conv_bn(c[0], c[0], 3), nn.ReLU(inplace=True),
        conv_bn(c[0], c[1], 3), nn.ReLU(inplace=True),  # stride 2 -> 1
        Tree(1, c[1], c[2], stride=1),  # stride 2 -> 1;  [N, 64, H, W]
        Tree(2, c[2], c[3], stride=2, level_root=True),  # H/2
        Tree(2, c[3], c[4], stride=2, level_root=True),  # H/4
        Tree(1, c[4], c[5], stride=2, level_root=True),  # H/8;  [N, 512, H/8, W/8]
    )
    return ManualNet(features, c[5], num_classes, dropout)
