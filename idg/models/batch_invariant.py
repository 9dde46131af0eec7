"""Batch invariance: an image's bits must not depend on which other images shared its batch.

Batched GEMMs and convolutions pick kernels by batch shape, so the same sample can differ in its lowest
bits between batch sizes; :func:`make_batch_invariant` runs Linear, Conv2d and GroupNorm per sample.
"""

from __future__ import annotations

import types


def _linear_per_sample(self, x):
    import torch
    import torch.nn.functional as F

    if x.dim() < 2 or x.shape[0] == 1:
        return F.linear(x, self.weight, self.bias)
    return torch.cat([F.linear(x[i : i + 1], self.weight, self.bias) for i in range(x.shape[0])])


def _conv_per_sample(self, x):
    import torch

    return torch.cat([self._conv_forward(x[i : i + 1].contiguous(), self.weight, self.bias) for i in range(x.shape[0])])


def _group_norm_per_sample(self, x):
    import torch
    import torch.nn.functional as F

    return torch.cat(
        [F.group_norm(x[i : i + 1].contiguous(), self.num_groups, self.weight, self.bias, self.eps) for i in range(x.shape[0])]
    )


def make_batch_invariant(*modules) -> int:
    """Make these modules' outputs for one sample independent of the other samples in the batch.

    Batched GEMMs and convolutions pick kernels by batch shape (a GEMV for one row, another blocking for
    eight), and GroupNorm takes a channels-last path for some strides, so the same image can differ in its
    lowest bits between batch sizes. Running Linear, Conv2d and GroupNorm per sample (on these instances
    only) removes that; measured on CPU it costs nothing, since batching does not speed up CPU inference.
    Returns how many layers were patched.
    """
    import torch

    patched = 0
    for root in modules:
        for mod in root.modules():
            if isinstance(mod, torch.nn.Linear):
                mod.forward = types.MethodType(_linear_per_sample, mod)
            elif isinstance(mod, torch.nn.Conv2d):
                mod.forward = types.MethodType(_conv_per_sample, mod)
            elif isinstance(mod, torch.nn.GroupNorm):
                mod.forward = types.MethodType(_group_norm_per_sample, mod)
            else:
                continue
            patched += 1
    return patched
