"""The one seeded random source: faker plus every random choice, id and token.

Every consumer derives its own stream from the master seed and a namespace, so adding
randomness in one place never shifts the values drawn in another.
"""

from __future__ import annotations

import hashlib
import random
import threading
import uuid
from functools import lru_cache

from faker import Faker


def derive_seed(seed: int, *namespace: object) -> int:
    """A stable 63-bit seed for (seed, namespace...)."""
    text = ":".join(str(part) for part in (seed, *namespace))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") >> 1


FAKER_LOCK = threading.RLock()  # held while a seeding draws from the shared Faker


@lru_cache(maxsize=1)
def _shared_faker() -> Faker:
    # Building a Faker loads its providers (slow); one instance is reseeded per use.
    return Faker(["en_GB", "en_US", "de_DE"])


class SeededSource:
    """A deterministic stream of random values for one namespace."""

    def __init__(self, seed: int, *namespace: object) -> None:
        self.seed = derive_seed(seed, *namespace)
        self.rng = random.Random(self.seed)

    def faker(self) -> Faker:
        """The shared Faker, reseeded from this source (use it before drawing again)."""
        fake = _shared_faker()
        fake.seed_instance(self.rng.getrandbits(63))
        return fake

    def uuid(self) -> str:
        """A version-4-shaped UUID drawn from this source."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
