"""Fixtures shared by the unit tests."""
import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module of tiny-tensor tests: on a shared 2-core machine, OpenMP
    spin-waiting makes small operations many times slower with two threads."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
