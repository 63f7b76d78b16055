"""``perfectmatch.__all__`` is sorted and every name in it exists."""

import perfectmatch


def test_all_is_sorted_and_exported() -> None:
    assert perfectmatch.__all__ == sorted(perfectmatch.__all__)
    for name in perfectmatch.__all__:
        assert hasattr(perfectmatch, name), name
