"""Sharding: deterministic, disjoint, covering, and validated."""
import pytest

from vm import shard

K = ["5.10", "6.1", "6.12", "6.18", "7"]
D = ["nvme-512", "nvme-4k", "virtio-512"]


def test_targets_kernel_major():
    assert shard.targets(["a", "b"], ["x", "y"]) == [("a", "x"), ("a", "y"), ("b", "x"), ("b", "y")]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 15, 20])
def test_shards_partition_the_matrix(n):
    all_t = shard.targets(K, D)
    parts = [shard.shard(all_t, i, n) for i in range(1, n + 1)]
    flat = [t for p in parts for t in p]
    assert sorted(flat) == sorted(all_t) and len(flat) == len(set(flat))


def test_shard_is_deterministic():
    t = shard.targets(K, D)
    assert shard.shard(t, 2, 4) == shard.shard(list(t), 2, 4) == [t[1], t[5], t[9], t[13]]


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "a/b", "3", "-1/2"])
def test_bad_shards_rejected(text):
    with pytest.raises(ValueError):
        shard.parse_shard(text)


def test_parse_shard():
    assert shard.parse_shard("2/5") == (2, 5) and shard.parse_shard(None) == (1, 1)
