"""LEAP losses. Each returns (sum over contributing items, count) so the mean over a global
batch is exact under DDP (the trainer divides by the all-reduced count).

L_T: per GRU step, the containment-based sub-action loss: a predicted step t < n is scored
against the ground-truth step it agrees with best (min over the program's steps of verb
cross-entropy + soft object cross-entropy), so it is penalised only when its verb/objects do
not appear in the ground-truth sequence; step n must predict the end token. With
`containment=False` step t is scored against ground-truth step t (the ordered ablation).
L_PC: L1 distance to the pre-condition sentence embedding (mean over dimensions).
L_CE: EPIC verb + noun cross-entropy.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from leap_cli.learn.model import END


def program_loss(step_verbs, step_objects, gt_verbs, gt_objects, n_steps, containment: bool = True):
    """step_verbs [N, S, 9], step_objects [N, S, 300] logits; gt_verbs [N, S] long (END padded),
    gt_objects [N, S, 300] soft labels; n_steps [N] (-1: clip without program)."""
    N, S, _ = step_verbs.shape
    logp_v = step_verbs.float().log_softmax(-1)                       # [N, S, 9]
    logp_o = step_objects.float().log_softmax(-1)                     # [N, S, 300]
    # cost[n, t, g]: predicted step t against ground-truth step g
    v_cost = -logp_v.gather(2, gt_verbs[:, None, :].expand(N, S, S).clamp(max=END))  # [N, S, S]
    o_cost = -torch.einsum("ntc,ngc->ntg", logp_o, gt_objects.float())             # [N, S, S]
    cost = v_cost + o_cost
    steps = torch.arange(S, device=cost.device)
    real = steps[None, :] < n_steps[:, None]                          # [N, S] ground-truth steps
    if containment:
        masked = cost.masked_fill(~real[:, None, :], float("inf"))
        matched = masked.min(dim=2).values                            # [N, S]
    else:
        matched = cost.diagonal(dim1=1, dim2=2)                       # [N, S]
    end_cost = -logp_v[..., END]                                      # [N, S]
    per_step = torch.where(real, matched, end_cost)
    used = steps[None, :] <= n_steps[:, None]                         # steps 0..n (n = end)
    used = used & (n_steps[:, None] >= 0)
    per_step = per_step.masked_fill(~used, 0.0)
    return per_step.sum(), used.sum()


def precondition_loss(pc, target, has_program):
    """pc, target [N, E]; has_program [N] bool."""
    l1 = (pc.float() - target.float()).abs().mean(-1)                 # [N]
    return (l1 * has_program).sum(), has_program.sum()


def action_loss(verb_logits, noun_logits, verb_class, noun_class):
    """Verb + noun cross-entropy; class -1 = unlabelled (ignored)."""
    lv = F.cross_entropy(verb_logits.float(), verb_class, ignore_index=-1, reduction="sum")
    ln = F.cross_entropy(noun_logits.float(), noun_class, ignore_index=-1, reduction="sum")
    return lv + ln, (verb_class >= 0).sum()
