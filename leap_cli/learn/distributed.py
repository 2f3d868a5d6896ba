"""This process's place in a torchrun job (from its environment), and collectives that are
no-ops in a single process: NCCL on GPUs, gloo on CPU; I/O on rank 0 only."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local: int = 0
    device: torch.device = torch.device("cpu")
    owns_group: bool = False  # this process started the process group (and ends it)

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup() -> Dist:
    world = world_size()
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", local) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)  # before NCCL starts, so each rank talks from its own GPU
    owns = world > 1 and not dist.is_initialized()
    if owns:
        dist.init_process_group("nccl" if cuda else "gloo")
    return Dist(rank, world, local, device, owns)


def teardown(d: Dist) -> None:
    """End the process group setup started (a group someone else started is theirs to end)."""
    if d.owns_group:
        dist.destroy_process_group()


def barrier(d: Dist) -> None:
    if d.world > 1:
        dist.barrier()


def all_sum(d: Dist, t: torch.Tensor) -> torch.Tensor:
    if d.world > 1:
        t = t.clone()
        dist.all_reduce(t)
    return t


def gather(d: Dist, obj) -> list:
    """Every rank's ``obj``, in rank order (a list of one in a single process)."""
    if d.world == 1:
        return [obj]
    parts = [None] * d.world
    dist.all_gather_object(parts, obj)
    return parts
