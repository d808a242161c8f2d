"""heap: free C heap pages go back to the system, on glibc, and nowhere else."""

from __future__ import annotations

import platform

import pytest

from webhook_cert_operator import heap


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_free_memory_is_released_on_glibc() -> None:
    garbage = [bytearray(4096) for _ in range(2000)]
    del garbage
    assert heap.release_free_memory() is True


def test_releases_repeat_at_the_interval() -> None:
    releases: list[str] = []
    sleeps: list[float] = []

    def release() -> bool:
        releases.append("release")
        return len(releases) < 3  # the third one finds it cannot: the loop ends

    heap.release_periodically(30.0, release=release, sleep=sleeps.append)
    assert releases == ["release"] * 3
    assert sleeps == [30.0, 30.0]


def test_a_c_library_without_malloc_trim_stops_the_loop_at_once() -> None:
    sleeps: list[float] = []
    heap.release_periodically(30.0, release=lambda: False, sleep=sleeps.append)
    assert sleeps == []


def test_the_releasing_thread_does_not_keep_the_process_alive() -> None:
    thread = heap.start_releasing(3600.0)
    assert thread.daemon
    assert thread.name == "heap-release"
