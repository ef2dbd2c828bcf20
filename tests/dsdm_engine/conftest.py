"""Engine test settings: one torch thread, as the engine itself uses by default.

With two intra-op threads, tiny models ran 10-27x slower whenever another process shared the
2-core machine (OpenMP threads spin-wait on the busy core); see `models.configure_threads`.
"""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
